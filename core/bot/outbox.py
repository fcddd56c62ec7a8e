"""Replies a handler makes, sent once its update has committed.

A handler never calls Telegram itself: it adds Bot API methods here (``out.add(message.answer(...))``)
and the update processor sends them after the transaction, with no connection held. So a slow or
rate-limited Telegram never holds a row lock or a pooled connection, and a handler that fails sends
nothing half-done (its outbox is dropped with its writes). The price is a small window: a process
killed between the commit and the send loses those replies, never the state they describe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import TelegramMethod

log = structlog.get_logger("telegram")

Then = Callable[[Any], Awaitable[None]]


@dataclass(slots=True)
class Outbox:
    items: list[tuple[TelegramMethod[Any], Then | None]] = field(default_factory=list)

    def add(self, method: TelegramMethod[Any], then: Then | None = None) -> None:
        """Send ``method`` after the commit; ``then`` gets its result (e.g. to record a message id)."""
        self.items.append((method, then))

    def clear(self) -> None:
        self.items.clear()

    async def flush(self, bot: Bot) -> list[TelegramMethod[Any]]:
        """Send everything in order; returns the methods Telegram refused (a bad request)."""
        refused: list[TelegramMethod[Any]] = []
        items, self.items = self.items, []
        for method, then in items:
            try:
                result = await bot(method)
            except TelegramForbiddenError:
                continue  # the session middleware marked the user as blocked
            except TelegramBadRequest as error:
                if "not modified" not in error.message:
                    log.warning("telegram.reply_refused", method=method.__api_method__, error=error.message)
                    refused.append(method)
                continue
            except TelegramAPIError as error:
                log.warning("telegram.reply_failed", method=method.__api_method__, error=str(error))
                continue
            if then is not None:
                await then(result)
        return refused
