"""Moderation's verdict on a draft before anyone can pay for it: the chat's proposal
(core/bot/moderation.py) and the Mini App's create both ask here, outside any transaction (it is a
network call, and the photo's download). A check that cannot be made lets the draft through, with a
warning: KIE moderates what it renders too."""

from __future__ import annotations

import structlog

from core import metrics
from core.pipeline.media import download_photo
from core.pipeline.services import App
from core.providers.moderation import ModerationError, Moderator, Verdict
from core.queue import Cancel, TransientError
from db import generations as db_generations
from db import users as db_users
from db.generations import Generation

log = structlog.get_logger("moderation")


async def check(app: App, moderator: Moderator, draft: Generation) -> Verdict | None:
    """Moderation's verdict on the draft's idea and photo; None when none could be had."""
    photo = None
    if draft.photo_file_id:
        try:
            photo = await download_photo(app.bot, draft.photo_file_id)
        except (Cancel, TransientError) as error:
            log.warning("moderation.photo_unavailable", generation_id=draft.id, error=str(error))
    try:
        verdict = await moderator.check(draft.idea, photo)
    except ModerationError as error:
        metrics.moderated("error")
        log.warning(
            "moderation.unavailable",
            generation_id=draft.id,
            error=str(error),
            note="the proposal goes out unchecked (KIE moderates too)",
        )
        return None
    metrics.moderated("flagged" if verdict.flagged else "clean")
    return verdict


async def refuse(app: App, draft: Generation, verdict: Verdict) -> None:
    """The draft is gone and the user has one more flag. The user's row first, then the draft's,
    as an update's transaction takes them (tests/test_lock_order.py)."""
    log.info("moderation.flagged", generation_id=draft.id, categories=list(verdict.categories))
    async with app.pool.acquire() as conn, conn.transaction():
        await db_users.count_moderation_flag(conn, draft.user_id)
        await db_generations.discard(conn, draft.id, draft.user_id)
