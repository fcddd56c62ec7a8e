"""One update's context, handed to every handler as ``turn``: its connection, its sender, their
language, its outbox and the services.

The update processor (core/bot/updates.py) reads the sender's row with the update's first statement
and passes the pieces to aiogram; ``TurnMiddleware`` packs them once per update into a ``Turn``,
so a handler reads ``turn.user.credits`` rather than four loose parameters and a row by string key.
Nothing here queries: the context is built from what the update already read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiogram import BaseMiddleware, Router
from aiogram.types import TelegramObject

from core.pipeline.services import App
from core.telegram.outbox import Outbox
from db.users import User


@dataclass(frozen=True, slots=True)
class Turn:
    db: asyncpg.Connection  # the update's transaction: writes commit with the update or not at all
    user: User  # the sender, as the update's first statement left them
    lang: str  # the catalogue language they read
    out: Outbox  # replies, sent after the commit
    app: App


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class TurnMiddleware(BaseMiddleware):
    """Adds ``turn`` to what handlers receive, for updates with a (human) sender; an update without
    one reaches no handler that takes a ``turn``."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("user")
        if user is not None:
            data["turn"] = Turn(data["db"], user, data["lang"], data["out"], data["app"])
        return await handler(event, data)

    def install(self, router: Router, *event_types: str) -> None:
        """Before the router's filters, for each event type its handlers take a ``turn`` in."""
        for event_type in event_types:
            router.observers[event_type].outer_middleware(self)
