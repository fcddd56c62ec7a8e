"""Transactions that lock a user's row and another row take the user's first, as an update's
transaction does (its first statement writes the sender's row). Each test holds the user's row the
way an update does and checks that the other party waits for it before taking a row of its own: the
two can then never wait on each other (a deadlock, which PostgreSQL breaks by failing one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import asyncpg

from core.bot.payments import TakenBack, take_back
from core.pipeline import refunds
from core.runtime.services import services
from core.settings import Settings
from core.ui.status import TIMEOUT, Reason
from db import generations as db_generations
from db import payments as db_payments
from db.generations import Status
from tests.helpers import wait_until

USER = 8001


async def _user(pool: asyncpg.Pool, credits: int) -> None:
    await pool.execute("INSERT INTO users (id, credits) VALUES ($1, $2)", USER, credits)


async def _rendering(pool: asyncpg.Pool) -> int:
    draft = await db_generations.create_draft(pool, USER, USER, "veo3_fast", 60, "idea", None, "token", "kie")
    await pool.execute(
        "UPDATE generations SET status = 'rendering', confirmed_at = now(), task_id = 't' WHERE id = $1", draft.id
    )
    return draft.id


async def _while_an_update_holds_the_user(pool: asyncpg.Pool, work: Awaitable[object], other_row: str, key: object):
    """Run ``work`` while another transaction holds the user's row; once it waits, ``other_row`` (a
    query locking the row it is about to take, NOWAIT) must still be free. Returns its result."""
    async with pool.acquire() as update:
        transaction = update.transaction()
        await transaction.start()
        await update.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", USER)
        task = asyncio.ensure_future(work)
        await wait_until(
            lambda: pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        async with pool.acquire() as probe, probe.transaction():
            await probe.execute(other_row, key)  # raises LockNotAvailableError if ``work`` took it first
        await transaction.commit()
    return await task


async def test_taking_a_refund_back_waits_for_the_payer_before_the_payment(pool: asyncpg.Pool) -> None:
    """Telegram's refunded_payment (an update, holding the payer) meets the admin's refund job."""
    await _user(pool, 100)
    assert await db_payments.record(pool, "charge-1", USER, 100, 50, "payload")
    async with pool.acquire() as job:
        taken = await _while_an_update_holds_the_user(
            pool,
            take_back(job, "charge-1", "admin:1"),
            "SELECT 1 FROM payments WHERE charge_id = $1 FOR UPDATE NOWAIT",
            "charge-1",
        )
    assert isinstance(taken, TakenBack) and (taken.removed, taken.balance) == (100, 0)


async def test_failing_a_generation_waits_for_its_owner_before_the_generation(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    """The pipeline fails a generation while its user taps Cancel (an update holding the user)."""
    await _user(pool, 0)
    gid = await _rendering(pool)
    async with services(settings, pool) as app:
        await _while_an_update_holds_the_user(
            pool,
            refunds.fail(app, gid, Reason(TIMEOUT)),
            "SELECT 1 FROM generations WHERE id = $1 FOR UPDATE NOWAIT",
            gid,
        )
    assert (await db_generations.get(pool, gid)).status == Status.FAILED
    assert await pool.fetchval("SELECT credits FROM users WHERE id = $1", USER) == 60


async def test_refunding_an_overdue_render_waits_for_its_owner_before_the_generation(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await _user(pool, 0)
    gid = await _rendering(pool)
    generation = await db_generations.get(pool, gid)
    assert generation is not None
    async with services(settings, pool) as app:
        await _while_an_update_holds_the_user(
            pool,
            refunds.overdue(app, generation),
            "SELECT 1 FROM generations WHERE id = $1 FOR UPDATE NOWAIT",
            gid,
        )
    assert (await db_generations.get(pool, gid)).refunded_at is not None
    assert await pool.fetchval("SELECT credits FROM users WHERE id = $1", USER) == 60
