"""The Mini App's API under load: p99 of /me, /videos and /catalogue at 100 requests/s while the
webhook takes 300 updates/s (/balance from new users), on one ``bot.py``.

    python bench/miniapp_api_bench.py [--server DSN|embedded] [--seconds 20] [--api-rate 100]
                                      [--webhook-rate 300] [--users 200]

A real ``bot.py`` (role all, webhook mode, as webhook_bench starts it) on a scratch database and the
fake Telegram in another process. ``--users`` Mini App users, each with 25 delivered videos (so
/videos reads a full page of 20 and says there is a next one), sign their init data as Telegram
does; the API load turns over them (each stays well inside its read budget). Both loads are open
loop: requests go out at their rate whatever the answers take, so a slow answer shows as latency.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aiohttp
import asyncpg

from bench.common import FakeServers, fresh_database, percentiles, server_dsn, table
from bench.webhook_bench import Target, arguments, started_bot
from tests.helpers import SECRETS
from tests.miniapp import tma

ENDPOINTS = ("/me", "/videos", "/catalogue")
VIDEOS_EACH = 25
FIRST_USER = 5_000_000


async def seed(url: str, users: int) -> None:
    """The users and their delivered videos, straight into the database (the bot has migrated it)."""
    conn = await asyncpg.connect(url)
    try:
        ids = list(range(FIRST_USER, FIRST_USER + users))
        await conn.execute(
            "INSERT INTO users (id, first_name, language) SELECT id, 'Bench', 'en' FROM unnest($1::bigint[]) AS id",
            ids,
        )
        await conn.execute(
            """
            INSERT INTO generations (user_id, chat_id, model, price, idea, callback_token, provider, status,
                                     confirmed_at, finished_at, video_file_id)
            SELECT u, u, 'veo3_fast', 60, 'a cat surfing at dawn #' || n, md5(u::text || ':' || n), 'kie', 'done',
                   now() - interval '1 hour', now() - make_interval(mins => n), 'file-' || u || '-' || n
            FROM unnest($1::bigint[]) AS u, generate_series(1, $2::int) AS n
            """,
            ids,
            VIDEOS_EACH,
        )
    finally:
        await conn.close()


async def api_load(base: str, users: int, rate: int, seconds: float) -> dict[str, list[float]]:
    """``rate`` requests/s for ``seconds``, the endpoints in turn, each from the next user."""
    headers = [tma(SECRETS["BOT_TOKEN"], FIRST_USER + n) for n in range(users)]
    latencies: dict[str, list[float]] = {path: [] for path in ENDPOINTS}
    failures: list[int] = []
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(path: str, header: dict[str, str]) -> None:
            started = time.perf_counter()
            async with http.get(base + path, headers=header) as response:
                await response.read()
                if response.status != 200:
                    failures.append(response.status)
            latencies[path].append((time.perf_counter() - started) * 1000)

        for n in range(users):  # warm up: every user's first request, connections
            await one(ENDPOINTS[n % 3], headers[n])
        for values in latencies.values():
            values.clear()
        tasks = []
        turns = zip(itertools.cycle(ENDPOINTS), itertools.cycle(headers), strict=False)
        started, total = time.perf_counter(), int(rate * seconds)
        for n, (path, header) in zip(range(total), turns, strict=False):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(path, header)))
        await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{len(failures)} API requests failed: {sorted(set(failures))}")
    return latencies


async def webhook_load(target: Target, rate: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    tasks = []
    started, total = time.perf_counter(), int(rate * seconds)

    async def one() -> None:
        latencies.append(await target.post("/balance"))

    for n in range(total):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies


def line(values: list[float], seconds: float) -> str:
    p50, p95, p99 = percentiles(values)
    return f"{len(values) / seconds:,.0f}/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"


async def run(args: Any) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_miniapp", migrated=True)
    await seed(url, args.users)
    fakes = FakeServers.start()
    try:
        async with started_bot(args, url, fakes.telegram) as target:
            base = f"http://127.0.0.1:{target.port}/app/api"
            await asyncio.gather(*(target.post("/start") for _ in range(200)))  # warm up the webhook
            cpu_before = target.bot.cpu_seconds()
            api_alone = await api_load(base, args.users, args.api_rate, args.seconds / 2)
            alone_count = sum(len(values) for values in api_alone.values()) + args.users  # and the warm-up
            cpu_ms = (target.bot.cpu_seconds() - cpu_before) * 1000 / alone_count
            webhook, api = await asyncio.gather(
                webhook_load(target, args.webhook_rate, args.seconds),
                api_load(base, args.users, args.api_rate, args.seconds),
            )
        everything = [v for values in api.values() for v in values]
        rows = [("API alone, all", line([v for vs in api_alone.values() for v in vs], args.seconds / 2))]
        rows += [("  bot CPU per API request", f"{cpu_ms:.2f} ms (at most {1000 / cpu_ms:,.0f}/s on one core)")]
        rows += [("API under webhook load, all", line(everything, args.seconds))]
        rows += [(f"  {path}", line(values, args.seconds)) for path, values in api.items()]
        rows += [("webhook /balance meanwhile", line(webhook, args.seconds))]
        table(
            f"Mini App API at {args.api_rate} requests/s, webhook at {args.webhook_rate} updates/s, "
            f"{args.users} users with {VIDEOS_EACH} videos each",
            rows,
        )
    finally:
        fakes.stop()


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--api-rate", type=int, default=100)
    parser.add_argument("--webhook-rate", type=int, default=300)
    parser.add_argument("--users", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
