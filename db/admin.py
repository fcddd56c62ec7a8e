"""What the admin commands read, and the one thing they change in the queue (sql/admin.sql)."""

from __future__ import annotations

import asyncpg

from db.jobs import Executor
from db.sql import queries


async def stats_users(db: Executor) -> asyncpg.Record:
    return (await db.fetch(queries.admin_stats_users))[0]


async def stats_generations(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(queries.admin_stats_generations)


async def stats_durations(db: Executor) -> asyncpg.Record:
    return (await db.fetch(queries.admin_stats_durations))[0]


async def stats_money(db: Executor) -> asyncpg.Record:
    return (await db.fetch(queries.admin_stats_money))[0]


async def stats_queue(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(queries.admin_stats_queue)


async def stats_daily(db: Executor, days: int) -> list[asyncpg.Record]:
    return await db.fetch(queries.admin_stats_daily, days)


async def recent_generations(db: Executor, user_id: int, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(queries.admin_recent_generations, user_id, limit)


async def generation_jobs(db: Executor, generation_id: int) -> list[asyncpg.Record]:
    return await db.fetch(queries.admin_generation_jobs, generation_id)


async def job(db: Executor, job_id: int) -> asyncpg.Record | None:
    rows = await db.fetch(queries.admin_job_get, job_id)
    return rows[0] if rows else None


async def retry_job(db: Executor, job_id: int) -> str | None:
    """The job's state before: 'failed' means it is queued again; None: no such job."""
    return await db.fetchval(queries.admin_job_retry, job_id)
