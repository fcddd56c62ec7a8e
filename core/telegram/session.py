"""Every Bot API call goes through here: the sending budget, 429s, and users who blocked the bot.

Where a call comes from decides how it is treated (``context.replying``):
- a **reply** to an update, sent by the outbox after the commit in a background task that holds no
  connection: it counts against the budget but never waits for it, and a 429 backs off that chat
  alone, then waits ``retry_after`` (up to ``max_wait_s``, ``max_retries`` times) and retries; the
  webhook has long been answered. The chat's later replies wait out the back-off before they go.
- anything else (**jobs**, start-up): a message waits for a slot of the shared budget, and a 429
  pauses every bulk send of the process and is raised at once, so a job's consumer is not held
  asleep; a bulk send to a chat under back-off is refused the same way before it is sent: the
  queue retries the job at exactly ``retry_after`` without counting it toward the circuit breaker
  (``job_error`` in core/runtime/jobs.py, given to the queue).
A 403 marks the user as blocked either way.
"""

from __future__ import annotations

import asyncio
import itertools
import math

import asyncpg
import structlog
from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from core import metrics
from core.telegram.context import current_db, replying
from core.telegram.limiter import ChatBackoff, SendLimiter, slot_taken
from db import users as db_users

log = structlog.get_logger("telegram")


def is_message(api_method: str) -> bool:
    """A call Telegram counts against the bot's ~30 messages a second."""
    return api_method.startswith(("send", "edit", "copy", "forward")) and api_method != "sendChatAction"


class TelegramResilience(BaseRequestMiddleware):
    def __init__(
        self,
        pool: asyncpg.Pool,
        limiter: SendLimiter | None = None,
        *,
        max_retries: int = 3,
        max_wait_s: float = 60.0,
    ) -> None:
        self._pool = pool
        self._limiter = limiter
        self.chats = limiter.chats if limiter is not None else ChatBackoff()
        self._max_retries = max_retries
        self._max_wait_s = max_wait_s
        self._response_types: dict[type, type] = {}

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        if type(method) not in self._response_types:
            # aiogram parses every answer as Response[T], and pydantic keeps such generic models only
            # weakly: without a reference held here each call builds the model anew (measured: a
            # tenth of the webhook's CPU).
            self._response_types[type(method)] = Response[method.__returning__]  # type: ignore[name-defined]
        is_reply = replying.get()
        chat_id = getattr(method, "chat_id", None)
        chat_id = chat_id if isinstance(chat_id, int) else None
        if (wait := self.chats.remaining(chat_id)) > 0:
            if not is_reply:  # a job is retried then, its consumer free meanwhile
                raise TelegramRetryAfter(method=method, message="chat backed off", retry_after=math.ceil(wait))
            await asyncio.sleep(wait)
        await self._pace(method, is_reply)
        for attempt in itertools.count(1):
            try:
                try:
                    return await make_request(bot, method)
                except Exception as error:
                    # Counted here, not by wrapping make_request: a wrapper per call cost a tenth of a reply.
                    metrics.telegram_error(method.__api_method__, error)
                    raise
            except TelegramRetryAfter as error:
                # Telegram says exactly how long to wait; ignoring it gets bots banned.
                log.warning(
                    "telegram.rate_limited",
                    method=method.__api_method__,
                    retry_after_s=error.retry_after,
                    attempt=attempt,
                    reply=is_reply,
                )
                if is_reply and chat_id is not None:
                    self.chats.back_off(chat_id, error.retry_after)  # this chat waits, nobody else
                elif self._limiter is not None and is_message(method.__api_method__):
                    self._limiter.pause(error.retry_after)  # no bulk send until Telegram allows it
                if not is_reply or attempt > self._max_retries or error.retry_after > self._max_wait_s:
                    raise
                await asyncio.sleep(error.retry_after)
            except TelegramForbiddenError:
                if chat_id is not None and chat_id > 0:  # a private chat: its id is the user's
                    # Inside an update, its own connection: locks it holds would deadlock a second one.
                    await db_users.set_blocked(current_db.get() or self._pool, chat_id, True)
                    log.warning("telegram.user_blocked_bot", user_id=chat_id, method=method.__api_method__)
                raise
        raise AssertionError("unreachable")

    async def _pace(self, method: TelegramMethod[TelegramType], is_reply: bool) -> None:
        if self._limiter is None or not is_message(method.__api_method__):
            return
        if is_reply:
            self._limiter.note_reply()
            return
        if slot_taken.get():  # the caller took this send's slot already
            slot_taken.set(False)
            return
        await self._limiter.wait()
        slot_taken.set(False)  # spent on this send
