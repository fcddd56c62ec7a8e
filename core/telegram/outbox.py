"""Replies a handler makes, sent once its update has committed.

A handler never calls Telegram itself: it adds Bot API methods here (``out.add(message.answer(...))``)
and the update processor sends them after the transaction, with no connection held. So a slow or
rate-limited Telegram never holds a row lock or a pooled connection, and a handler that fails sends
nothing half-done (its outbox is dropped with its writes). The price is a small window: a process
killed between the commit and the send loses those replies, never the state they describe.

``ReplySender`` sends outboxes in background tasks, so the webhook answers as soon as the update
committed and a 429 waited out in a reply delays nobody else's update. Replies to one chat still go
out in the order of their updates (each waits for the chat's previous one); the tasks are tracked
and awaited at shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import TelegramMethod

from core.telegram.context import replying
from core.telegram.replies import EditOrSend, not_modified

log = structlog.get_logger("telegram")

Then = Callable[[Any], Awaitable[None]]


class Deferred(Protocol):
    """A reply that decides what to send only after the commit, when a network call may be made (a
    proposal checked by moderation first): ``send`` returns what it sent, or None."""

    __api_method__: ClassVar[str]  # what the outbox's logs call it

    async def send(self, bot: Bot) -> Any: ...


Reply = TelegramMethod[Any] | EditOrSend | Deferred


@dataclass(slots=True)
class Outbox:
    items: list[tuple[Reply, Then | None]] = field(default_factory=list)

    def add(self, method: Reply, then: Then | None = None) -> None:
        """Send ``method`` after the commit; ``then`` gets its result (e.g. to record a message id)."""
        self.items.append((method, then))

    def clear(self) -> None:
        self.items.clear()

    async def flush(self, bot: Bot) -> list[Reply]:
        """Send everything in order; returns the methods Telegram refused (a bad request)."""
        refused: list[Reply] = []
        items, self.items = self.items, []
        for method, then in items:
            try:
                result = await (bot(method) if isinstance(method, TelegramMethod) else method.send(bot))
            except TelegramForbiddenError:
                continue  # the session middleware marked the user as blocked
            except TelegramBadRequest as error:
                if not not_modified(error):
                    log.warning("telegram.reply_refused", method=method.__api_method__, error=error.message)
                    refused.append(method)
                continue
            except TelegramAPIError as error:
                log.warning("telegram.reply_failed", method=method.__api_method__, error=str(error))
                continue
            if then is not None:
                await then(result)
        return refused


class ReplySender:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[int, asyncio.Task[None]] = {}  # per chat: the replies that must go out first

    def spawn(self, chat_id: int | None, send: Callable[[], Awaitable[None]]) -> None:
        """Run ``send`` in the background, after the chat's earlier replies."""
        previous = self._last.get(chat_id) if chat_id is not None else None
        task = asyncio.create_task(self._run(previous, send), name="telegram.replies")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if chat_id is not None:
            self._last[chat_id] = task
            task.add_done_callback(lambda done: self._last.pop(chat_id) if self._last.get(chat_id) is done else None)

    async def settled(self) -> None:
        """Wait until every reply spawned so far (and any they spawn) went out."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace_s: float) -> None:
        """At shutdown: let replies in flight finish for up to ``grace_s``, then drop the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(list(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("telegram.replies.dropped", updates=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)

    @staticmethod
    async def _run(previous: asyncio.Task[None] | None, send: Callable[[], Awaitable[None]]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        replying.set(True)  # this task's own context: the session middleware treats these as replies
        try:
            await send()
        except Exception as error:
            log.error("telegram.replies.failed", error=str(error) or type(error).__name__, exc_info=error)
