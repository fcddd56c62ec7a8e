"""Monthly plans: Telegram Stars subscriptions (sql/subscriptions.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    user_id: int
    credits: int  # added at every charge
    stars: int  # a month
    charge_id: str  # the first charge's: what editUserStarSubscription names
    expires_at: datetime  # the next renewal, or the end when cancelled
    canceled: bool  # renewal cancelled through the bot


async def charged(
    db: Executor,
    user_id: int,
    payload: str,
    credits: int,
    stars: int,
    charge_id: str,
    expires_at: datetime,
    *,
    first: bool,
) -> Subscription:
    """Record a plan's charge (first or renewal): the subscription as it now stands."""
    rows = await db.fetch(queries.subscription_charged, user_id, payload, credits, stars, charge_id, expires_at, first)
    return Subscription(**rows[0])


async def of_user(db: Executor, user_id: int, limit: int) -> list[Subscription]:
    """The latest to end first."""
    return [Subscription(**row) for row in await db.fetch(queries.subscription_list, user_id, limit)]


async def get(db: Executor, subscription_id: int, user_id: int) -> Subscription | None:
    rows = await db.fetch(queries.subscription_get, subscription_id, user_id)
    return Subscription(**rows[0]) if rows else None


async def set_canceled(db: Executor, subscription_id: int, user_id: int, canceled: bool) -> Subscription | None:
    rows = await db.fetch(queries.subscription_set_canceled, subscription_id, user_id, canceled)
    return Subscription(**rows[0]) if rows else None


async def running(db: Executor, user_id: int, credits: int, stars: int, payload: str) -> bool:
    """The user has this plan running under another invoice than ``payload``."""
    return bool(await db.fetchval(queries.subscription_running, user_id, credits, stars, payload))
