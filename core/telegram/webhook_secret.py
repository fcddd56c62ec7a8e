"""The secret Telegram sends with every webhook post (X-Telegram-Bot-Api-Secret-Token).

WEBHOOK_SECRET, when set, is the secret. Unset, the first process of the bot to start generates one
and stores it (``bot_secrets``, migration 0018); every later process, and every other process
starting at the same moment, reads that one back, so all of them check the same header. It used to
be derived from the bot token, which gave it away to anyone holding the token.
"""

from __future__ import annotations

import secrets

from core.logging import scrubber
from db import telegram as db_telegram
from db.jobs import Executor

SECRET_BYTES = 48  # token_urlsafe: 64 characters of A-Z a-z 0-9 _ -, Telegram's set (1-256 allowed)


def generate() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


async def resolve_webhook_secret(db: Executor, bot_id: int, configured: str | None) -> str:
    """WEBHOOK_SECRET, else the stored one, else a fresh one stored now. Whichever it is, the log
    scrubber learns it before anything can print it."""
    secret = configured or await _stored_or_new(db, bot_id)
    scrubber.update([secret])
    return secret


async def _stored_or_new(db: Executor, bot_id: int) -> str:
    stored = await db_telegram.stored_webhook_secret(db, bot_id)
    if stored is not None:
        return stored
    fresh = generate()
    if await db_telegram.store_webhook_secret(db, bot_id, fresh):
        return fresh
    # Another process stored its own between the two statements: theirs is the bot's.
    winner = await db_telegram.stored_webhook_secret(db, bot_id)
    assert winner is not None, "bot_secrets rows are never deleted"
    return winner
