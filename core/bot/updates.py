"""Applying one Telegram update, exactly once, whether it came by webhook or by polling.

Each update runs in one database transaction that first records its update_id: a redelivered
update finds its id taken and is skipped, and a handler's writes commit together with that record
or not at all. The webhook answers 200 only after the commit, so Telegram redelivers whatever a
crash interrupted. A handler that raises has its writes rolled back; the update is then recorded
as failed (so Telegram does not redeliver a poisoned update forever) and the user gets an apology.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update

from core.bot import texts
from core.bot.context import current_db
from core.queue.outcomes import describe
from db import telegram as db_telegram

log = structlog.get_logger("telegram.update")

# The database is unreachable: nothing was applied, Telegram should redeliver later.
DB_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)

_USER_KEY = 0x55534552  # "USER": advisory locks that serialise one user's updates across processes


@dataclass(frozen=True, slots=True)
class Origin:
    kind: str
    user_id: int | None
    chat_id: int | None
    language_code: str | None


def origin(update: Update) -> Origin:
    kind = update.event_type
    event = update.event
    user = getattr(event, "from_user", None)
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    return Origin(
        kind,
        user.id if user else None,
        chat.id if chat else None,
        user.language_code if user else None,
    )


class UpdateProcessor:
    def __init__(self, pool: asyncpg.Pool, dispatcher: Dispatcher, bot: Bot, *, messages_per_minute: int) -> None:
        self._pool = pool
        self._dispatcher = dispatcher
        self._bot = bot
        self._messages_per_minute = messages_per_minute

    async def process(self, update: Update) -> str:
        """Apply one update; returns what happened. Raises only when the database is unreachable."""
        started = asyncio.get_running_loop().time()
        who = origin(update)
        with structlog.contextvars.bound_contextvars(update_id=update.update_id, user_id=who.user_id):
            async with self._pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        outcome = await self._apply(conn, update, who)
                except DB_UNAVAILABLE:
                    raise
                except Exception as error:
                    outcome = "failed"
                    log.error("telegram.update.failed", kind=who.kind, error=describe(error), exc_info=error)
                    await db_telegram.set_update_outcome(
                        conn, update.update_id, who.user_id, who.kind, outcome, describe(error)
                    )
                    await self._apologise(who)
            log.info(
                "telegram.update.applied",
                kind=who.kind,
                outcome=outcome,
                duration_ms=round((asyncio.get_running_loop().time() - started) * 1000, 1),
            )
        return outcome

    async def _apply(self, conn: asyncpg.Connection, update: Update, who: Origin) -> str:
        if who.user_id is not None:
            await conn.execute("SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))", _USER_KEY, str(who.user_id))
        if not await db_telegram.claim_update(conn, update.update_id, who.user_id, who.kind):
            return "duplicate"
        if who.kind == "message" and who.user_id is not None:
            recent = await db_telegram.recent_messages(conn, who.user_id)
            if recent > self._messages_per_minute:
                await db_telegram.set_update_outcome(conn, update.update_id, who.user_id, who.kind, "rate_limited")
                if recent == self._messages_per_minute + 1:  # say it once, not to every message
                    await self._say(who, "rate_limited")
                return "rate_limited"
        token = current_db.set(conn)
        try:
            await self._dispatcher.feed_update(self._bot, update, db=conn)
        finally:
            current_db.reset(token)
        return "handled"

    async def _apologise(self, who: Origin) -> None:
        await self._say(who, "error")

    async def _say(self, who: Origin, key: str) -> None:
        if who.chat_id is None:
            return
        try:
            await self._bot.send_message(who.chat_id, texts.text(texts.language(who.language_code), key))
        except TelegramAPIError as error:
            log.warning("telegram.reply_failed", key=key, error=str(error))
