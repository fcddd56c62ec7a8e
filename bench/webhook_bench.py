"""The Telegram webhook under load: updates/s and latency for /start and /balance.

    python bench/webhook_bench.py [--server DSN|embedded] [--seconds 20] [--rate 500] [--concurrency 64]
                                  [--before PATH]

A real ``bot.py`` (role all, webhook mode) on a scratch database; the fake Telegram Bot API in a
separate process (so its work does not share this event loop); this process POSTs updates as
Telegram does, one user per update so no user waits on another's lock or hits the message limit.
Two runs: as fast as ``--concurrency`` connections go (throughput), then open-loop at ``--rate``
updates/s (latency a user would see at that load). Each update is applied in full: its own
transaction, the dedupe row, the user upsert, the starter credits on /start, and the reply sent.

``--before PATH`` runs everything twice in one go, first with the bot.py of another checkout (e.g.
a worktree of an older commit), then with this one, and first times ``python bot.py`` up to the
settings error it reports (no BOT_TOKEN) for both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sys
import tempfile
import time
from asyncio.subprocess import DEVNULL
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    DEFAULT_SERVER,
    REPO,
    SECRETS,
    Bot,
    FakeServers,
    free_port,
    fresh_database,
    percentiles,
    server_dsn,
    table,
)
from tests.fakes.telegram import message_update


async def run(args: argparse.Namespace) -> None:
    checkouts = [("before", Path(args.before).resolve()), ("after", REPO)] if args.before else [("", REPO)]
    if args.before:
        for name, repo in checkouts:
            await settings_error_time(name, repo)
    for name, repo in checkouts:
        if name:
            print(f"== {name}: {repo}\n")
        await run_one(args, repo)


async def settings_error_time(name: str, repo: Path, runs: int = 5) -> None:
    """How long ``python bot.py`` takes to say a setting is wrong."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS} | {"LOG_FORMAT": "json"}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(repo / "bot.py"), env=env, cwd=tempfile.gettempdir(), stdout=DEVNULL, stderr=DEVNULL
        )
        code = await proc.wait()
        times.append(time.perf_counter() - started)
    times.sort()
    table(
        f"{name}: python bot.py to a settings error (exit {code}), {runs} runs",
        [("seconds", f"median {times[runs // 2]:.2f}, min {times[0]:.2f}, max {times[-1]:.2f}")],
    )


@dataclass
class Target:
    """A running bot and how to load it: ``send`` posts one update as Telegram does and returns its
    latency in ms; ``post`` sends a command from a new user each time; ``replies`` counts the
    messages the fake Telegram has received."""

    bot: Bot
    send: Callable[[dict[str, Any]], Awaitable[float]]
    replies: Callable[[], Awaitable[int]]
    port: int
    webhook: str
    secret: str

    async def post(self, command: str) -> float:
        return await self.send(message_update(next(_update_ids), next(_users), text=command))

    async def all_replied(self, expected: int, started: float) -> float:
        """Seconds from ``started`` until the fake received ``expected`` messages."""
        while await self.replies() < expected:
            await asyncio.sleep(0.01)
        return time.perf_counter() - started


_update_ids = itertools.count(1)
_users = itertools.count(1_000_000)  # one user per update, across every bot of the run


@contextlib.asynccontextmanager
async def started_bot(
    args: argparse.Namespace, url: str, telegram: str, *, repo: Path = REPO, env: dict[str, str] | None = None
) -> AsyncIterator[Target]:
    """``bot.py`` of ``repo`` in webhook mode on ``url``, talking to the fake Telegram at ``telegram``,
    with ``env`` on top of the bench's settings."""
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "TELEGRAM_API_BASE": telegram,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "KIE_BASE_URL": "http://127.0.0.1:9",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "DATABASE_POOL_SIZE": str(args.pool),
        "USER_MESSAGES_PER_MINUTE": "1000",
        **(env or {}),
    }
    secret = SECRETS["WEBHOOK_SECRET"]
    log = Path(tempfile.gettempdir()) / f"reelsmith-webhook-bench-{port}.log"
    bot = await Bot(env, log, repo=repo).start()
    webhook = f"http://127.0.0.1:{port}/telegram/webhook"
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(
            connector=connector, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        ) as http:

            async def send(update: dict[str, Any]) -> float:
                started = time.perf_counter()
                async with http.post(webhook, json=update) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"webhook answered {response.status}")
                return (time.perf_counter() - started) * 1000

            async def replies() -> int:
                """Messages the fake Telegram has received: replies go out after the webhook answered."""
                async with http.get(f"{telegram}/_calls") as response:
                    return (await response.json()).get("sendMessage", 0)

            yield Target(bot, send, replies, port, webhook, secret)
    finally:
        bot.sample_rss()
        print(f"  bot exit code {await bot.stop()}, peak RSS {bot.peak_rss:.0f} MB")


async def run_one(args: argparse.Namespace, repo: Path) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_webhook", migrated=False)
    fakes = FakeServers.start()
    try:
        async with started_bot(args, url, fakes.telegram, repo=repo) as target:
            await asyncio.gather(*(target.post("/start") for _ in range(200)))  # warm up: connections, caches
            for command in ("/start", "/balance"):
                await closed_loop(target, command, args)
                await open_loop(target, command, args)
    finally:
        fakes.stop()


async def closed_loop(target: Target, command: str, args: argparse.Namespace, *, quiet: bool = False) -> Phase:
    """As fast as ``args.concurrency`` connections go, for ``args.seconds``; waits for every reply."""
    latencies: list[float] = []
    replies_before = await target.replies()
    cpu_before = target.bot.cpu_seconds()
    deadline = time.perf_counter() + args.seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            latencies.append(await target.post(command))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    replied = await target.all_replied(replies_before + len(latencies), started)
    phase = Phase(len(latencies), elapsed, replied, (target.bot.cpu_seconds() - cpu_before) * 1000 / len(latencies))
    if quiet:
        return phase
    p50, p95, p99 = percentiles(latencies)
    table(
        f"{command}: as fast as {args.concurrency} connections go",
        [
            ("updates/s", f"{phase.rate:,.0f} ({phase.count:,} in {elapsed:.1f} s)"),
            (
                "bot CPU",
                f"{phase.cpu_ms:.2f} ms per update, reply included (at most {1000 / phase.cpu_ms:,.0f}/s on one core)",
            ),
            ("replied/s", f"{phase.count / replied:,.0f} (every reply received by Telegram in {replied:.1f} s)"),
            ("latency", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"),
        ],
    )
    return phase


@dataclass(frozen=True)
class Phase:
    count: int
    elapsed: float
    replied: float  # seconds until the last reply reached the fake Telegram
    cpu_ms: float  # the bot's CPU time per update

    @property
    def rate(self) -> float:
        return self.count / self.elapsed


async def open_loop(target: Target, command: str, args: argparse.Namespace) -> None:
    """``args.rate`` updates/s offered for ``args.seconds``, whatever the answers take."""
    latencies: list[float] = []
    tasks: list[asyncio.Task] = []
    replies_before = await target.replies()
    interval = 1.0 / args.rate
    started = time.perf_counter()
    total = int(args.rate * args.seconds)
    for n in range(total):
        await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
        tasks.append(asyncio.create_task(_timed(target.post, command, latencies)))
        if n % args.rate == 0:
            target.bot.sample_rss()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    replied = await target.all_replied(replies_before + len(latencies), started)
    p50, p95, p99 = percentiles(latencies)
    table(
        f"{command}: open loop at {args.rate} updates/s offered",
        [
            ("updates/s", f"{len(latencies) / elapsed:,.0f} ({len(latencies):,} in {elapsed:.1f} s)"),
            ("replied/s", f"{len(latencies) / replied:,.0f} (every reply received by Telegram in {replied:.1f} s)"),
            ("latency", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"),
            ("bot RSS", f"{target.bot.sample_rss():.0f} MB"),
        ],
    )


async def _timed(post, command: str, latencies: list[float]) -> None:
    latencies.append(await post(command))


def arguments(description: str | None) -> argparse.ArgumentParser:
    """The load's arguments, shared with metrics_overhead_bench."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pool", type=int, default=20, help="DATABASE_POOL_SIZE of the bot")
    return parser


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--before", help="another checkout whose bot.py runs first, for a comparison")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
