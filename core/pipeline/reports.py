"""What admins read, gathered once for both ways of asking: /stats and /user in the chat
(core/bot/admin.py) and the Mini App's stats screen (core/web/miniapp/admin.py)."""

from __future__ import annotations

from dataclasses import dataclass

from db import admin as db_admin
from db import users as db_users
from db.jobs import Executor
from db.users import LedgerEntry, Profile

LEDGER_TAIL = 8
RECENT_GENERATIONS = 5
FINAL_STATES = ("done", "failed")


@dataclass(frozen=True, slots=True)
class Stats:
    users: db_admin.UserCounts
    generations: list[db_admin.StatusCounts]
    durations: db_admin.Durations
    money: db_admin.Money
    queue: list[db_admin.QueueDepth]

    @property
    def finished(self) -> int:
        return sum(row.total for row in self.generations if row.status in FINAL_STATES)

    @property
    def done(self) -> int:
        return sum(row.total for row in self.generations if row.status == "done")


async def stats(db: Executor) -> Stats:
    """The /stats numbers (no network call: providers' health is read by the caller)."""
    return Stats(
        await db_admin.stats_users(db),
        await db_admin.stats_generations(db),
        await db_admin.stats_durations(db),
        await db_admin.stats_money(db),
        await db_admin.stats_queue(db),
    )


def parse_who(raw: str) -> tuple[int | None, str | None]:
    """An id, or a @username."""
    raw = raw.strip()
    if raw.lstrip("-").isdigit():
        return (int(raw), None) if len(raw) < 19 else (None, None)
    return None, raw.removeprefix("@")


@dataclass(frozen=True, slots=True)
class UserFacts:
    profile: Profile
    ledger: list[LedgerEntry]
    generations: list[db_admin.RecentGeneration]


async def user_facts(db: Executor, raw: str) -> UserFacts | None:
    """/user's facts about an id or @username; None when nobody is found."""
    user_id, username = parse_who(raw)
    if user_id is None and not username:
        return None
    profile = await db_users.find(db, user_id, username)
    if profile is None:
        return None
    ledger = await db_users.ledger_tail(db, profile.id, LEDGER_TAIL)
    generations = await db_admin.recent_generations(db, profile.id, RECENT_GENERATIONS)
    return UserFacts(profile, ledger, generations)
