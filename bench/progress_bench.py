"""Issue 17's progress bar: what the per-model median render time costs to read, and what the bar costs.

    python -m bench.progress_bench [--server DSN|embedded] [--rows 10000,300000] [--runs 200]

On a scratch database, ``--rows`` generations (90 % delivered, spread over 8 models, the rest failed or
under way), then ``generation_render_medians`` (a loose index scan of ``generations_delivered`` and the
last 50 of each model) run ``--runs`` times, against the plain way of writing it (row_number() over
every delivery, partitioned by model) for comparison. Then the status updater's view: 500 status
edits at once through one ``RenderMedians`` cache (queries run), and ``estimate`` + ``bar`` per call.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import asyncpg

from bench.common import DEFAULT_SERVER, fresh_database, percentiles, server_dsn, table
from core.pipeline.medians import RenderMedians
from core.ui.progress import bar, estimate
from db import generations as db_generations

MODELS = ["veo3_lite", "veo3_fast", "veo3", "kling-3.0-std", "kling-3.0-pro", "seedance-2", "seedance-2-mini", "x"]

WINDOW = """
SELECT model, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::float8 AS median_s
FROM (SELECT model, extract(epoch FROM finished_at - rendering_at)::float8 AS seconds,
             row_number() OVER (PARTITION BY model ORDER BY finished_at DESC) AS n
      FROM generations WHERE status = 'done' AND rendering_at IS NOT NULL) d
WHERE n <= 50 GROUP BY model
"""

FILL = """
INSERT INTO generations (user_id, chat_id, status, model, price, callback_token, confirmed_at, rendering_at,
                         finished_at)
SELECT 1, 1, CASE WHEN n % 10 = 0 THEN 'failed' WHEN n % 10 = 1 THEN 'rendering' ELSE 'done' END,
       ($2::text[])[1 + n % 8], 60, 'bench-' || n,
       now() - n * interval '1 minute', now() - n * interval '1 minute' + interval '20 seconds',
       CASE WHEN n % 10 = 1 THEN NULL
            ELSE now() - n * interval '1 minute' + interval '20 seconds' + (60 + n % 240) * interval '1 second' END
FROM generate_series(1, $1::int) AS n
"""


async def timed(conn: asyncpg.Connection, statement: str, runs: int, *args: object) -> tuple[float, float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await conn.fetch(statement, *args)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


async def one_size(url: str, rows: int, runs: int) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE generations CASCADE")
        await conn.execute("INSERT INTO users (id) VALUES (1) ON CONFLICT DO NOTHING")
        await conn.execute(FILL, rows, MODELS)
        await conn.execute("ANALYZE generations")
        ours = await db_generations.render_medians(conn)
        plain = {r["model"]: r["median_s"] for r in await conn.fetch(WINDOW)}
        assert ours == plain, (ours, plain)
        fast = await timed(conn, db_generations.queries.generation_render_medians, runs, 50)
        slow = await timed(conn, WINDOW, max(10, runs // 10))
    finally:
        await conn.close()
    fmt = "p50 {:.2f} / p95 {:.2f} / p99 {:.2f} ms"
    return [
        (f"{rows:,} rows: render_medians", fmt.format(*fast)),
        (f"{rows:,} rows: row_number() way", fmt.format(*slow)),
    ]


class CountingPool:
    """The pool as RenderMedians uses it (acquire), counting the connections it takes: one per query."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.acquired = pool, 0

    def acquire(self) -> Any:
        self.acquired += 1
        return self.pool.acquire()


async def status_edits(url: str) -> list[tuple[str, str]]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    assert pool is not None
    try:
        counting, medians = CountingPool(pool), RenderMedians()
        started = time.perf_counter()
        got = await asyncio.gather(*(medians.of(counting, MODELS[i % 8]) for i in range(500)))  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        assert all(g is not None for g in got[:7])
    finally:
        await pool.close()
    calls = 100_000
    started = time.perf_counter()
    for i in range(calls):
        bar(estimate(float(i % 300), 150.0), "en")
    per_call_us = (time.perf_counter() - started) / calls * 1e6
    return [
        ("500 status edits at once, one cache", f"{elapsed:.1f} ms in all, {counting.acquired} query"),
        ("estimate + bar, per call", f"{per_call_us:.1f} µs"),
    ]


async def main(server: str, sizes: list[int], runs: int) -> None:
    url = await fresh_database(server_dsn(server), "reelsmith_progress_bench")
    rows: list[tuple[str, str]] = []
    for size in sizes:
        rows += await one_size(url, size, runs)
    rows += await status_edits(url)
    table("median render time per model (last 50 deliveries of each)", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--rows", default="10000,300000")
    parser.add_argument("--runs", type=int, default=200)
    options = parser.parse_args()
    asyncio.run(main(options.server, [int(n) for n in options.rows.split(",")], options.runs))
