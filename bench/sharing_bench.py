"""Sharing through inline mode: how long a user waits for their own videos, and the query's plan.

    python -m bench.sharing_bench [--server DSN|embedded] [--users 2000] [--videos 20] [--heavy 5000]
                                  [--rate 50] [--heavy-rate 5] [--seconds 10]

A real ``bot.py`` (role all, webhook mode) on a scratch database holding ``--users`` users with
``--videos`` delivered videos each, and one heavy user with ``--heavy``; the fake Telegram in its own
process, told every file_id (it checks each result's, as Telegram does). Each scenario offers inline
queries open-loop for ``--seconds``: ordinary users' at ``--rate`` per second, the heavy user's at
``--heavy-rate`` (one person's queries, one per pause in typing, are applied one at a time: each update
locks its user's row); the time counted runs from the POST of the
``inline_query`` update to the moment the fake Telegram accepted its ``answerInlineQuery`` (sent after the
commit). Then EXPLAIN ANALYZE of ``generation_shareable`` for the heavy user, the worst case of each shape.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time

import asyncpg

from bench.common import DEFAULT_SERVER, FakeServers, fresh_database, percentiles, server_dsn, table
from bench.webhook_bench import Target, started_bot
from db.sql import queries
from tests.fakes.telegram import inline_query_update

HEAVY = 70_000_000  # the heavy user's id; the others count up from USERS
USERS = 70_000_001
_update_ids = itertools.count(80_000_000)

SCENARIOS = (  # (name, heavy user?, query, offset)
    ("a user with --videos videos, all", False, "", ""),
    ("the heavy user, first page", True, "", ""),
    ("the heavy user, words matching a few", True, "number 123", ""),
    ("the heavy user, words matching none", True, "no such words", ""),
    ("the heavy user, a page near the end", True, "", "4900"),
)


async def fill(url: str, args: argparse.Namespace) -> list[str]:
    """The users and their delivered videos, in SQL; returns every file_id."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO users (id) SELECT $1::bigint UNION ALL SELECT generate_series($2::bigint, $2 + $3 - 1)",
            *(HEAVY, USERS, args.users),
        )
        await conn.execute(
            """INSERT INTO generations (user_id, chat_id, status, model, price, idea, callback_token, provider,
                                        video_file_id, confirmed_at, finished_at)
               SELECT u, u, 'done', 'veo3_fast', 60, 'idea number ' || n || ' of a bench user', md5(u || ':' || n),
                      'kie', 'vid-' || u || '-' || n, now() - n * interval '1 minute', now() - n * interval '1 minute'
               FROM (SELECT $1::bigint AS u, generate_series(1, $2::int) AS n
                     UNION ALL
                     SELECT u, n FROM generate_series($3::bigint, $3 + $4 - 1) AS u, generate_series(1, $5::int) AS n
                    ) AS videos""",
            *(HEAVY, args.heavy, USERS, args.users, args.videos),
        )
        await conn.execute("ANALYZE generations")
        return [row["video_file_id"] for row in await conn.fetch("SELECT video_file_id FROM generations")]
    finally:
        await conn.close()


async def offer(target: Target, args: argparse.Namespace, heavy: bool, query: str, offset: str) -> dict[str, float]:
    """Queries at ``--rate``/s for ``--seconds``; when each was posted, by query id."""
    posted: dict[str, float] = {}
    ordinary = itertools.cycle(range(USERS, USERS + args.users))
    tasks = []

    async def one() -> None:
        update = inline_query_update(next(_update_ids), HEAVY if heavy else next(ordinary), query=query, offset=offset)
        posted[update["inline_query"]["id"]] = time.monotonic()
        await target.send(update)

    rate = args.heavy_rate if heavy else args.rate
    started = time.monotonic()
    for n in range(int(rate * args.seconds)):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    return posted


async def answered(fakes: FakeServers, posted: dict[str, float]) -> tuple[list[float], int]:
    """Latencies in ms of the answers that arrived (waiting up to 30 s for the last), and their results."""
    deadline = time.monotonic() + 30
    while True:
        answers = {query: (results, at) for query, results, at in fakes.command("inline_answers") if query in posted}
        if len(answers) == len(posted) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    latencies = [(at - posted[query]) * 1000 for query, (_, at) in answers.items()]
    return latencies, max((results for results, _ in answers.values()), default=0)


async def explain(url: str) -> list[tuple[str, str]]:
    """Each heavy-user scenario's statement as the bot runs it: execution time and the plan's nodes."""
    conn = await asyncpg.connect(url)
    rows = []
    try:
        for name, _, query, offset in SCENARIOS[1:]:
            statement = f"EXPLAIN (ANALYZE, FORMAT JSON) {queries.generation_shareable}"
            top = json.loads(await conn.fetchval(statement, HEAVY, query, 51, int(offset or 0)))[0]
            nodes, node = [], top["Plan"]
            while node is not None:
                nodes.append(node["Node Type"] + (f" ({node['Index Name']})" if "Index Name" in node else ""))
                node = (node.get("Plans") or [None])[0]
            rows.append((name, f"{top['Execution Time']:.2f} ms: {' > '.join(nodes)}"))
    finally:
        await conn.close()
    return rows


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_sharing")
    file_ids = await fill(url, args)
    fakes = FakeServers.start()
    try:
        for start in range(0, len(file_ids), 10_000):
            fakes.command("add_files", file_ids[start : start + 10_000])
        async with started_bot(args, url, fakes.telegram) as target:
            await asyncio.gather(*(target.post("/start") for _ in range(50)))  # warm up: connections, getMe
            rows = []
            for name, heavy, query, offset in SCENARIOS:
                cpu = target.bot.cpu_seconds()
                posted = await offer(target, args, heavy, query, offset)
                latencies, results = await answered(fakes, posted)
                cpu_ms = (target.bot.cpu_seconds() - cpu) * 1000 / len(posted)
                p50, p95, p99 = percentiles(latencies)
                rows.append(
                    (
                        name,
                        f"{len(latencies)}/{len(posted)} answered, {results} results, bot CPU {cpu_ms:.1f} ms each, "
                        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms",
                    )
                )
            rates = f"{args.rate:g}/s (the heavy user: {args.heavy_rate:g}/s)"
            table(f"inline query POST to its answer at Telegram, {rates} offered for {args.seconds:g} s", rows)
        table(f"generation_shareable for the heavy user ({args.heavy} videos), EXPLAIN ANALYZE", await explain(url))
    finally:
        fakes.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--videos", type=int, default=20, help="delivered videos per ordinary user")
    parser.add_argument("--heavy", type=int, default=5000, help="delivered videos of the heavy user")
    parser.add_argument("--rate", type=float, default=50, help="ordinary users' inline queries per second")
    parser.add_argument("--heavy-rate", type=float, default=5, help="the heavy user's inline queries per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pool", type=int, default=20, help="DATABASE_POOL_SIZE of the bot")
    parser.add_argument("--concurrency", type=int, default=64)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
