"""Applying one Telegram update, exactly once, whether it came by webhook or by polling.

Each update runs in one database transaction that first records its update_id: a redelivered
update finds its id taken and is skipped, and a handler's writes commit together with that record
or not at all. The webhook answers 200 only after the commit, so Telegram redelivers whatever a
crash interrupted. A handler that raises has its writes rolled back; the update is then recorded
as failed (so Telegram does not redeliver a poisoned update forever) and the user gets an apology.
An update aiogram cannot read (a type newer than our aiogram, a field that fails validation) is
recorded as skipped and acknowledged, so it can never stall the webhook or the polling loop.

Payments are the exception: a Stars payment is money already taken, so it is never dropped. It
skips the per-user message rate limit and the ban, and when its handler fails the error goes up
(the webhook answers 500, polling restarts) with nothing recorded, so Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import SendMessage
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from pydantic import ValidationError

from core import errors, metrics
from core.bot.fsm import PostgresStorage
from core.bot.sharing import newcomer_answer
from core.bot.support import reaches_support
from core.bot.turn import Turn
from core.pipeline.services import App
from core.queue.outcomes import describe
from core.telegram.context import current_db, fsm_cache
from core.telegram.outbox import Outbox, ReplySender
from core.ui import texts
from db import telegram as db_telegram
from db import users as db_users
from db.errors import UNAVAILABLE
from db.pool import Conn
from db.users import User

log = structlog.get_logger("telegram.update")

# The database is unreachable: nothing was applied, Telegram should redeliver later.
DB_UNAVAILABLE = UNAVAILABLE


@dataclass(frozen=True, slots=True)
class Origin:
    kind: str
    user_id: int | None  # None for updates without a (human) sender
    chat_id: int | None
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


PAYMENT = "payment"  # a message carrying successful_payment or refunded_payment
MONEY = frozenset({PAYMENT, "pre_checkout_query"})
RESERVED_FOR_MONEY = 2  # pooled connections ordinary updates leave free
# What a banned user may still do: pay (and be credited), be told at checkout, block the bot, and
# reach a human (core/bot/support.py reaches_support).
# What counts against the per-user budget: messages and button taps alike (a tap costs a reply too).
# A flooding user's inline queries are refused too, but never counted: the client sends one per pause
# in typing, and searching one's videos must not use up the budget for messages (update_begin).
RATE_LIMITED = frozenset({"message", "callback_query", "inline_query"})
BAN_EXEMPT = frozenset({PAYMENT, "pre_checkout_query", "my_chat_member"})


def update_id_of(raw: dict[str, Any]) -> int | None:
    """The update_id of a body that claims to be an update; None when it has no usable one."""
    value = raw.get("update_id")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None


def read_update(raw: dict[str, Any], bot: Bot) -> Update | str:
    """The update, or why aiogram cannot take it (its validation error, an unknown update type)."""
    try:
        update = Update.model_validate(raw, context={"bot": bot})
        update.event_type  # noqa: B018 - raises for a type this aiogram does not know
    except (ValidationError, UpdateTypeLookupError) as error:
        return describe(error)
    return update


def raw_kind(raw: dict[str, Any]) -> str:
    """The update's type as Telegram named it: its one key besides update_id."""
    return next((str(key)[:64] for key in raw if key != "update_id"), "unknown")


def origin(update: Update) -> Origin:
    event = update.event
    user = getattr(event, "from_user", None)
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    chat_id = chat.id if chat else None
    kind = update.event_type
    message = update.message
    if message is not None and (message.successful_payment or message.refunded_payment):
        kind = PAYMENT
    if user is None or user.is_bot:
        return Origin(kind, None, chat_id)
    return Origin(kind, user.id, chat_id, user.username, user.first_name, user.language_code)


class UpdateProcessor:
    def __init__(self, pool: asyncpg.Pool, dispatcher: Dispatcher, bot: Bot, *, messages_per_minute: int) -> None:
        self._pool = pool
        self._dispatcher = dispatcher
        self._bot = bot
        self._app: App | None = dispatcher.get("app")  # the services in each Turn: Dispatcher(app=...)
        self._messages_per_minute = messages_per_minute
        # Ordinary updates queue here for their connection; a few are always left to money updates,
        # so a pre-checkout (10 s deadline) or a payment never waits behind a flood of messages.
        self._ordinary = asyncio.Semaphore(max(1, pool.get_max_size() - RESERVED_FOR_MONEY))
        self.replies = ReplySender()

    def _gate(self, who: Origin) -> contextlib.AbstractAsyncContextManager[object]:
        return contextlib.nullcontext() if who.kind in MONEY else self._ordinary

    async def process_raw(self, raw: dict[str, Any]) -> str | None:
        """Validate and apply one update as JSON; None when it is no update at all (no update_id).
        Raises only when the database is unreachable."""
        update_id = update_id_of(raw)
        if update_id is None:
            return None
        update = read_update(raw, self._bot)
        if isinstance(update, str):
            return await self.skip(update_id, raw, update)
        return await self.process(update)

    async def skip(self, update_id: int, raw: dict[str, Any], reason: str) -> str:
        """Record an update we cannot apply as skipped, so it is acknowledged and never stalls us."""
        kind = raw_kind(raw)
        await db_telegram.skip_update(self._pool, update_id, kind, reason, bot_id=self._bot.id)
        log.warning("telegram.update.skipped", update_id=update_id, kind=kind, error=reason)
        return "skipped"

    async def process(self, update: Update) -> str:
        """Apply one update; returns what happened. Raises only when the database is unreachable."""
        started = asyncio.get_running_loop().time()
        who = origin(update)
        out = Outbox()
        with structlog.contextvars.bound_contextvars(update_id=update.update_id, user_id=who.user_id):
            async with self._gate(who), self._pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        outcome = await self._apply(conn, update, who, out)
                except DB_UNAVAILABLE:
                    raise
                except Exception as error:
                    if who.kind == PAYMENT:
                        log.error("telegram.payment.failed", error=describe(error), exc_info=error)
                        raise  # nothing recorded: Telegram redelivers it
                    outcome = "failed"
                    log.error("telegram.update.failed", kind=who.kind, error=describe(error), exc_info=error)
                    errors.report(error, update_type=who.kind)
                    await db_telegram.set_update_outcome(
                        conn, update.update_id, who.user_id, who.kind, outcome, describe(error), bot_id=self._bot.id
                    )
                    out.clear()  # nothing half-done goes out
                    self._say(out, who, "error")
            # After the commit and with the connection back in the pool, in the background: Telegram
            # may be slow or ask us to wait, and neither must hold the webhook's answer.
            if out.items:
                self.replies.spawn(who.chat_id, lambda: self._send(out, who, outcome))
            log.info(
                "telegram.update.applied",
                kind=who.kind,
                outcome=outcome,
                duration_ms=round((asyncio.get_running_loop().time() - started) * 1000, 1),
            )
            metrics.update_applied(who.kind, outcome)
        return outcome

    async def _send(self, out: Outbox, who: Origin, outcome: str) -> None:
        if await out.flush(self._bot) and outcome != "failed":
            self._say(out, who, "error")  # the reply was refused: the user is owed a word
            await out.flush(self._bot)

    async def _apply(self, conn: Conn, update: Update, who: Origin, out: Outbox) -> str:
        fsm_key = PostgresStorage.key(StorageKey(self._bot.id, who.chat_id or 0, who.user_id or 0))
        start = await db_telegram.begin_update(
            conn,
            update.update_id,
            who.user_id,
            who.kind,
            who.username,
            who.first_name,
            who.language_code,
            fsm_key,
            texts.language(who.language_code),
            bot_id=self._bot.id,
        )
        if not start.first:
            return "duplicate"
        if who.kind in RATE_LIMITED and start.recent_messages > self._messages_per_minute:
            await db_telegram.set_update_outcome(
                conn, update.update_id, who.user_id, who.kind, "rate_limited", bot_id=self._bot.id
            )
            if start.recent_messages == self._messages_per_minute + 1:  # say it once, not to every message
                self._say(out, who, "rate_limited")
            return "rate_limited"
        user = start.user
        if user is not None and self._banned(user, who, update, start.fsm_state):
            await db_telegram.set_update_outcome(
                conn, update.update_id, who.user_id, who.kind, "banned", bot_id=self._bot.id
            )
            if await db_users.take_ban_notice(conn, user.id):  # one polite reply a day, nothing else
                out.add(SendMessage(chat_id=user.id, text=texts.text(texts.user_language(user), "banned")))
            return "banned"
        if user is None and update.inline_query is not None:  # a stranger: update_begin made no row for them
            out.add(newcomer_answer(update.inline_query, texts.language(who.language_code)))
            return "handled"
        # An update without a (human) sender reaches no handler that takes a turn.
        context: dict[str, Turn] = {}
        if user is not None and self._app is not None:
            context["turn"] = Turn(conn, user, texts.user_language(user), out, self._app)
        db_token = current_db.set(conn)
        fsm_token = fsm_cache.set({fsm_key: (start.fsm_state, start.fsm_data or {})})
        try:
            await self._dispatcher.feed_update(self._bot, update, **context)
        finally:
            fsm_cache.reset(fsm_token)
            current_db.reset(db_token)
        return "handled"

    @staticmethod
    def _banned(user: User, who: Origin, update: Update, fsm_state: str | None) -> bool:
        """The user is banned and this update is none of the few a ban lets through."""
        if user.banned_at is None or who.kind in BAN_EXEMPT:
            return False
        return not reaches_support(update, fsm_state)

    @staticmethod
    def _say(out: Outbox, who: Origin, key: str) -> None:
        if who.chat_id is not None:
            out.add(SendMessage(chat_id=who.chat_id, text=texts.text(texts.language(who.language_code), key)))
