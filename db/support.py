"""Support tickets (sql/support.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class Opened:
    id: int
    created: bool  # False: the message joins the user's unresolved ticket


@dataclass(frozen=True, slots=True)
class RecentPayment:
    charge_id: str
    credits: int
    stars: int
    created_at: datetime
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    user_id: int
    status: str  # open | answered | closed


@dataclass(frozen=True, slots=True)
class OpenTicket:
    id: int
    user_id: int
    username: str | None
    created_at: datetime
    updated_at: datetime  # the last message the user added


async def open_ticket(db: Executor, user_id: int) -> Opened:
    (row,) = await db.fetch(queries.ticket_open, user_id)  # an upsert always returns its row
    return Opened(row["id"], row["created"])


async def recent_payments(db: Executor, user_id: int, limit: int) -> list[RecentPayment]:
    return [RecentPayment(**row) for row in await db.fetch(queries.ticket_recent_payments, user_id, limit)]


async def add_message(db: Executor, chat_id: int, message_id: int, ticket_id: int) -> None:
    await db.execute(queries.ticket_message_add, chat_id, message_id, ticket_id)


async def for_message(db: Executor, chat_id: int, message_id: int) -> Ticket | None:
    rows = await db.fetch(queries.ticket_for_message, chat_id, message_id)
    return Ticket(**rows[0]) if rows else None


async def mark_answered(db: Executor, ticket_id: int) -> bool:
    return bool(await db.fetch(queries.ticket_answered, ticket_id))


async def close(db: Executor, ticket_id: int, admin_id: int) -> int | None:
    """The ticket's user, when this closed it; None when it was closed before or never existed."""
    rows = await db.fetch(queries.ticket_close, ticket_id, admin_id)
    return rows[0]["user_id"] if rows else None


async def open_tickets(db: Executor, limit: int) -> list[OpenTicket]:
    return [OpenTicket(**row) for row in await db.fetch(queries.tickets_open, limit)]
