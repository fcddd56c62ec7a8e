"""500 generations at once, against a fake KIE that takes 60 s per render.

    python bench/pipeline_bench.py [--server DSN|embedded] [--users 500] [--render 60] [--creates-per-10s 20]

A real ``bot.py`` (role all, webhook mode, default consumer count) on a scratch database; the fake
Telegram, KIE and OpenAI servers in one separate process. This process plays 500 users who each
send /start, an idea and a confirmation at the same moment, then watches the database until every
generation is delivered (or failed), sampling the bot's RSS. KIE calls the bot back when a render
finishes; the bot confirms it through the record endpoint, downloads the video (256 KB) and sends
it to the fake Telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from bench.common import DEFAULT_SERVER, Bot, FakeServers, free_port, fresh_database, percentiles, server_dsn, table
from core.settings import Settings
from tests.fakes.telegram import callback_update, message_update
from tests.helpers import SECRETS


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_pipeline")
    fakes = FakeServers.start(render_seconds=args.render)
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_API_BASE": fakes.telegram,
        "KIE_BASE_URL": fakes.kie,
        "KIE_UPLOAD_BASE_URL": fakes.kie_upload,
        "OPENAI_BASE_URL": fakes.openai,
        "KIE_CREATES_PER_10S": str(args.creates_per_10s),
        "GENERATION_TIMEOUT": "20m",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
    }
    settings = Settings.from_env({**SECRETS, **env})
    bot = await Bot(env, Path(tempfile.gettempdir()) / "reelsmith-pipeline-bench.log").start()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        started = time.perf_counter()
        await send_everyone(args.users, f"http://127.0.0.1:{port}/telegram/webhook", settings.telegram_secret, pool)
        confirmed_s = time.perf_counter() - started
        counts = await watch(pool, bot, args.users, started)
        rows = await pool.fetch(
            """SELECT extract(epoch FROM finished_at - confirmed_at)::float8 AS total_s,
                      extract(epoch FROM rendering_at - confirmed_at)::float8 AS to_kie_s
               FROM generations WHERE status = 'done'"""
        )
        span = await pool.fetchval(
            "SELECT extract(epoch FROM max(finished_at) - min(confirmed_at))::float8 FROM generations"
            " WHERE confirmed_at IS NOT NULL"
        )
    finally:
        exit_code = await bot.stop()
        await pool.close()
        fakes.stop()
    total = [r["total_s"] for r in rows]
    to_kie = [r["to_kie_s"] for r in rows]
    p50, p95, _ = percentiles(total or [0.0])
    k50, k95, _ = percentiles(to_kie or [0.0])
    table(
        f"{args.users} generations at once, {args.render:g} s renders, KIE creates ≤ {args.creates_per_10s} per 10 s",
        [
            ("confirmed (all users)", f"{confirmed_s:.1f} s after the first /start"),
            ("delivered / failed", f"{counts.get('done', 0)} / {counts.get('failed', 0)}"),
            ("all finished within", f"{span or 0:.1f} s from the first confirmation"),
            ("confirm → video", f"p50 {p50:.1f} s, p95 {p95:.1f} s, max {max(total or [0.0]):.1f} s"),
            ("confirm → accepted by KIE", f"p50 {k50:.1f} s, p95 {k95:.1f} s, max {max(to_kie or [0.0]):.1f} s"),
            ("bot peak RSS", f"{bot.peak_rss:.0f} MB"),
            ("bot exit code", exit_code),
        ],
    )


async def send_everyone(users: int, webhook: str, secret: str, pool: asyncpg.Pool) -> None:
    """Every user: /start, an idea, then a tap on "make it", all users at the same time."""
    ids = iter(range(1, 10 * users + 1))
    connector = aiohttp.TCPConnector(limit=64)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def post(update: dict) -> None:
            async with http.post(webhook, json=update) as response:
                if response.status != 200:
                    raise RuntimeError(f"webhook answered {response.status}")

        async def user(user_id: int) -> None:
            await post(message_update(next(ids), user_id, text="/start"))
            await post(message_update(next(ids), user_id, text=f"a paper lantern drifting over a lake, take {user_id}"))
            draft = await pool.fetchrow(
                "SELECT id, status_message_id FROM generations WHERE user_id = $1 AND status = 'draft'", user_id
            )
            await post(callback_update(next(ids), user_id, f"go:{draft['id']}", message_id=draft["status_message_id"]))

        await asyncio.gather(*(user(100_000 + n) for n in range(users)))


async def watch(pool: asyncpg.Pool, bot: Bot, users: int, started: float) -> dict[str, int]:
    last_report = 0.0
    while True:
        bot.sample_rss()
        counts = {
            r["status"]: r["n"] for r in await pool.fetch("SELECT status, count(*) AS n FROM generations GROUP BY 1")
        }
        finished = counts.get("done", 0) + counts.get("failed", 0)
        elapsed = time.perf_counter() - started
        if elapsed - last_report >= 10:
            last_report = elapsed
            print(f"  {elapsed:6.0f} s  {counts}  RSS {bot.sample_rss():.0f} MB", flush=True)
        if finished >= users:
            return counts
        await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--render", type=float, default=60.0)
    parser.add_argument("--creates-per-10s", type=int, default=20, help="KIE_CREATES_PER_10S of the bot")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
