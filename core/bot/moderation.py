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

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import Message

from core.pipeline.moderation import check, refuse
from core.pipeline.services import App
from core.providers.moderation import Moderator
from core.ui.texts import text
from db.generations import Generation


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
