"""The command menus, and their only owner: every setMyCommands the bot sends is built here.

- The default scope without a language: the full English menu, which every language we do not
  speak reads (a ``de`` user sees /buy, /paysupport and /terms too).
- The default scope per language we speak (language_code ``en``, ``ru``).
- Each admin's own chat (BotCommandScopeChat): the user menu plus the admin commands, so nobody else
  ever sees them; and a user's chat after /language (``chat_menu``, sent by core/bot/language.py).
- The chat's menu button (setChatMenuButton, default for every chat): opens the Mini App, when
  PUBLIC_BASE_URL is https.

Set in the background at start, all at once, each retried with backoff while Telegram cannot be
reached or answers something that is not the Bot API (an HTML 502 page, a body that is not JSON):
a menu is a convenience, never a reason to wait or not to start. Telegram keeps one menu
per (scope, language), so the order the answers land in does not matter; nobody else sets one.
"""

from __future__ import annotations

import asyncio

import structlog
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SetChatMenuButton, SetMyCommands, TelegramMethod
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiohttp import web

from core.backoff import Backoff
from core.bot.miniapp import app_url
from core.pipeline.services import App
from core.tasks import Starter
from core.ui.keyboards import app_menu_button
from core.ui.texts import DEFAULT_LANGUAGE, LANGUAGES, text, user_language
from db import users as db_users

log = structlog.get_logger("telegram")

USER_COMMANDS: tuple[str, ...] = ("start", "app", "help", "balance", "buy", "subscription", "history", "cancel")
USER_COMMANDS += ("language",)
USER_COMMANDS += ("support", "paysupport", "terms", "privacy", "deletemydata")
USER_COMMANDS += ("invite", "redeem")
USER_COMMANDS += ("notifications",)
ADMIN_COMMANDS: tuple[str, ...] = ("stats", "user", "grant", "ban", "unban", "gen", "job", "retry", "refund")
ADMIN_COMMANDS += ("broadcast", "broadcast_cancel", "tickets", "close")
ADMIN_COMMANDS += ("promo",)
MENU_BACKOFF = Backoff(base=1.0, cap=30.0, jitter=0)  # a menu Telegram could not take yet
TASK = "telegram.menus"


def commands(lang: str, *, admin: bool = False) -> list[BotCommand]:
    names = USER_COMMANDS + (ADMIN_COMMANDS if admin else ())
    return [BotCommand(command=name, description=text(lang, f"cmd_{name}")) for name in names]


def chat_menu(app: App, chat_id: int, lang: str) -> SetMyCommands:
    """The menu of one private chat, in the language its user chose."""
    return SetMyCommands(
        commands=commands(lang, admin=chat_id in app.settings.telegram.admin_ids),
        scope=BotCommandScopeChat(chat_id=chat_id),
    )


def default_menus() -> list[SetMyCommands]:
    """Everyone's menu: English for any language we do not speak, and one per language we do."""
    menus = [SetMyCommands(commands=commands(DEFAULT_LANGUAGE), scope=BotCommandScopeDefault())]
    menus += [
        SetMyCommands(commands=commands(lang), scope=BotCommandScopeDefault(), language_code=lang) for lang in LANGUAGES
    ]
    return menus


class CommandMenus:
    """A web component: sets the menus in the background at start; ``set_up_done`` once each was
    taken or refused."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.set_up_done = asyncio.Event()
        self._supervisor: Starter | None = None

    def add_routes(self, web_app: web.Application) -> None:
        """No routes."""

    async def start(self, supervisor: Starter) -> None:
        self._supervisor = supervisor
        supervisor.start(TASK, self.set_up)

    async def set_up(self) -> None:
        menus = default_menus()
        for admin_id in self.app.settings.telegram.admin_ids:
            admin = await db_users.get(self.app.pool, admin_id)
            menus.append(chat_menu(self.app, admin_id, user_language(admin)))
        methods: list[TelegramMethod[bool]] = [*menus]
        url = app_url(self.app)
        if url is not None:  # the chat's menu button opens the Mini App (Telegram takes only https)
            methods.append(SetChatMenuButton(menu_button=app_menu_button(url)))
        await asyncio.gather(*(self._send(method) for method in methods))
        self.set_up_done.set()

    async def _send(self, menu: TelegramMethod[bool]) -> None:
        failures = 0
        while True:
            try:
                await self.app.bot(menu)
                return
            except TelegramRetryAfter as error:
                await asyncio.sleep(error.retry_after)
            except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as error:
                # ClientDecodeError: an HTML 502 page or a body that is no Bot API JSON (Telegram's front
                # in its bad minutes, or an emulator): the same as unreachable, never a failed start.
                failures += 1
                delay = MENU_BACKOFF.delay(failures)
                log.warning("telegram.menus.unreachable", error=str(error), retry_in_s=delay)
                await asyncio.sleep(delay)
            except TelegramUnauthorizedError:
                return  # the frontend stops the process with the reason
            except TelegramAPIError as error:  # refused: the bot works without this menu
                log.warning("telegram.menus.failed", error=str(error))
                return

    async def stop(self) -> None:
        if self._supervisor is not None and TASK in self._supervisor.tasks:
            await self._supervisor.cancel(TASK)
