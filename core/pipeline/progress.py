"""What the user sees of a generation: its one status message, and the ends that refund it (a failure,
a cancel, a render past its deadline), each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from core.pipeline.services import App
from core.telegram.replies import edit
from core.ui.status import Reason, status_view
from core.ui.texts import user_language
from db import generations as db_generations
from db import users as db_users
from db.generations import Generation, Status
from db.pool import Conn

log = structlog.get_logger("generation")

# Progress edits of one generation (the elapsed render time, the place in line) are at least this
# far apart; moves to a new stage always show. Telegram allows about 30 messages a second across all
# chats, so 500 renders at once must not each tick every few seconds.
EDIT_INTERVAL_S = 15.0


def elapsed(since: datetime | None) -> float:
    return (datetime.now(UTC) - since).total_seconds() if since else 0.0


async def show(
    app: App,
    generation: Generation,
    stage: str,
    *,
    force: bool = False,
    interval: float = EDIT_INTERVAL_S,
    **params: object,
) -> None:
    """Edit the status message to ``stage``. A new stage shows while the generation is under way; the
    same stage again (a tick) at most every ``interval`` seconds, and every few seconds per chat
    (db/generations.CHAT_TICK_GAP_S); ``force`` is for final words, which always show. Never to a
    user who blocked the bot; "not modified" and a deleted message are not errors."""
    if generation.status_message_id is None:
        return
    user = await db_users.get(app.pool, generation.user_id)
    if user is None or user["blocked_at"] is not None:
        return
    if not await db_generations.claim_status_edit(app.pool, generation.id, interval, force, stage):
        return
    lang = user_language(user)
    view = status_view(lang, generation, stage, model_title=_model_title(app, generation), **params)
    try:
        await edit(app.bot, generation.chat_id, generation.status_message_id, view.text, view.keyboard)
    except TelegramBadRequest as error:
        log.warning("generation.status.not_shown", generation_id=generation.id, stage=stage, error=error.message)
    except TelegramAPIError as error:
        # The status line is a courtesy; the step it reports on goes on regardless.
        log.warning("generation.status.not_shown", generation_id=generation.id, stage=stage, error=str(error))


def _model_title(app: App, generation: Generation) -> str:
    model = app.settings.video_models.get(generation.model)
    return model.title if model else generation.model


async def fail(app: App, generation_id: int, reason: Reason) -> None:
    """Fail an unfinished generation and refund it, both once; tell the user (again, if asked twice).
    One refunded earlier (past its deadline, still awaited) is not refunded again: it never arrived."""
    async with app.pool.acquire() as conn, conn.transaction():
        await db_users.lock_owner(conn, generation_id)  # the user's row first, as in an update
        failed = await db_generations.fail(conn, generation_id, reason.for_operator())
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
    await show(app, generation, "failed", force=True, reason=reason, credits=user["credits"] if user else 0)


async def overdue(app: App, generation: Generation) -> None:
    """Past its deadline and still rendering: refund now, tell the user, keep waiting for the video
    (it is delivered free if it arrives within LATE_RENDER_LIMIT)."""
    async with app.pool.acquire() as conn, conn.transaction():
        await db_users.lock(conn, generation.user_id)  # the user's row first, as in an update
        marked = await db_generations.mark_refunded(conn, generation.id)
        credits = await _refund(conn, marked) if marked is not None else None
    if marked is None or credits is None:
        return
    waited = app.settings.late_render_limit - app.settings.generation_timeout
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
        credits = user["credits"] if user else 0
    log.info("generation.cancelled", generation_id=generation_id, user_id=user_id, refunded=cancelled.price)
    return cancelled, credits


async def _refund(db: Conn, generation: Generation) -> int | None:
    """The user's new balance, or None when this generation was refunded before (the ledger says once)."""
    return await db_users.apply_credits(db, generation.user_id, generation.price, "refund", str(generation.id))
