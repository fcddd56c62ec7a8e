"""Invitations (sql/referrals.sql): who brought whom, and the inviter's bonus."""

from __future__ import annotations

from dataclasses import dataclass

from db.jobs import Executor
from db.sql import queries
from db.users import User


async def attribute(db: Executor, invitee_id: int, inviter_id: int) -> bool:
    """True when the invitee was attributed now (their first contact, someone else's link)."""
    return bool(await db.fetch(queries.referral_attribute, invitee_id, inviter_id))


async def pay_bonus(db: Executor, invitee_id: int, bonus: int, charge_id: str) -> User | None:
    """The inviter as credited, or None: no inviter, paid before, or the inviter is gone."""
    rows = await db.fetch(queries.referral_pay_bonus, invitee_id, bonus, charge_id)
    return User.of(rows[0]) if rows else None


@dataclass(frozen=True, slots=True)
class InviteStats:
    joined: int  # users attributed to this inviter
    earned: int  # bonus credits paid to them


async def stats(db: Executor, inviter_id: int) -> InviteStats:
    (row,) = await db.fetch(queries.referral_stats, inviter_id)  # an aggregate: always one row
    return InviteStats(row["joined"], row["earned"])
