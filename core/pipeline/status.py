"""What the user sees of a generation: its one status message, edited at each stage and ticked
sparingly (the refunds in core/pipeline/refunds.py and the steps both show through it)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from core.pipeline.services import App
from core.telegram.replies import edit
from core.ui.progress import Progress, estimate, typical_render_s
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
    if stage == "rendering":
        seconds = params.get("elapsed_s")
        seconds = float(seconds) if isinstance(seconds, int | float) else None
        params = {**params, "progress": await render_progress(app, generation, seconds)}
    view = status_view(lang, generation, stage, model_title=_model_title(app, generation), **params)
    try:
        await edit(app.bot, generation.chat_id, generation.status_message_id, view.text, view.keyboard)
    except TelegramBadRequest as error:
        log.warning("generation.status.not_shown", generation_id=generation.id, stage=stage, error=error.message)
    except TelegramAPIError as error:
        # The status line is a courtesy; the step it reports on goes on regardless.
        log.warning("generation.status.not_shown", generation_id=generation.id, stage=stage, error=str(error))


async def render_progress(app: App, generation: Generation, elapsed_s: float | None = None) -> Progress:
    """How far along a render is, against its model's median render time (cached: RenderMedians);
    ``elapsed_s`` defaults to the time since the provider accepted the task."""
    seconds = elapsed(generation.rendering_at) if elapsed_s is None else elapsed_s
    model = app.settings.product.video_models.get(generation.model)
    typical = typical_render_s(model.family) if model else typical_render_s("")
    return estimate(seconds, await app.render_medians.of(app.pool, generation.model), typical_s=typical)


def _model_title(app: App, generation: Generation) -> str:
    model = app.settings.product.video_models.get(generation.model)
    return model.title if model else generation.model
