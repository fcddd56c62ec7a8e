"""Where a generation's money goes back: a failure, a cancel, or a render past its deadline, each
refunded exactly once (the ledger's unique (reason, reference) says once), and the user told.

Which of them happens is decided elsewhere (core/pipeline/verdict.py for the provider's answers,
the watchdog for the limits); these only do it. Each transaction locks the user's row first, as an
update's transaction does (README, "Money": the lock order)."""

from __future__ import annotations

import structlog

from core.pipeline.services import App
from core.pipeline.status import show
from core.ui.status import Reason
from db import generations as db_generations
from db import users as db_users
from db.generations import Generation, Status
from db.pool import Conn

log = structlog.get_logger("generation")


async def fail(app: App, generation_id: int, reason: Reason) -> None:
    """Fail an unfinished generation and refund it, both once; tell the user (again, if asked twice).
    One refunded earlier (past its deadline, still awaited) is not refunded again: it never arrived."""
    async with app.pool.acquire() as conn, conn.transaction():
        await db_users.lock_owner(conn, generation_id)  # the user's row first, as in an update
        failed = await db_generations.fail(conn, generation_id, reason.for_operator())
        if failed is not None:
            await db_generations.delete_input(conn, generation_id)  # kept for the provider, never past the end
        credits = await _refund(conn, failed) if failed is not None else None
    generation = failed or await db_generations.get(app.pool, generation_id)
    if generation is None or generation.status != Status.FAILED:
        return
    if failed is not None:
        log.warning(
            "generation.failed",
            generation_id=generation.id,
            user_id=generation.user_id,
            reason=reason.key,
            detail=reason.detail,
            refunded=generation.price if credits is not None else 0,
        )
    if failed is not None and credits is None and failed.task_id is not None:
        await show(app, generation, "never_arrived", force=True)  # refunded at its deadline, told then
        return
    user = await db_users.get(app.pool, generation.user_id)
    await show(app, generation, "failed", force=True, reason=reason, credits=user.credits if user else 0)


async def overdue(app: App, generation: Generation) -> None:
    """Past its deadline and still rendering: refund now, tell the user, keep waiting for the video
    (it is delivered free if it arrives within LATE_RENDER_LIMIT)."""
    async with app.pool.acquire() as conn, conn.transaction():
        await db_users.lock(conn, generation.user_id)  # the user's row first, as in an update
        marked = await db_generations.mark_refunded(conn, generation.id)
        credits = await _refund(conn, marked) if marked is not None else None
    if marked is None or credits is None:
        return
    waited = app.settings.product.late_render_limit - app.settings.product.generation_timeout
    log.warning(
        "generation.overdue",
        generation_id=marked.id,
        user_id=marked.user_id,
        refunded=marked.price,
        note="refunded at the deadline; still polling, a late video is delivered free",
    )
    await show(app, marked, "overdue", force=True, credits=credits, minutes=max(1, round(waited / 60)))


async def cancel(db: Conn, generation_id: int, user_id: int) -> tuple[Generation, int] | None:
    """The user cancels a generation still waiting to reach the provider: refunded in the caller's
    transaction. None when it is too late (or not theirs, or over)."""
    cancelled = await db_generations.cancel(db, generation_id, user_id)
    if cancelled is None:
        return None
    await db_generations.delete_input(db, generation_id)
    credits = await _refund(db, cancelled)
    if credits is None:  # refunded before: cannot happen for a generation that never rendered
        user = await db_users.get(db, user_id)
        credits = user.credits if user else 0
    log.info("generation.cancelled", generation_id=generation_id, user_id=user_id, refunded=cancelled.price)
    return cancelled, credits


async def _refund(db: Conn, generation: Generation) -> int | None:
    """The user's new balance, or None when this generation was refunded before (the ledger says once).
    The part a Stars refund claimed (refund_claim: the purchase was refunded while this generation was
    under way) goes to that refund's shortfall, as its own ledger row ('refund_claimed', generation
    id), so the credits of a refunded purchase never come back. The caller holds the user's row."""
    reference = str(generation.id)
    balance = await db_users.apply_credits(db, generation.user_id, generation.price, "refund", reference)
    if balance is not None and generation.refund_claim > 0:
        claimed = -generation.refund_claim
        balance = await db_users.apply_credits(db, generation.user_id, claimed, "refund_claimed", reference)
        log.info("generation.refund_claimed", generation_id=generation.id, credits=generation.refund_claim)
    return balance
