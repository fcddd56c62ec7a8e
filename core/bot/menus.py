"""The command menus: users' per language (setMyCommands with language_code), the admins' with the
admin commands in their own chats only (BotCommandScopeChat), so nobody else ever sees them."""

from __future__ import annotations

import structlog
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import SetMyCommands
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiohttp import web

from core.pipeline.services import App
from core.tasks import Starter
from core.ui.texts import DEFAULT_LANGUAGE, LANGUAGES, text, user_language
from db import users as db_users

log = structlog.get_logger("telegram")

USER_COMMANDS: tuple[str, ...] = ("start", "help", "balance", "buy", "history", "cancel", "language")
USER_COMMANDS += ("paysupport", "terms")
ADMIN_COMMANDS: tuple[str, ...] = ("stats", "user", "grant", "ban", "unban", "gen", "job", "retry", "refund")
ADMIN_COMMANDS += ("broadcast", "broadcast_cancel")


def commands(lang: str, *, admin: bool = False) -> list[BotCommand]:
    names = USER_COMMANDS + (ADMIN_COMMANDS if admin else ())
    return [BotCommand(command=name, description=text(lang, f"cmd_{name}")) for name in names]


def chat_menu(app: App, chat_id: int, lang: str) -> SetMyCommands:
    """The menu of one private chat, in the language its user chose."""
    return SetMyCommands(
        commands=commands(lang, admin=chat_id in app.settings.telegram.admin_ids),
        scope=BotCommandScopeChat(chat_id=chat_id),
    )


class CommandMenus:
    """A web component: sets the menus at start, after the frontend."""

    def __init__(self, app: App) -> None:
        self.app = app

    def add_routes(self, web_app: web.Application) -> None:
        """No routes."""

    async def start(self, supervisor: Starter) -> None:
        # Without language_code: every other language reads the English menu (this replaces the
        # frontend's shorter one).
        menus = [SetMyCommands(commands=commands(DEFAULT_LANGUAGE), scope=BotCommandScopeDefault())]
        menus += [
            SetMyCommands(commands=commands(lang), scope=BotCommandScopeDefault(), language_code=lang)
            for lang in LANGUAGES
        ]
        for admin_id in self.app.settings.telegram.admin_ids:
            admin = await db_users.get(self.app.pool, admin_id)
            menus.append(chat_menu(self.app, admin_id, user_language(admin)))
        for menu in menus:
            try:
                await self.app.bot(menu)
            except TelegramAPIError as error:  # a menu is a convenience: never a reason not to start
                log.warning("telegram.menus.failed", error=str(error))

    async def stop(self) -> None:
        """Nothing to stop."""
