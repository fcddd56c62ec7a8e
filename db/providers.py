"""Provider health (sql/providers.sql): one row per provider, shared by every process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class Health:
    provider: str
    available: bool
    account_problem: bool
    failures: int
    reason: str | None
    since: datetime
    balance: float | None
    balance_at: datetime | None


async def ensure(db: Executor, provider: str) -> None:
    await db.execute(queries.provider_health_ensure, provider)


async def get(db: Executor, provider: str) -> Health:
    rows = await db.fetch(queries.provider_health_get, provider)
    if not rows:
        await ensure(db, provider)
        rows = await db.fetch(queries.provider_health_get, provider)
    return Health(**dict(rows[0]))


async def failed(db: Executor, provider: str, threshold: int, reason: str) -> tuple[bool, int]:
    """Count a retryable failure: (whether this call made the provider unavailable, failures in a row)."""
    rows = await db.fetch(queries.provider_failed, provider, threshold, reason)
    return (rows[0]["went_down"], rows[0]["failures"]) if rows else (False, 1)


async def account_problem(db: Executor, provider: str, reason: str) -> bool:
    """Unavailable for an account problem; True for the call that first said so."""
    return bool(await db.fetchval(queries.provider_account_problem, provider, reason))


async def succeeded(db: Executor, provider: str) -> float | None:
    """A call worked; seconds the provider had been down when this call brought it back, else None."""
    rows = await db.fetch(queries.provider_succeeded, provider)
    return rows[0]["down_s"] if rows else None


async def balance_seen(db: Executor, provider: str, balance: float) -> None:
    await db.execute(queries.provider_balance_seen, provider, balance)


async def claim_low_balance_alert(db: Executor, provider: str, every_s: float) -> bool:
    return bool(await db.fetch(queries.provider_claim_low_balance_alert, provider, every_s))
