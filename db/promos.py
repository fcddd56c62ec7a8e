"""Promo codes (sql/promos.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class PromoCode:
    code: str  # upper case
    credits: int
    uses_limit: int | None  # None: no limit
    uses: int
    expires_at: datetime | None  # None: never
    retired_at: datetime | None

    @property
    def uses_left(self) -> int | None:
        return None if self.uses_limit is None else self.uses_limit - self.uses


async def create(
    db: Executor, code: str, credits: int, uses_limit: int | None, days: int | None, admin_id: int
) -> PromoCode | None:
    """The new code; None when the code exists already."""
    rows = await db.fetch(queries.promo_create, code, credits, uses_limit, days, admin_id)
    return PromoCode(**rows[0]) if rows else None


async def listing(db: Executor, limit: int) -> list[PromoCode]:
    return [PromoCode(**row) for row in await db.fetch(queries.promo_list, limit)]


async def retire(db: Executor, code: str) -> PromoCode | None:
    rows = await db.fetch(queries.promo_retire, code)
    return PromoCode(**rows[0]) if rows else None


Outcome = Literal["redeemed", "unknown", "already", "retired", "expired", "used_up"]


@dataclass(frozen=True, slots=True)
class Redemption:
    """What promo_redeem answered: credited (balance set), or the code's state that says why not."""

    balance: int | None  # the new balance; None: nothing credited
    known: bool
    credits: int  # what the code gives
    retired: bool
    expired: bool
    redeemed_before: bool  # by this user

    @property
    def outcome(self) -> Outcome:
        """Why, in the order a user should hear it; a live code that credited nothing was used up
        (by this statement's concurrent redeemers, if not before)."""
        if self.balance is not None:
            return "redeemed"
        if not self.known:
            return "unknown"
        if self.redeemed_before:
            return "already"
        if self.retired:
            return "retired"
        return "expired" if self.expired else "used_up"


async def redeem(db: Executor, code: str, user_id: int) -> Redemption:
    (row,) = await db.fetch(queries.promo_redeem, code, user_id)  # always one row, credited or not
    return Redemption(**row)
