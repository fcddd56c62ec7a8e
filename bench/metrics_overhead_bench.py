"""The Telegram webhook under load: updates/s and latency for /start and /balance.

    python bench/webhook_bench.py [--server DSN|embedded] [--seconds 20] [--rate 500] [--concurrency 64]
                                  [--metrics both|on|off] [--rounds 6]

A real ``bot.py`` (role all, webhook mode) on a scratch database; the fake Telegram Bot API in a
separate process (so its work does not share this event loop); this process POSTs updates as
Telegram does, one user per update so no user waits on another's lock or hits the message limit.
Two runs: as fast as ``--concurrency`` connections go (throughput), then open-loop at ``--rate``
updates/s (latency a user would see at that load): that is ``--metrics on`` or ``off``. With
``--metrics both`` (the default) two bots, metrics off and on, take the closed-loop load in turns
for ``--rounds`` rounds, and the cost of metrics is printed: throughput and the bot's CPU time per
update.
Each update is applied in full: its own transaction, the dedupe row, the user upsert, the starter
credits on /start, and the reply sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from statistics import median

import aiohttp

from bench.common import DEFAULT_SERVER, Bot, FakeServers, free_port, fresh_database, percentiles, server_dsn, table
from core.settings import Settings
from tests.fakes.telegram import message_update
from tests.helpers import SECRETS

_update_ids = itertools.count(1)
_users = itertools.count(1_000_000)  # one user per update, across every bot of the run


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_webhook")
    fakes = FakeServers.start()
    try:
        if args.metrics == "both":
            await compare_metrics(args, url, fakes)
        else:
            async with started_bot(args, url, fakes, "true" if args.metrics == "on" else "false") as (bot, post):
                await asyncio.gather(*(post("/start") for _ in range(200)))  # warm up: connections, caches
                for command in ("/start", "/balance"):
                    await closed_loop(post, command, args)
                    await open_loop(post, command, args, bot)
    finally:
        fakes.stop()


async def compare_metrics(args: argparse.Namespace, url: str, fakes: FakeServers) -> None:
    """Two bots on one database, metrics off and on, loaded in turns (ABBA, so a drift in the
    machine's speed or the tables' size favours neither). Throughput is what the issue asks about;
    the bot's CPU time per update is the steadier number on a machine shared with others."""
    results: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    async with (
        started_bot(args, url, fakes, "false") as (off_bot, off_post),
        started_bot(args, url, fakes, "true") as (on_bot, on_post),
    ):
        bots = {"off": (off_bot, off_post), "on": (on_bot, on_post)}
        for post in (off_post, on_post):
            await asyncio.gather(*(post("/start") for _ in range(200)))
        for round_ in range(args.rounds):
            for variant in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                bot, post = bots[variant]
                for command in ("/start", "/balance"):
                    cpu_before = cpu_seconds(bot)
                    rate, count = await closed_loop(post, command, args, quiet=True)
                    cpu_us = (cpu_seconds(bot) - cpu_before) / count * 1e6
                    results[variant].setdefault(command, []).append(rate)
                    results[variant].setdefault(f"{command} cpu", []).append(cpu_us)
                    print(f"  round {round_ + 1}, metrics {variant}, {command}: {rate:,.0f}/s, {cpu_us:,.0f} µs CPU")
    print()
    rows = []
    for command in ("/start", "/balance"):
        off, on = median(results["off"][command]), median(results["on"][command])
        cpu_off, cpu_on = median(results["off"][f"{command} cpu"]), median(results["on"][f"{command} cpu"])
        rows.append((f"{command} updates/s", f"off {off:,.0f}, on {on:,.0f}: throughput {on / off - 1:+.1%}"))
        rows.append((f"{command} bot CPU", f"off {cpu_off:,.0f} µs, on {cpu_on:,.0f} µs: {cpu_on / cpu_off - 1:+.1%}"))
    table(
        f"metrics off vs on: medians of {args.rounds} rounds of {args.seconds:g} s, /metrics scraped every second", rows
    )


def cpu_seconds(bot: Bot) -> float:
    """User plus system CPU time of the bot process so far."""
    assert bot.proc is not None
    fields = Path(f"/proc/{bot.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def started_bot(
    args: argparse.Namespace, url: str, fakes: FakeServers, metrics_enabled: str
) -> AsyncIterator[tuple[Bot, Callable[[str], Awaitable[float]]]]:
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "TELEGRAM_API_BASE": fakes.telegram,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "KIE_BASE_URL": "http://127.0.0.1:9",
        "DATABASE_POOL_SIZE": str(args.pool),
        "USER_MESSAGES_PER_MINUTE": "1000",
        "METRICS_ENABLED": metrics_enabled,
    }
    secret = Settings.from_env({**SECRETS, **env}).telegram_secret
    log = Path(tempfile.gettempdir()) / f"reelsmith-webhook-bench-{metrics_enabled}.log"
    bot = await Bot(env, log).start()
    webhook = f"http://127.0.0.1:{port}/telegram/webhook"
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(
            connector=connector, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        ) as http:

            async def post(command: str) -> float:
                body = message_update(next(_update_ids), next(_users), text=command)
                started = time.perf_counter()
                async with http.post(webhook, json=body) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"webhook answered {response.status}")
                return (time.perf_counter() - started) * 1000

            scraper = asyncio.create_task(scrape_every_second(f"http://127.0.0.1:{port}/metrics", metrics_enabled))
            try:
                yield bot, post
            finally:
                scraper.cancel()
    finally:
        print(f"  bot (metrics {metrics_enabled}) exit code {await bot.stop()}, peak RSS {bot.peak_rss:.0f} MB")


async def scrape_every_second(url: str, metrics_enabled: str) -> None:
    """What Prometheus does (every 15 s by default), more often: its cost is part of the price."""
    if metrics_enabled != "true":
        return
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(url) as response:
                await response.read()
            await asyncio.sleep(1)


async def closed_loop(post, command: str, args: argparse.Namespace, *, quiet: bool = False) -> tuple[float, int]:
    latencies: list[float] = []
    deadline = time.perf_counter() + args.seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            latencies.append(await post(command))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    if quiet:
        return len(latencies) / elapsed, len(latencies)
    p50, p95, p99 = percentiles(latencies)
    table(
        f"{command}: as fast as {args.concurrency} connections go",
        [
            ("updates/s", f"{len(latencies) / elapsed:,.0f} ({len(latencies):,} in {elapsed:.1f} s)"),
            ("latency", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"),
        ],
    )
    return len(latencies) / elapsed, len(latencies)


async def open_loop(post, command: str, args: argparse.Namespace, bot: Bot) -> None:
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
    p50, p95, p99 = percentiles(latencies)
    table(
        f"{command}: open loop at {args.rate} updates/s offered",
        [
            ("updates/s", f"{len(latencies) / elapsed:,.0f} ({len(latencies):,} in {elapsed:.1f} s)"),
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
    parser.add_argument(
        "--metrics",
        choices=["both", "on", "off"],
        default="both",
        help="both: bots with METRICS_ENABLED false and true in turns (closed loop only), and the cost",
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds of (off, on) with --metrics both")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
