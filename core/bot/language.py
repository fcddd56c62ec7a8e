"""/language: the user picks the language they read; it is stored in users.language, which later
updates never overwrite, and their chat's command menu follows."""

from __future__ import annotations

import asyncpg
from aiogram import Router
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message

from core.bot.menus import chat_menu
from core.pipeline.services import App
from core.telegram.outbox import Outbox
from core.ui.keyboards import SetLanguage, language_keyboard
from core.ui.texts import LANGUAGES, text
from db import users as db_users


def build_language_router() -> Router:
    """The language buttons; /language itself is routed with the other user commands."""
    router = Router(name="language")
    router.callback_query.register(on_pick_language, SetLanguage.filter())
    return router


async def on_language(message: Message, lang: str, out: Outbox) -> None:
    out.add(message.answer(text(lang, "language_prompt"), reply_markup=language_keyboard(LANGUAGES)))


async def on_pick_language(
    callback: CallbackQuery,
    callback_data: SetLanguage,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    out: Outbox,
) -> None:
    chosen = callback_data.language
    if chosen not in LANGUAGES:
        out.add(callback.answer())
        return
    await db_users.set_language(db, user["id"], chosen)
    out.add(callback.answer())
    if isinstance(callback.message, Message):
        out.add(callback.message.edit_text(text(chosen, "language_set")))
    else:
        out.add(SendMessage(chat_id=user["id"], text=text(chosen, "language_set")))
    out.add(chat_menu(app, user["id"], chosen))
