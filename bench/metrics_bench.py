"""One /metrics scrape against a big ``jobs`` table: how long the fleet's numbers take to read.

    python -m bench.metrics_bench [--server DSN|embedded] [--rows 1000000] [--scrapes 20]

Two fills of a scratch database, each with ``--rows`` rows in ``jobs``: the everyday one (a day of
history: finished jobs, a small backlog, some running) and the bad day (every row a queued job, a
backlog of a million). Each scrape is the whole ``/metrics`` answer over HTTP from a real
runtime's web server with METRICS_CACHE=0 (so every scrape reads the database), plus 10,000
generations and 25,000 ledger rows; the table shows the scrape's latency and the plan of the queue
statement, the one that grows with the table.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import asyncpg

from bench.common import DEFAULT_SERVER, free_port, fresh_database, percentiles, server_dsn, table
from core.queue import Registry
from core.queue.diag import register_diagnostics
from core.runtime.process import Role
from core.settings import Settings
from core.web.metrics import QUEUE_COUNT_CAP
from db.pool import create_pool
from db.sql import queries
from tests.helpers import SECRETS, runtime_for

KINDS = ["generation.prompt", "generation.submit", "generation.poll", "generation.deliver", "generation.watchdog"]


async def fill(pool: asyncpg.Pool, rows: int, *, backlog: bool) -> None:
    await pool.execute("TRUNCATE jobs, generations, ledger, users CASCADE")
    kinds = f"(ARRAY{KINDS!r})[1 + n % {len(KINDS)}]"
    if backlog:
        await pool.execute(
            f"INSERT INTO jobs (kind, run_at) SELECT {kinds}, now() - (n % 600) * interval '1 second' "
            f"FROM generate_series(1, {rows}) n"
        )
    else:
        # A day of history: finished rows, then 2,000 queued (half due, half scheduled), 100 running.
        await pool.execute(
            f"INSERT INTO jobs (kind, state, finished_at) SELECT {kinds}, "
            "CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'succeeded' END, now() - (n % 86400) * interval '1 second' "
            f"FROM generate_series(1, {rows - 2100}) n"
        )
        await pool.execute(
            f"INSERT INTO jobs (kind, run_at) SELECT {kinds}, now() + (n % 2 * 2 - 1) * interval '30 seconds' "
            "FROM generate_series(1, 2000) n"
        )
        await pool.execute(
            f"INSERT INTO jobs (kind, state, lease_owner, lease_expires_at) SELECT {kinds}, 'running', 'w', "
            "now() + interval '30 seconds' FROM generate_series(1, 100) n"
        )
    await pool.execute(
        "INSERT INTO users (id, credits) SELECT n, 40 FROM generate_series(1, 10000) n;"
        "INSERT INTO generations (user_id, chat_id, status, model, price, callback_token, confirmed_at) "
        "SELECT n, n, 'done', 'veo3_fast', 60, md5(n::text), now() FROM generate_series(1, 10000) n;"
        "INSERT INTO ledger (user_id, delta, reason, reference) "
        "SELECT n, 100, 'starter', n::text FROM generate_series(1, 10000) n UNION ALL "
        "SELECT n, -60, 'generation', n::text FROM generate_series(1, 10000) n UNION ALL "
        "SELECT n, 60, 'refund', n::text FROM generate_series(1, 5000) n;"
    )
    await pool.execute("VACUUM (ANALYZE) jobs, generations, ledger, users")


async def scrape_times(url: str, scrapes: int) -> list[float]:
    times: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(scrapes + 2):
            started = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
                assert response.status == 200
            times.append((time.perf_counter() - started) * 1000)
    return times[2:]  # the first two warm the connection and the statement cache


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_metrics")
    pool = await create_pool(url, max_size=4)
    port = free_port()
    settings = Settings.from_env(
        {**SECRETS, "DATABASE_URL": url, "PORT": str(port), "HOST": "127.0.0.1", "METRICS_CACHE": "0s"}
    )
    try:
        for name, backlog in (("a day of history", False), ("a backlog of queued jobs", True)):
            await fill(pool, args.rows, backlog=backlog)
            runtime = runtime_for(settings, pool, register_diagnostics(Registry()), role=Role.WEB, handle_signals=False)
            task = asyncio.create_task(runtime.run())
            await runtime.started.wait()
            times = await scrape_times(f"http://127.0.0.1:{port}/metrics", args.scrapes)
            runtime.stop("bench over")
            await task
            plan = await pool.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {queries.metrics_queue_depth}", QUEUE_COUNT_CAP)
            execution = next(r[0] for r in plan if r[0].startswith("Execution Time"))
            p50, p95, _ = percentiles(times)
            table(
                f"/metrics with {args.rows:,} rows in jobs: {name}",
                [
                    ("scrape", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms ({len(times)} scrapes)"),
                    ("queue statement", execution),
                ],
            )
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scrapes", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
