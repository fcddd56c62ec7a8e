"""What /metrics reads from the database (sql/metrics.sql), one thin function each."""

from __future__ import annotations

import asyncpg

from db.sql import queries

# Statements over tables other parts of the system add; run only once their table exists.
NEEDS_TABLE = {"metrics_stars_revenue": "payments", "metrics_provider_health": "provider_health"}


async def generations(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_generations)


async def credits(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_credits)


async def queue_depth(conn: asyncpg.Connection, cap: int) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_queue_depth, cap)


async def tables_present(conn: asyncpg.Connection) -> set[str]:
    return set(await conn.fetchval(queries.metrics_tables_present))


async def stars_revenue(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_stars_revenue)


async def provider_health(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(queries.metrics_provider_health)
