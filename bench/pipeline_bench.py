"""Many generations at once against a fake KIE that takes 60 s per render, optionally through a KIE outage.

    python -m bench.pipeline_bench [--server DSN|embedded] [--users 500] [--render 60] [--creates-per-10s 20]
    python -m bench.pipeline_bench --users 200 --outage all [--outage-seconds 120] [--outage-after 40]
    python -m bench.pipeline_bench --users 1000
    python -m bench.pipeline_bench --users 200 --render 20 --lose-answers 0.2

With ``--lose-answers SHARE`` the fake KIE makes the task and then drops the connection for that share of
creates: each such generation must be adopted from its callback, so KIE's task count stays the user count.

A real ``bot.py`` (role all, webhook mode, default consumer count, ``GENERATION_TIMEOUT`` at its default)
on a scratch database; the fake Telegram, KIE and OpenAI servers in one separate process. This process
plays users who each send /start, an idea and a confirmation at the same moment, then watches the
database until every generation is delivered (or failed), sampling the bot's RSS. KIE calls the bot
back when a render finishes; the bot confirms it through the record endpoint, downloads the video
(256 KB) and sends it to the fake Telegram. With KIE's real create limit (20 per 10 s, the default)
the fake enforces it, so a breach would show as creates refused with 429.

With ``--outage MODE`` (http5xx, envelope, hang, or all of them in turn, one fresh run each): half the
users confirm, ``--outage-after`` seconds later every KIE API call fails as MODE says, the other half
confirm during the outage, and KIE recovers ``--outage-seconds`` after it began. ``KIE_TIMEOUT`` is
``--kie-timeout`` (5 s), so a hung request costs that long. One admin (``ADMIN_IDS``) should be told
once that KIE is down and once that it is back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    DEFAULT_SERVER,
    SECRETS,
    Bot,
    FakeServers,
    free_port,
    fresh_database,
    percentiles,
    server_dsn,
    table,
)
from core.settings import Settings
from tests.fakes.kie import CREATE_LIMIT, CREATE_WINDOW, OUTAGE_MODES
from tests.fakes.telegram import callback_update, message_update

ADMIN_ID = 4242
FIRST_USER = 100_000


@dataclass
class Stage:
    """A running bot, its fakes and a pool on its database."""

    url: str
    port: int
    settings: Settings
    fakes: FakeServers
    bot: Bot
    pool: asyncpg.Pool

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/webhook"

    async def close(self) -> int:
        exit_code = await self.bot.stop()
        await self.pool.close()
        self.fakes.stop()
        return exit_code


async def stage(args: argparse.Namespace, *, kie_timeout: float | None = None) -> Stage:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_pipeline")
    enforce = args.creates_per_10s <= CREATE_LIMIT  # KIE's real limit: the fake refuses what goes over it
    fakes = FakeServers.start(render_seconds=args.render, enforce_create_limit=enforce, admin_ids=(ADMIN_ID,))
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
        "ADMIN_IDS": str(ADMIN_ID),
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
    }
    if kie_timeout is not None:
        env["KIE_TIMEOUT"] = f"{kie_timeout:g}s"
    settings = Settings.from_env({**SECRETS, **env})
    bot = await Bot(env, Path(tempfile.gettempdir()) / "reelsmith-pipeline-bench.log").start()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    return Stage(url, port, settings, fakes, bot, pool)


async def run(args: argparse.Namespace) -> None:
    if args.outage == "none":
        await burst(args)
    else:
        for mode in OUTAGE_MODES if args.outage == "all" else (args.outage,):
            await outage(args, mode)


async def burst(args: argparse.Namespace) -> None:
    """Every user at once; the total time against the floor the create limit and the render time set."""
    st = await stage(args)
    if args.lose_answers:
        st.fakes.command("lose_answers", args.lose_answers)
    try:
        started = time.perf_counter()
        await send_everyone(range(FIRST_USER, FIRST_USER + args.users), st)
        confirmed_s = time.perf_counter() - started
        counts = await watch(st, args.users, started)
        facts = await outcome(st.pool)
        stats = st.fakes.command("stats")
    finally:
        exit_code = await st.close()
    floor_s = args.users / (args.creates_per_10s / CREATE_WINDOW) + args.render
    span = facts["span"]
    lost = f", {args.lose_answers:.0%} of create answers lost" if args.lose_answers else ""
    table(
        f"{args.users} generations at once, {args.render:g} s renders, KIE creates ≤ {args.creates_per_10s} per 10 s"
        + lost,
        [
            ("confirmed (all users)", f"{confirmed_s:.1f} s after the first /start"),
            *common_rows(counts, facts, stats),
            ("all finished within", f"{span:.1f} s from the first confirmation"),
            ("create answers lost / possible duplicates", f"{stats['answers_lost']} / {facts['possible_duplicates']}"),
            (
                "physical floor",
                f"{floor_s:.1f} s ({args.users} / {args.creates_per_10s / CREATE_WINDOW:g} per s + {args.render:g} s)"
                f": ratio {span / floor_s:.3f}",
            ),
            *latency_rows(facts),
            ("bot peak RSS", f"{st.bot.peak_rss:.0f} MB"),
            ("bot exit code", exit_code),
        ],
    )


async def outage(args: argparse.Namespace, mode: str) -> None:
    """Half the users before a KIE outage, half during it; everything delivered after the recovery."""
    st = await stage(args, kie_timeout=args.kie_timeout)
    half = args.users // 2
    try:
        started = time.perf_counter()
        await send_everyone(range(FIRST_USER, FIRST_USER + half), st)
        await asyncio.sleep(max(0.0, args.outage_after - (time.perf_counter() - started)))
        down_at = st.fakes.command("outage", mode)
        print(f"  {time.perf_counter() - started:6.0f} s  KIE outage ({mode}) begins", flush=True)
        during = asyncio.create_task(send_everyone(range(FIRST_USER + half, FIRST_USER + args.users), st))
        watching = asyncio.create_task(watch(st, args.users, started))
        await asyncio.sleep(args.outage_seconds)
        up_at = st.fakes.command("recover")
        print(f"  {time.perf_counter() - started:6.0f} s  KIE recovers", flush=True)
        await during
        counts = await watching
        facts = await outcome(st.pool)
        stats = st.fakes.command("stats")
        during_n = await st.pool.fetchval(
            "SELECT count(*) FROM generations WHERE confirmed_at BETWEEN to_timestamp($1) AND to_timestamp($2)",
            down_at,
            up_at,
        )
    finally:
        exit_code = await st.close()
    last_s = facts["last_finished"] - up_at if facts["last_finished"] else float("nan")
    admin = stats["admin_messages"]
    table(
        f"{args.users} generations, {args.render:g} s renders, a {args.outage_seconds:g} s KIE outage ({mode}) "
        f"from {args.outage_after:g} s, KIE_TIMEOUT {args.kie_timeout:g} s",
        [
            ("confirmed during the outage", during_n),
            *common_rows(counts, facts, stats),
            ("KIE calls refused by the outage", stats["refused_by_outage"]),
            ("recovery → last delivery", f"{last_s:.1f} s"),
            ("all finished within", f"{facts['span']:.1f} s from the first confirmation"),
            (
                "admins told down / up",
                f"{sum('is down' in t for t in admin)} / {sum('is back' in t for t in admin)} ({len(admin)} messages)",
            ),
            *latency_rows(facts),
            ("bot peak RSS", f"{st.bot.peak_rss:.0f} MB"),
            ("bot exit code", exit_code),
        ],
    )


def common_rows(counts: dict[str, int], facts: dict[str, Any], stats: dict[str, Any]) -> list[tuple[str, Any]]:
    others = {status: n for status, n in counts.items() if status != "done"}
    return [
        ("delivered / other", f"{counts.get('done', 0)} / {others or 0}"),
        ("refunded", facts["refunded"]),
        ("charged exactly once (ledger)", f"{facts['charged_once']} of {facts['confirmed']}"),
        ("refund rows in the ledger", facts["refund_rows"]),
        ("KIE creates accepted / refused (429)", f"{stats['creates']} / {stats['refused_by_limit']}"),
    ]


def latency_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    total, to_kie = facts["total"] or [0.0], facts["to_kie"] or [0.0]
    p50, p95, _ = percentiles(total)
    k50, k95, _ = percentiles(to_kie)
    return [
        ("confirm → video", f"p50 {p50:.1f} s, p95 {p95:.1f} s, max {max(total):.1f} s"),
        ("confirm → accepted by KIE", f"p50 {k50:.1f} s, p95 {k95:.1f} s, max {max(to_kie):.1f} s"),
    ]


async def outcome(pool: asyncpg.Pool) -> dict[str, Any]:
    """What the database says happened: latencies, refunds, and the ledger's charges per generation."""
    rows = await pool.fetch(
        """SELECT extract(epoch FROM finished_at - confirmed_at)::float8 AS total_s,
                  extract(epoch FROM rendering_at - confirmed_at)::float8 AS to_kie_s
           FROM generations WHERE status = 'done'"""
    )
    facts = await pool.fetchrow(
        """SELECT count(*) AS confirmed,
                  count(*) FILTER (WHERE g.refunded_at IS NOT NULL) AS refunded,
                  count(*) FILTER (WHERE (SELECT count(*) FROM ledger l WHERE l.reason = 'generation'
                                          AND l.reference = g.id::text AND l.delta = -g.price) = 1) AS charged_once,
                  (SELECT count(*) FROM ledger WHERE reason = 'refund') AS refund_rows,
                  coalesce(extract(epoch FROM max(g.finished_at) - min(g.confirmed_at))::float8, 0) AS span,
                  extract(epoch FROM max(g.finished_at))::float8 AS last_finished,
                  coalesce(sum(g.possible_duplicates), 0) AS possible_duplicates
           FROM generations g WHERE g.confirmed_at IS NOT NULL"""
    )
    return {**dict(facts), "total": [r["total_s"] for r in rows], "to_kie": [r["to_kie_s"] for r in rows]}


async def send_everyone(user_ids: range, st: Stage) -> None:
    """Every user: /start, an idea, then a tap on "make it", all users at the same time."""
    ids = iter(range(10 * user_ids.start, 10 * user_ids.stop))  # update ids unique across calls
    connector = aiohttp.TCPConnector(limit=64)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRETS["WEBHOOK_SECRET"]}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def post(update: dict) -> None:
            async with http.post(st.webhook, json=update) as response:
                if response.status != 200:
                    raise RuntimeError(f"webhook answered {response.status}")

        async def user(user_id: int) -> None:
            await post(message_update(next(ids), user_id, text="/start"))
            await post(message_update(next(ids), user_id, text=f"a paper lantern drifting over a lake, take {user_id}"))
            draft = await proposal(st.pool, user_id)
            await post(callback_update(next(ids), user_id, f"go:{draft['id']}", message_id=draft["status_message_id"]))

        await asyncio.gather(*(user(user_id) for user_id in user_ids))


async def proposal(pool: asyncpg.Pool, user_id: int, timeout: float = 120.0) -> asyncpg.Record:
    """The user's draft once its proposal message is out: the proposal goes after the update's commit, and
    its message id (which a confirm carries, as Telegram's callback_query.message would) is recorded then."""
    deadline = time.monotonic() + timeout
    while True:
        draft = await pool.fetchrow(
            "SELECT id, status_message_id FROM generations WHERE user_id = $1 AND status = 'draft'", user_id
        )
        if draft is not None and draft["status_message_id"] is not None:
            return draft
        if time.monotonic() > deadline:
            raise RuntimeError(f"user {user_id}: no proposal message within {timeout:g} s")
        await asyncio.sleep(0.05)


async def watch(st: Stage, users: int, started: float) -> dict[str, int]:
    """Until every user's generation is finished: counts by status every 10 s, RSS every 0.5 s."""
    last_report = 0.0
    while True:
        st.bot.sample_rss()
        counts = {
            r["status"]: r["n"] for r in await st.pool.fetch("SELECT status, count(*) AS n FROM generations GROUP BY 1")
        }
        finished = sum(n for status, n in counts.items() if status in ("done", "failed", "cancelled"))
        elapsed = time.perf_counter() - started
        if elapsed - last_report >= 10:
            last_report = elapsed
            print(f"  {elapsed:6.0f} s  {counts}  RSS {st.bot.sample_rss():.0f} MB", flush=True)
        if finished >= users:
            return counts
        await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--render", type=float, default=60.0)
    parser.add_argument("--creates-per-10s", type=int, default=CREATE_LIMIT, help="KIE_CREATES_PER_10S of the bot")
    parser.add_argument("--outage", choices=("none", *OUTAGE_MODES, "all"), default="none")
    parser.add_argument("--outage-seconds", type=float, default=120.0)
    parser.add_argument("--outage-after", type=float, default=40.0, help="seconds after the first /start")
    parser.add_argument(
        "--lose-answers", type=float, default=0.0, help="share of accepted creates whose answer the fake KIE drops"
    )
    parser.add_argument("--kie-timeout", type=float, default=5.0, help="KIE_TIMEOUT of the bot in an outage run")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
