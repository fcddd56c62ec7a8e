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
import itertools
import os
import sys
import tempfile
import time
from asyncio.subprocess import DEVNULL
from pathlib import Path

import aiohttp

from bench.common import (
    DEFAULT_SERVER,
    REPO,
    Bot,
    FakeServers,
    free_port,
    fresh_database,
    percentiles,
    server_dsn,
    table,
)
from core.settings import Settings
from tests.fakes.telegram import message_update
from tests.helpers import SECRETS


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


async def run_one(args: argparse.Namespace, repo: Path) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_webhook")
    fakes = FakeServers.start()
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "TELEGRAM_API_BASE": fakes.telegram,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "KIE_BASE_URL": "http://127.0.0.1:9",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "DATABASE_POOL_SIZE": str(args.pool),
        "USER_MESSAGES_PER_MINUTE": "1000",
    }
    secret = Settings.from_env({**SECRETS, **env}).telegram_secret
    bot = await Bot(env, Path(tempfile.gettempdir()) / "reelsmith-webhook-bench.log", repo=repo).start()
    webhook = f"http://127.0.0.1:{port}/telegram/webhook"
    ids = itertools.count(1)
    users = itertools.count(1_000_000)
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(
            connector=connector, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        ) as http:

            async def post(command: str) -> float:
                body = message_update(next(ids), next(users), text=command)
                started = time.perf_counter()
                async with http.post(webhook, json=body) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"webhook answered {response.status}")
                return (time.perf_counter() - started) * 1000

            async def replies() -> int:
                """Messages the fake Telegram has received: replies go out after the webhook answered."""
                async with http.get(f"{fakes.telegram}/_calls") as response:
                    return (await response.json()).get("sendMessage", 0)

            async def all_replied(expected: int, started: float) -> float:
                """Seconds from ``started`` until the fake received ``expected`` messages."""
                while await replies() < expected:
                    await asyncio.sleep(0.01)
                return time.perf_counter() - started

            await asyncio.gather(*(post("/start") for _ in range(200)))  # warm up: connections, caches
            for command in ("/start", "/balance"):
                await closed_loop(post, command, args, bot, all_replied, await replies())
                await open_loop(post, command, args, bot, all_replied, await replies())
    finally:
        print(f"  bot exit code {await bot.stop()}, peak RSS {bot.peak_rss:.0f} MB")
        fakes.stop()


async def closed_loop(post, command: str, args: argparse.Namespace, bot: Bot, all_replied, replies_before: int) -> None:
    latencies: list[float] = []
    cpu_before = bot.cpu_seconds()
    deadline = time.perf_counter() + args.seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            latencies.append(await post(command))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    replied = await all_replied(replies_before + len(latencies), started)
    cpu_ms = (bot.cpu_seconds() - cpu_before) * 1000 / len(latencies)
    p50, p95, p99 = percentiles(latencies)
    table(
        f"{command}: as fast as {args.concurrency} connections go",
        [
            ("updates/s", f"{len(latencies) / elapsed:,.0f} ({len(latencies):,} in {elapsed:.1f} s)"),
            ("bot CPU", f"{cpu_ms:.2f} ms per update, reply included (at most {1000 / cpu_ms:,.0f}/s on one core)"),
            ("replied/s", f"{len(latencies) / replied:,.0f} (every reply received by Telegram in {replied:.1f} s)"),
            ("latency", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"),
        ],
    )


async def open_loop(post, command: str, args: argparse.Namespace, bot: Bot, all_replied, replies_before: int) -> None:
    latencies: list[float] = []
    tasks: list[asyncio.Task] = []
    interval = 1.0 / args.rate
    started = time.perf_counter()
    total = int(args.rate * args.seconds)
    for n in range(total):
        await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
        tasks.append(asyncio.create_task(_timed(post, command, latencies)))
        if n % args.rate == 0:
            bot.sample_rss()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    replied = await all_replied(replies_before + len(latencies), started)
    p50, p95, p99 = percentiles(latencies)
    table(
        f"{command}: open loop at {args.rate} updates/s offered",
        [
            ("updates/s", f"{len(latencies) / elapsed:,.0f} ({len(latencies):,} in {elapsed:.1f} s)"),
            ("replied/s", f"{len(latencies) / replied:,.0f} (every reply received by Telegram in {replied:.1f} s)"),
            ("latency", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"),
            ("bot RSS", f"{bot.sample_rss():.0f} MB"),
        ],
    )


async def _timed(post, command: str, latencies: list[float]) -> None:
    latencies.append(await post(command))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pool", type=int, default=20, help="DATABASE_POOL_SIZE of the bot")
    parser.add_argument("--before", help="another checkout whose bot.py runs first, for a comparison")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
