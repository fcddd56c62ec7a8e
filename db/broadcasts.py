"""Broadcasts and their recipients (sql/broadcasts.sql)."""

from __future__ import annotations

import asyncpg

from db.jobs import Executor
from db.sql import queries


async def create(db: Executor, admin_id: int, from_chat_id: int, message_id: int) -> asyncpg.Record | None:
    """(id, total), or None while another broadcast is running."""
    rows = await db.fetch(queries.broadcast_create, admin_id, from_chat_id, message_id)
    return rows[0] if rows else None


async def get(db: Executor, broadcast_id: int) -> asyncpg.Record | None:
    rows = await db.fetch(queries.broadcast_get, broadcast_id)
    return rows[0] if rows else None


async def running(db: Executor) -> asyncpg.Record | None:
    rows = await db.fetch(queries.broadcast_running)
    return rows[0] if rows else None


async def set_status_message(db: Executor, broadcast_id: int, message_id: int) -> None:
    await db.execute(queries.broadcast_set_status_message, broadcast_id, message_id)


async def finish(db: Executor, broadcast_id: int, state: str) -> bool:
    return bool(await db.fetch(queries.broadcast_finish, broadcast_id, state))


async def claim(db: Executor, broadcast_id: int) -> int | None:
    return await db.fetchval(queries.broadcast_claim, broadcast_id)


async def settle(db: Executor, broadcast_id: int, user_id: int, state: str) -> None:
    await db.execute(queries.broadcast_settle, broadcast_id, user_id, state)


async def counts(db: Executor, broadcast_id: int) -> asyncpg.Record:
    return (await db.fetch(queries.broadcast_counts, broadcast_id))[0]


async def fail_stale(db: Executor, broadcast_id: int, older_than_s: float) -> None:
    await db.execute(queries.broadcast_fail_stale, broadcast_id, older_than_s)
