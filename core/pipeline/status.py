"""What the user sees of a generation: its one status message, edited at each stage and ticked
sparingly (the refunds in core/pipeline/refunds.py and the steps both show through it)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from core.pipeline.services import App
from core.telegram.replies import edit
from core.ui.status import status_view
from core.ui.texts import user_language
from db import generations as db_generations
from db import users as db_users
from db.generations import Generation

log = structlog.get_logger("generation")

# Progress edits of one generation (the elapsed render time, the place in line) are at least this
# far apart; moves to a new stage always show. Telegram allows about 30 messages a second across all
# chats, so 500 renders at once must not each tick every few seconds.
EDIT_INTERVAL_S = 15.0


def elapsed(since: datetime | None) -> float:
    """Seconds since ``since`` (0 when it never happened)."""
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
    if user is None or user.blocked_at is not None:
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
    model = app.settings.product.video_models.get(generation.model)
    return model.title if model else generation.model
