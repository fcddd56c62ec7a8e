"""/language: the user picks the language they read; it is stored in users.language, which later
updates never overwrite, and their chat's command menu follows."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from core.bot.menus import chat_menu
from core.bot.turn import Turn
from core.telegram.replies import EditOrSend
from core.ui.keyboards import SetLanguage, language_keyboard
from core.ui.texts import LANGUAGES, text
from db import users as db_users


def build_language_router() -> Router:
    """The language buttons; /language itself is routed with the other user commands."""
    router = Router(name="language")
    router.callback_query.register(on_pick_language, SetLanguage.filter())
    return router


async def on_language(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "language_prompt"), reply_markup=language_keyboard(LANGUAGES)))


async def on_pick_language(callback: CallbackQuery, callback_data: SetLanguage, turn: Turn) -> None:
    chosen, user_id = callback_data.language, turn.user.id
    if chosen not in LANGUAGES:
        turn.out.add(callback.answer())
        return
    await db_users.set_language(turn.db, user_id, chosen)
    turn.out.add(callback.answer())
    turn.out.add(EditOrSend.under(callback, text(chosen, "language_set")))
    turn.out.add(chat_menu(turn.app, user_id, chosen))
