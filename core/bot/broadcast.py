"""/broadcast (as a reply to a message): copyMessage to every user who has not blocked the bot.

The recipients are rows (broadcast_recipients), written with the broadcast in the admin's update.
``broadcast.send`` jobs (SENDERS of them, so a 429 sleeping one sender does not stall the others)
each take a slot of the bot-wide pace (app.limiter, 25/s across processes), claim the next
recipient ('sending', committed before the send), copy the message and settle the row. A process
killed mid-send leaves that one row in 'sending': it is never sent again (a miss is better than a
duplicate) and counts as failed. ``broadcast.status`` edits the admin's status message every few
seconds and closes the broadcast when nobody is left; /broadcast_cancel stops the senders at their
next claim.
"""

from __future__ import annotations

import asyncio

import structlog
from aiogram import Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command
from aiogram.methods import CopyMessage, SendMessage
from aiogram.types import CallbackQuery, Message, ReplyParameters

from core.bot.admin import is_admin
from core.bot.turn import Turn
from core.pipeline.services import App
from core.queue import Job, JobSpec, NewJob, Registry, Snooze, enqueue_many
from core.telegram.replies import edit
from core.ui.keyboards import BroadcastSend, broadcast_keyboard
from core.ui.texts import text, user_language
from db import broadcasts as db_broadcasts
from db import users as db_users
from db.broadcasts import Broadcast, Counts

log = structlog.get_logger("broadcast")

SEND, STATUS = "broadcast.send", "broadcast.status"
SENDERS = 4
RUN_BUDGET_S = 50.0  # a sender hands its slot back (Snooze) within its kind's timeout
STATUS_EVERY_S = 3.0
STALE_SENDING_S = 120.0  # a 'sending' row this old belongs to a process that died mid-send


def build_broadcast_router() -> Router:
    router = Router(name="broadcast")
    router.message.filter(is_admin)
    router.message.register(on_broadcast, Command("broadcast"))
    router.message.register(on_broadcast_cancel, Command("broadcast_cancel"))
    router.callback_query.register(on_broadcast_tap, BroadcastSend.filter())  # behind the admin router's check
    return router


def status_text(lang: str, broadcast_id: int, state: str, counts: Counts) -> str:
    return text(
        lang,
        "admin_broadcast_status",
        id=broadcast_id,
        state=text(lang, f"broadcast_{state}"),
        sent=counts.sent,
        failed=counts.failed,
        blocked=counts.blocked,
        total=counts.total,
    )


async def on_broadcast(message: Message, turn: Turn) -> None:
    """/broadcast as a reply: a preview first (a reply to that message, with how many it would reach)
    with Send and Cancel buttons. Nothing goes out before Send."""
    db, lang, out = turn.db, turn.lang, turn.out
    original = message.reply_to_message
    if original is None:
        out.add(message.answer(text(lang, "admin_broadcast_usage")))
        return
    if await db_broadcasts.running(db) is not None:
        out.add(message.answer(text(lang, "admin_broadcast_busy")))
        return
    preview = text(lang, "admin_broadcast_preview", total=await db_broadcasts.audience(db))
    keyboard = broadcast_keyboard(lang, message.chat.id, original.message_id)
    out.add(
        SendMessage(
            chat_id=message.chat.id,
            text=preview,
            reply_markup=keyboard,
            reply_parameters=ReplyParameters(message_id=original.message_id, allow_sending_without_reply=True),
        )
    )


async def on_broadcast_tap(callback: CallbackQuery, callback_data: BroadcastSend, turn: Turn) -> None:
    """Send or Cancel under a preview. A second tap on Send finds the broadcast running (one at a time)."""
    app, db, lang, out = turn.app, turn.db, turn.lang, turn.out
    out.add(callback.answer())
    if not callback_data.go:
        out.add(SendMessage(chat_id=callback_data.chat, text=text(lang, "admin_broadcast_dropped")))
        return
    created = await db_broadcasts.create(db, turn.user.id, callback_data.chat, callback_data.message)
    if created is None:
        out.add(SendMessage(chat_id=callback_data.chat, text=text(lang, "admin_broadcast_busy")))
        return
    broadcast_id = created.id
    payload = {"broadcast_id": broadcast_id}
    jobs = [NewJob(SEND, {**payload, "sender": n}, unique_key=f"broadcast:{broadcast_id}:{n}") for n in range(SENDERS)]
    jobs.append(NewJob(STATUS, payload, delay=STATUS_EVERY_S, unique_key=f"broadcast:{broadcast_id}:status"))
    await enqueue_many(db, app.registry, jobs)
    log.info("broadcast.created", broadcast_id=broadcast_id, recipients=created.total, admin_id=turn.user.id)
    counts = Counts(sent=0, failed=0, blocked=0, open=created.total, pending=created.total, total=created.total)

    async def remember(sent: Message) -> None:
        await db_broadcasts.set_status_message(app.pool, broadcast_id, sent.message_id)

    status = SendMessage(chat_id=callback_data.chat, text=status_text(lang, broadcast_id, "running", counts))
    out.add(status, then=remember)


async def on_broadcast_cancel(message: Message, turn: Turn) -> None:
    db, lang, out = turn.db, turn.lang, turn.out
    running = await db_broadcasts.running(db)
    if running is None or not await db_broadcasts.finish(db, running.id, "cancelled"):
        out.add(message.answer(text(lang, "admin_broadcast_none")))
        return
    log.info("broadcast.cancelled", broadcast_id=running.id)
    counts = await db_broadcasts.counts(db, running.id)
    out.add(message.answer(status_text(lang, running.id, "cancelled", counts)))


class BroadcastJobs:
    def __init__(self, app: App) -> None:
        self.app = app

    def register(self, registry: Registry) -> Registry:
        registry.add(JobSpec(SEND, self.send, timeout=RUN_BUDGET_S + 60, max_attempts=10, concurrency=SENDERS))
        registry.add(JobSpec(STATUS, self.status, timeout=60, max_attempts=10))
        return registry

    async def send(self, job: Job) -> Snooze | None:
        app, broadcast_id = self.app, job.payload["broadcast_id"]
        broadcast = await db_broadcasts.get(app.pool, broadcast_id)
        if broadcast is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_BUDGET_S
        while loop.time() < deadline:
            await app.limiter.wait()
            # Claim, send and settle as one shielded step: a stop in the middle lets it finish, so a
            # graceful restart leaves nobody in 'sending' (only a killed process does).
            if not await asyncio.shield(asyncio.ensure_future(self._send_next(broadcast))):
                return None  # nobody left, or cancelled
        return Snooze(0)

    async def _send_next(self, broadcast: Broadcast) -> bool:
        user_id = await db_broadcasts.claim(self.app.pool, broadcast.id)
        if user_id is None:
            return False
        outcome = await self._copy(broadcast, user_id)
        await db_broadcasts.settle(self.app.pool, broadcast.id, user_id, outcome)
        return True

    async def _copy(self, broadcast: Broadcast, user_id: int) -> str:
        method = CopyMessage(chat_id=user_id, from_chat_id=broadcast.from_chat_id, message_id=broadcast.message_id)
        try:
            await self.app.bot(method)
        except TelegramRetryAfter:
            return "pending"  # not delivered: someone sends it later
        except TelegramForbiddenError:
            return "blocked"  # the session middleware marked the user
        except TelegramBadRequest as error:
            log.info("broadcast.refused", user_id=user_id, error=error.message)
            return "failed"
        except (TelegramNetworkError, TelegramServerError) as error:
            # It may have gone out: never sent again.
            log.warning("broadcast.unsure", user_id=user_id, error=str(error))
            return "failed"
        return "sent"

    async def status(self, job: Job) -> Snooze | None:
        app, broadcast_id = self.app, job.payload["broadcast_id"]
        broadcast = await db_broadcasts.get(app.pool, broadcast_id)
        if broadcast is None:
            return None
        counts = await db_broadcasts.counts(app.pool, broadcast_id)
        state = broadcast.state
        if state == "running" and counts.pending == 0:
            await db_broadcasts.fail_stale(app.pool, broadcast_id, STALE_SENDING_S)
            counts = await db_broadcasts.counts(app.pool, broadcast_id)
            if counts.open == 0 and await db_broadcasts.finish(app.pool, broadcast_id, "done"):
                state = "done"
                log.info("broadcast.done", broadcast_id=broadcast_id, sent=counts.sent, total=counts.total)
        await self._show(broadcast, state, counts)
        return Snooze(STATUS_EVERY_S) if state == "running" else None

    async def _show(self, broadcast: Broadcast, state: str, counts: Counts) -> None:
        if broadcast.status_message_id is None:
            return
        admin = await db_users.get(self.app.pool, broadcast.admin_id)
        await self.app.limiter.wait()  # the edit is a message too, within the bot-wide pace
        try:
            words = status_text(user_language(admin), broadcast.id, state, counts)
            await edit(self.app.bot, broadcast.admin_id, broadcast.status_message_id, words)
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.info("broadcast.status_not_shown", error=str(error))
