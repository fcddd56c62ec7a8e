"""Nudges, the invoices they remind of, and the user's switch for them (sql/nudges.sql)."""

from __future__ import annotations

from dataclasses import dataclass

from db.jobs import Executor
from db.sql import queries


async def open_nudge(db: Executor, user_id: int, kind: str, subject: str) -> bool:
    """True when this nudge is new (its job should be enqueued in the same transaction)."""
    return bool(await db.fetch(queries.nudge_open, user_id, kind, subject))


async def outcome(db: Executor, user_id: int, kind: str, subject: str) -> str | None:
    """How the nudge was decided ('sending' while it goes out), None while pending; KeyError if never opened."""
    rows = await db.fetch(queries.nudge_get, user_id, kind, subject)
    if not rows:
        raise KeyError((user_id, kind, subject))
    return rows[0]["outcome"]


async def claim(db: Executor, user_id: int, kind: str, subject: str) -> str | None:
    """Decide a pending nudge: 'sending' (the user's nudge of the day is taken) or why not; None when it
    was not pending."""
    rows = await db.fetch(queries.nudge_claim, user_id, kind, subject)
    return rows[0]["outcome"] if rows else None


async def settle(db: Executor, user_id: int, kind: str, subject: str, result: str) -> bool:
    return bool(await db.fetch(queries.nudge_settle, user_id, kind, subject, result))


async def set_notifications(db: Executor, user_id: int, on: bool) -> None:
    await db.execute(queries.user_set_notifications, user_id, on)


async def notifications(db: Executor, user_id: int) -> bool:
    return bool(await db.fetchval(queries.user_notifications, user_id))


async def delivered_count(db: Executor, user_id: int) -> int:
    return int(await db.fetchval(queries.user_delivered_count, user_id))


async def record_invoice(db: Executor, payload: str, user_id: int, credits: int, stars: int) -> int:
    return int(await db.fetchval(queries.invoice_record, payload, user_id, credits, stars))


async def invoice_paid(db: Executor, payload: str) -> None:
    await db.execute(queries.invoice_paid, payload)


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    credits: int
    stars: int


async def open_invoice(db: Executor, invoice_id: int) -> OpenInvoice | None:
    """The invoice while it still waits for payment, else None."""
    rows = await db.fetch(queries.invoice_open, invoice_id)
    return OpenInvoice(rows[0]["credits"], rows[0]["stars"]) if rows else None
