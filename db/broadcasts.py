"""Broadcasts and their recipients (sql/broadcasts.sql)."""

from __future__ import annotations

from dataclasses import dataclass

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class Broadcast:
    id: int
    admin_id: int  # who sent it, and whose status message shows its progress
    from_chat_id: int  # the message copied to everyone
    message_id: int
    status_message_id: int | None  # None until the admin's status message went out
    state: str  # running | done | cancelled


@dataclass(frozen=True, slots=True)
class Counts:
    """Its recipients by how their send ended."""

    sent: int
    failed: int
    blocked: int
    open: int  # pending or sending
    pending: int
    total: int


@dataclass(frozen=True, slots=True)
class Created:
    id: int
    total: int  # recipients


async def create(db: Executor, admin_id: int, from_chat_id: int, message_id: int) -> Created | None:
    """None while another broadcast is running."""
    rows = await db.fetch(queries.broadcast_create, admin_id, from_chat_id, message_id)
    return Created(**rows[0]) if rows else None


async def get(db: Executor, broadcast_id: int) -> Broadcast | None:
    rows = await db.fetch(queries.broadcast_get, broadcast_id)
    return Broadcast(**rows[0]) if rows else None


async def running(db: Executor) -> Broadcast | None:
    rows = await db.fetch(queries.broadcast_running)
    return Broadcast(**rows[0]) if rows else None


async def set_status_message(db: Executor, broadcast_id: int, message_id: int) -> None:
    await db.execute(queries.broadcast_set_status_message, broadcast_id, message_id)


async def finish(db: Executor, broadcast_id: int, state: str) -> bool:
    return bool(await db.fetch(queries.broadcast_finish, broadcast_id, state))


async def claim(db: Executor, broadcast_id: int) -> int | None:
    return await db.fetchval(queries.broadcast_claim, broadcast_id)


async def settle(db: Executor, broadcast_id: int, user_id: int, state: str) -> None:
    await db.execute(queries.broadcast_settle, broadcast_id, user_id, state)


async def counts(db: Executor, broadcast_id: int) -> Counts:
    return Counts(**(await db.fetch(queries.broadcast_counts, broadcast_id))[0])


async def fail_stale(db: Executor, broadcast_id: int, older_than_s: float) -> None:
    await db.execute(queries.broadcast_fail_stale, broadcast_id, older_than_s)


async def audience(db: Executor) -> int:
    """How many users a broadcast started now would reach (its preview says so)."""
    return int(await db.fetchval(queries.broadcast_audience))
