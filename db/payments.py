"""Telegram Stars payments (sql/payments.sql)."""

from __future__ import annotations

import asyncpg

from db.jobs import Executor
from db.sql import queries


async def record(db: Executor, charge_id: str, user_id: int, credits: int, stars: int, payload: str) -> bool:
    """True when this charge is new; False when it was recorded before."""
    return bool(await db.fetch(queries.payment_record, charge_id, user_id, credits, stars, payload))


async def get(db: Executor, charge_id: str) -> asyncpg.Record | None:
    rows = await db.fetch(queries.payment_get, charge_id)
    return rows[0] if rows else None


async def lock(db: Executor, charge_id: str) -> asyncpg.Record | None:
    rows = await db.fetch(queries.payment_lock, charge_id)
    return rows[0] if rows else None


async def set_refunded(db: Executor, charge_id: str, by: str, shortfall: int) -> bool:
    return bool(await db.fetch(queries.payment_set_refunded, charge_id, by, shortfall))
