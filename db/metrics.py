"""What /metrics reads from the database (sql/metrics.sql), one thin function each."""

from __future__ import annotations

import asyncpg

from db.jobs import Executor
from db.sql import queries

# Statements over tables other parts of the system add; run only once their table exists.
NEEDS_TABLE = {"metrics_stars_revenue": "payments", "metrics_provider_health": "provider_health"}


async def generations(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_generations)


async def credits(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_credits)


async def queue_depth(conn: Executor, cap: int) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_queue_depth, cap)


async def stars_revenue(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_stars_revenue)


async def provider_health(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_provider_health)
