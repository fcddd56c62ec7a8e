"""The typed user row (db/users.py ``User``): what the update's first statement reads is what
user_get and user_lock read, so one dataclass serves all three."""

from __future__ import annotations

import dataclasses

import asyncpg
import pytest

from core.ui.texts import user_language
from db import telegram as db_telegram
from db import users as db_users
from db.users import User

USER = 501


async def test_an_update_reads_its_sender_as_a_user(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        start = await db_telegram.begin_update(conn, 1, USER, "message", "ann", "Ann", "ru", "fsm:1", "ru", bot_id=1)
    assert isinstance(start.user, User)
    assert (start.user.id, start.user.credits, start.user.language, start.user.language_code) == (USER, 0, "ru", "ru")
    assert start.user.blocked_at is None and start.user.banned_at is None and start.user.created_at is not None
    assert user_language(start.user) == "ru"
    with pytest.raises(dataclasses.FrozenInstanceError):
        start.user.credits = 10  # type: ignore[misc]


async def test_user_get_and_user_lock_read_the_same_user(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        start = await db_telegram.begin_update(conn, 1, USER, "message", "ann", "Ann", "de", "fsm:1", "en", bot_id=1)
        await db_users.apply_credits(conn, USER, 25, "starter", str(USER))
        locked = await db_users.lock(conn, USER)
    got = await db_users.get(pool, USER)
    assert isinstance(got, User) and isinstance(locked, User) and start.user is not None
    assert got == locked == dataclasses.replace(start.user, credits=25)
    assert user_language(got) == user_language(locked) == "en"


async def test_an_update_without_a_sender_has_no_user(pool: asyncpg.Pool) -> None:
    start = await db_telegram.begin_update(pool, 2, None, "channel_post", None, None, None, "fsm:2", "en", bot_id=1)
    assert start.first and start.user is None
