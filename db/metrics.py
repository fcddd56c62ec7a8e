"""What /metrics reads from the database (sql/metrics.sql), one thin function each."""

from __future__ import annotations

import asyncpg

from db.jobs import Executor
from db.sql import queries


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


async def provider_spend(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_provider_spend)


async def stars_daily(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_stars_daily)
