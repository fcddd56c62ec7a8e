"""Telegram Stars payments (sql/payments.sql)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class Payment:
    """A Stars payment as payment_get and payment_lock read it."""

    charge_id: str  # telegram_payment_charge_id
    user_id: int  # the payer, credited
    credits: int  # what the package gave (0 for a payload we did not sign)
    stars: int
    created_at: datetime
    refunded_at: datetime | None
    refunded_by: str | None  # telegram | admin:<id>
    refund_shortfall: int  # credits already spent when it was refunded (0: none, or not refunded)


async def record(db: Executor, charge_id: str, user_id: int, credits: int, stars: int, payload: str) -> bool:
    """True when this charge is new; False when it was recorded before."""
    return bool(await db.fetch(queries.payment_record, charge_id, user_id, credits, stars, payload))


async def get(db: Executor, charge_id: str) -> Payment | None:
    rows = await db.fetch(queries.payment_get, charge_id)
    return Payment(**rows[0]) if rows else None


async def lock(db: Executor, charge_id: str) -> Payment | None:
    rows = await db.fetch(queries.payment_lock, charge_id)
    return Payment(**rows[0]) if rows else None


async def set_refunded(db: Executor, charge_id: str, by: str, shortfall: int) -> bool:
    return bool(await db.fetch(queries.payment_set_refunded, charge_id, by, shortfall))


def digest(charge_id: str) -> str:
    """What an admin's refund button carries for a charge (payment_by_digest finds it again)."""
    return hashlib.sha256(charge_id.encode()).hexdigest()[:24]


async def by_digest(db: Executor, charge_digest: str) -> Payment | None:
    rows = await db.fetch(queries.payment_by_digest, charge_digest)
    return Payment(**rows[0]) if len(rows) == 1 else None
