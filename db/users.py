"""Users and credits (sql/users.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class User:
    """A user's row as an update reads it (update_begin, user_get, user_lock: the same columns)."""

    id: int  # the Telegram user id, also their private chat's id
    credits: int
    blocked_at: datetime | None  # they blocked the bot: nothing is sent to them
    language: str | None  # chosen with /language, or set at first contact
    language_code: str | None  # Telegram's, from their client
    banned_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: asyncpg.Record) -> User:
        return cls(
            row["id"],
            row["credits"],
            row["blocked_at"],
            row["language"],
            row["language_code"],
            row["banned_at"],
            row["created_at"],
        )


async def get(db: Executor, user_id: int) -> User | None:
    rows = await db.fetch(queries.user_get, user_id)
    return User.of(rows[0]) if rows else None


async def lock(db: Executor, user_id: int) -> User | None:
    rows = await db.fetch(queries.user_lock, user_id)
    return User.of(rows[0]) if rows else None


async def lock_owner(db: Executor, generation_id: int) -> None:
    await db.execute(queries.user_lock_owner, generation_id)


async def lock_payer(db: Executor, charge_id: str) -> None:
    await db.execute(queries.user_lock_payer, charge_id)


async def set_blocked(db: Executor, user_id: int, blocked: bool) -> bool:
    return bool(await db.fetch(queries.user_set_blocked, user_id, blocked))


async def apply_credits(db: Executor, user_id: int, delta: int, reason: str, reference: str) -> int | None:
    """The new balance, or None when this (reason, reference) was applied before."""
    rows = await db.fetch(queries.ledger_apply, user_id, delta, reason, reference)
    return rows[0]["credits"] if rows else None


@dataclass(frozen=True, slots=True)
class Profile:
    """A user as an admin looks them up (user_find): the row with their names and the ban's reason."""

    id: int
    username: str | None
    first_name: str | None
    language: str | None
    language_code: str | None
    credits: int
    blocked_at: datetime | None
    banned_at: datetime | None
    ban_reason: str | None
    created_at: datetime
    seen_at: datetime
    moderation_flags: int  # ideas moderation refused


async def find(db: Executor, user_id: int | None, username: str | None) -> Profile | None:
    rows = await db.fetch(queries.user_find, user_id, username)
    return Profile(**rows[0]) if rows else None


async def set_language(db: Executor, user_id: int, language: str) -> bool:
    return bool(await db.fetch(queries.user_set_language, user_id, language))


async def set_ban(db: Executor, user_id: int, banned: bool, reason: str | None) -> bool:
    return bool(await db.fetch(queries.user_set_ban, user_id, banned, reason))


async def take_ban_notice(db: Executor, user_id: int) -> bool:
    """True when a banned user is owed today's one polite reply (and it is now taken)."""
    return bool(await db.fetch(queries.user_take_ban_notice, user_id))


async def count_moderation_flag(db: Executor, user_id: int) -> None:
    await db.execute(queries.user_count_moderation_flag, user_id)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    reason: str  # starter | generation | refund | admin | purchase | purchase_refund | referral | promo | ...
    reference: str  # what it is for: a generation id, a charge id, an admin's note
    delta: int
    created_at: datetime


async def ledger_tail(db: Executor, user_id: int, limit: int) -> list[LedgerEntry]:
    return [LedgerEntry(**row) for row in await db.fetch(queries.ledger_tail, user_id, limit)]
