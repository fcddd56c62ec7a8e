"""Telegram plumbing (sql/telegram.sql): applied updates, conversation state, shared rate limits."""

from __future__ import annotations

from typing import Any

import asyncpg

from db.jobs import Executor
from db.sql import queries


async def claim_update(db: Executor, update_id: int, user_id: int | None, kind: str) -> bool:
    """True the first time this update is seen (in this transaction's view)."""
    return bool(await db.fetch(queries.update_claim, update_id, user_id, kind))


async def set_update_outcome(
    db: Executor, update_id: int, user_id: int | None, kind: str, outcome: str, error: str | None = None
) -> None:
    await db.execute(queries.update_set_outcome, update_id, user_id, kind, outcome, error)


async def recent_messages(db: Executor, user_id: int) -> int:
    return await db.fetchval(queries.update_count_recent_messages, user_id)


async def prune_updates(db: Executor, older_than_s: float, batch: int) -> int:
    return await db.fetchval(queries.update_prune, older_than_s, batch)


async def fsm_get(db: Executor, key: str) -> tuple[str | None, dict[str, Any]]:
    rows = await db.fetch(queries.fsm_get, key)
    return (rows[0]["state"], rows[0]["data"]) if rows else (None, {})


async def fsm_set_state(db: Executor, key: str, state: str | None) -> None:
    await db.execute(queries.fsm_set_state, key, state)


async def fsm_set_data(db: Executor, key: str, data: dict[str, Any]) -> None:
    await db.execute(queries.fsm_set_data, key, data)


async def take_rate_slot(conn: asyncpg.Connection, bucket: str, limit: int, window_s: float) -> float:
    """Take one slot of a shared limit; 0 when taken, else seconds to wait. Needs its own transaction."""
    async with conn.transaction():
        await conn.execute(queries.rate_lock, bucket)
        return await conn.fetchval(queries.rate_take, bucket, limit, window_s)
