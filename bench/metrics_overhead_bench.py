"""What metrics cost the webhook: throughput and the bot's CPU time per update, metrics off and on.

    python -m bench.metrics_overhead_bench [--server DSN|embedded] [--seconds 8] [--rounds 6]

Two bots (``webhook_bench``'s, unchanged) on one scratch database, ``METRICS_ENABLED=false`` and
``true``, take the closed-loop load in turns, ABBA (so a drift in the machine's speed or the tables'
size favours neither), for ``--rounds`` rounds; while on, ``/metrics`` is scraped every second
(Prometheus's default is 15 s). Prints each round and the medians. For one bot's full table with
metrics on or off, run ``webhook_bench`` with METRICS_ENABLED in the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from statistics import median

import aiohttp

from bench.common import FakeServers, fresh_database, server_dsn, table
from bench.webhook_bench import arguments, closed_loop, started_bot


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_webhook")
    fakes = FakeServers.start()
    results: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    try:
        async with (
            started_bot(args, url, fakes.telegram, env={"METRICS_ENABLED": "false"}) as off,
            started_bot(args, url, fakes.telegram, env={"METRICS_ENABLED": "true"}) as on,
        ):
            targets = {"off": off, "on": on}
            scraper = asyncio.create_task(scrape_every_second(f"http://127.0.0.1:{on.port}/metrics"))
            for target in (off, on):
                await asyncio.gather(*(target.post("/start") for _ in range(200)))  # warm up
            for round_ in range(args.rounds):
                for variant in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                    for command in ("/start", "/balance"):
                        phase = await closed_loop(targets[variant], command, args, quiet=True)
                        results[variant].setdefault(command, []).append(phase.rate)
                        results[variant].setdefault(f"{command} cpu", []).append(phase.cpu_ms * 1000)
                        print(
                            f"  round {round_ + 1}, metrics {variant}, {command}: {phase.rate:,.0f}/s,"
                            f" {phase.cpu_ms * 1000:,.0f} µs CPU"
                        )
            scraper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scraper
    finally:
        fakes.stop()
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


async def scrape_every_second(url: str) -> None:
    """What Prometheus does (every 15 s by default), more often: its cost is part of the price."""
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(url) as response:
                await response.read()
            await asyncio.sleep(1)


def main() -> None:
    parser = arguments(__doc__)
    parser.set_defaults(seconds=8)
    parser.add_argument("--rounds", type=int, default=6, help="rounds of (off, on)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
