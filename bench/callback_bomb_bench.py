"""/start latency through the webhook while gzip bombs hit the KIE callback route.

    python -m bench.callback_bomb_bench [--server DSN|embedded] [--seconds 10] [--rate 30] [--bombs 5] [--rounds 3]

A real ``bot.py`` (role all, webhook mode) on a scratch database, the fake Telegram in its own
process. /start offered open-loop at ``--rate`` updates/s from new users, in ``--rounds`` pairs of
phases of ``--seconds`` each (alternated, so a machine whose speed drifts weighs on both alike):
idle, then with ``--bombs`` posts a second to ``/kie/callback/<random token>``, each a 1 KB
gzip body (``Content-Encoding: gzip``) that inflates to 1 MB of JSON full of ``\\u0000`` escapes.
The callback route refuses an encoded body (415) and an unknown token (404) before reading a byte
(core/web/callbacks.py), so the goal (issue 15) is a /start p99 at most 2x the idle one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import secrets
import time
from collections import Counter

import aiohttp

from bench.common import FakeServers, fresh_database, percentiles, server_dsn, table
from bench.webhook_bench import Target, arguments, started_bot

INFLATED_BYTES = 1024 * 1024


def bomb() -> bytes:
    """About 1 KB of gzip that inflates to 1 MB of JSON: one string of NUL escapes."""
    escapes = "\\u0000" * ((INFLATED_BYTES - 12) // 6)
    return gzip.compress(f'{{"data": "{escapes}"}}'.encode(), compresslevel=9)


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_bomb", migrated=False)
    fakes = FakeServers.start()
    body = bomb()
    print(f"  bomb: {len(body):,} bytes of gzip, {INFLATED_BYTES:,} bytes inflated\n")
    try:
        async with started_bot(args, url, fakes.telegram) as target:
            await asyncio.gather(*(target.post("/start") for _ in range(200)))  # warm up: connections, caches
            idle: list[float] = []
            bombed: list[float] = []
            statuses: Counter[int] = Counter()
            async with aiohttp.ClientSession() as http:
                for _ in range(args.rounds):
                    idle += await phase(target, args)
                    # --bombs 0: an A/A run, the noise floor of the machine the numbers were taken on
                    bomber = asyncio.create_task(bombard(http, target.port, body, args.bombs, statuses))
                    try:
                        bombed += await phase(target, args)
                    finally:
                        bomber.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await bomber
    finally:
        fakes.stop()
    rows = [(name, _row(latencies)) for name, latencies in (("idle", idle), (f"{args.bombs} bombs/s", bombed))]
    ratio = percentiles(bombed)[2] / percentiles(idle)[2]
    rows.append(("p99 bombed / idle", f"{ratio:.2f}x (goal: at most 2x) {'✅' if ratio <= 2 else '❌'}"))
    rows.append(("bomb answers", ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))))
    table(f"/start at {args.rate}/s, {args.rounds} x {args.seconds:g} s per kind of phase", rows)


async def phase(target: Target, args: argparse.Namespace) -> list[float]:
    """/start offered at ``args.rate``/s for ``args.seconds``; each update's latency in ms."""
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for n in range(int(args.rate * args.seconds)):
        await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
        tasks.append(asyncio.create_task(_timed(target, latencies)))
    await asyncio.gather(*tasks)
    return latencies


async def _timed(target: Target, latencies: list[float]) -> None:
    latencies.append(await target.post("/start"))


async def bombard(http: aiohttp.ClientSession, port: int, body: bytes, per_s: int, statuses: Counter[int]) -> None:
    """``per_s`` bombs a second, each to a fresh random token, until cancelled."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    sent: list[asyncio.Task[None]] = []

    async def one() -> None:
        url = f"http://127.0.0.1:{port}/kie/callback/{secrets.token_urlsafe(24)}"
        async with http.post(url, data=body, headers=headers) as response:
            await response.read()
            statuses[response.status] += 1

    started = time.perf_counter()
    try:
        for n in range(10**9 if per_s else 0):
            await asyncio.sleep(max(0.0, started + n / per_s - time.perf_counter()))
            sent.append(asyncio.create_task(one()))
        await asyncio.Event().wait()  # no bombs: wait to be cancelled
    finally:
        await asyncio.gather(*sent, return_exceptions=True)


def _row(latencies: list[float]) -> str:
    p50, p95, p99 = percentiles(latencies)
    return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms ({len(latencies):,} updates)"


def main() -> None:
    parser = arguments(__doc__)
    parser.set_defaults(rate=30, seconds=10)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of phases (idle, bombed)")
    parser.add_argument("--bombs", type=int, default=5, help="gzip bombs posted per second in the second phase")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
