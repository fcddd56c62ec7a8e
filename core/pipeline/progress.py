"""What the user sees of a generation: its one status message, and the failure that refunds it."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from core.app import App
from core.ui.status import Reason, status_text
from core.ui.texts import language
from db import generations as db_generations
from db import users as db_users
from db.generations import Generation

log = structlog.get_logger("generation")

# Progress edits of one generation (the elapsed render time) are at least this far apart; moves
# to a new stage always show. Telegram allows about 30 messages a second across all chats, so
# 500 renders at once must not each tick every few seconds.
EDIT_INTERVAL_S = 15.0


def elapsed(since: datetime | None) -> float:
    return (datetime.now(UTC) - since).total_seconds() if since else 0.0


async def show(app: App, generation: Generation, stage: str, *, force: bool = False, **params: object) -> None:
    """Edit the status message to ``stage``: at most every EDIT_INTERVAL_S unless ``force``; never
    to a user who blocked the bot; "not modified" and a deleted message are not errors."""
    if generation.status_message_id is None:
        return
    user = await db_users.get(app.pool, generation.user_id)
    if user is None or user["blocked_at"] is not None:
        return
    if not await db_generations.claim_status_edit(app.pool, generation.id, EDIT_INTERVAL_S, force):
        return
    lang = language(user["language_code"])
    try:
        await app.bot.edit_message_text(
            status_text(lang, generation, stage, model_title=app.model(generation.model).title, **params),
            chat_id=generation.chat_id,
            message_id=generation.status_message_id,
        )
    except TelegramBadRequest as error:
        if "not modified" not in error.message:
            log.warning("generation.status.not_shown", generation_id=generation.id, stage=stage, error=error.message)
    except TelegramAPIError as error:
        # The status line is a courtesy; the step it reports on goes on regardless.
        log.warning("generation.status.not_shown", generation_id=generation.id, stage=stage, error=str(error))


async def fail(app: App, generation_id: int, reason: Reason) -> None:
    """Fail an unfinished generation and refund it, both once; tell the user (again, if asked twice)."""
    async with app.pool.acquire() as conn, conn.transaction():
        failed = await db_generations.fail(conn, generation_id, reason.for_operator())
        if failed is not None:
            await db_users.apply_credits(conn, failed.user_id, failed.price, "refund", str(failed.id))
    generation = failed or await db_generations.get(app.pool, generation_id)
    if generation is None or generation.status != "failed":
        return
    if failed is not None:
        log.warning(
            "generation.failed",
            generation_id=generation.id,
            reason=reason.key,
            detail=reason.detail,
            refunded=generation.price,
        )
    user = await db_users.get(app.pool, generation.user_id)
    await show(app, generation, "failed", force=True, reason=reason, credits=user["credits"] if user else 0)
