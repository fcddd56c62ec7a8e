"""Check before paying: a new proposal goes out only once OpenAI's moderation passed its idea and photo.

The check is a network call (and the photo's download), so it never runs in the update's
transaction: the handler creates the draft as ever and queues a ``CheckedProposal`` in its outbox,
which checks after the commit, with no connection held, and then sends the proposal or a polite
refusal. Until then the draft has no buttons on screen, so nothing can confirm it: a refused idea
costs no charge, no prompt and no render. A refusal discards the draft and counts one flag on the
user (``/user`` shows it). A check that cannot be made lets the proposal go out, with a warning:
KIE moderates what it renders too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import structlog
from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import Message

from core import metrics
from core.pipeline.media import download_photo
from core.pipeline.services import App
from core.providers.moderation import ModerationError, Moderator, Verdict
from core.queue import Cancel, TransientError
from core.ui.texts import text
from db import generations as db_generations
from db import users as db_users
from db.generations import Generation

log = structlog.get_logger("moderation")


@dataclass(frozen=True, slots=True)
class CheckedProposal:
    """The proposal, sent after the commit once moderation passed it (core/telegram/outbox.py's
    ``Deferred``); returns the proposal's message, or None when it was refused."""

    __api_method__: ClassVar[str] = "sendMessage"

    app: App
    moderator: Moderator
    draft: Generation
    lang: str
    proposal: SendMessage

    async def send(self, bot: Bot) -> Message | None:
        verdict = await check(self.app, self.moderator, self.draft)
        if verdict is not None and verdict.flagged:
            await refuse(self.app, self.draft, verdict)
            await bot(SendMessage(chat_id=self.draft.chat_id, text=text(self.lang, "moderation_refused")))
            return None
        return await bot(self.proposal)


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
