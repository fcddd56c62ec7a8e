"""Every Bot API call goes through here: 429 waits and retries, 403 marks the user as blocked."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import structlog
from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from core import metrics
from core.bot.context import current_db
from db import users as db_users

log = structlog.get_logger("telegram")


class TelegramResilience(BaseRequestMiddleware):
    def __init__(self, pool: asyncpg.Pool, *, max_retries: int = 3, max_wait_s: float = 60.0) -> None:
        self._pool = pool
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
        make_request = metrics.counting_telegram_errors(make_request)
        for attempt in itertools.count(1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                # Telegram says exactly how long to wait; ignoring it gets bots banned.
                if attempt > self._max_retries or error.retry_after > self._max_wait_s:
                    raise
                log.warning(
                    "telegram.rate_limited",
                    method=method.__api_method__,
                    retry_after_s=error.retry_after,
                    attempt=attempt,
                )
                await asyncio.sleep(error.retry_after)
            except TelegramForbiddenError:
                chat_id = getattr(method, "chat_id", None)
                if isinstance(chat_id, int) and chat_id > 0:  # a private chat: its id is the user's
                    # Inside an update, its own connection: locks it holds would deadlock a second one.
                    await db_users.set_blocked(current_db.get() or self._pool, chat_id, True)
                    log.warning("telegram.user_blocked_bot", user_id=chat_id, method=method.__api_method__)
                raise
        raise AssertionError("unreachable")
