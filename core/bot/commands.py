"""The user commands: /start, /balance, /help, /history, /cancel, and the reply to one we do not
know. /buy and /terms (core/bot/payments.py), /support and /paysupport (core/bot/support.py),
/privacy and /deletemydata (core/bot/privacy.py), /language (core/bot/language.py) and /app
(core/bot/miniapp.py) are routed
here too, so one check sends every plain message past all of them."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from core.bot.language import on_language
from core.bot.miniapp import on_app
from core.bot.payments import on_buy, on_terms
from core.bot.privacy import on_deletemydata, on_privacy
from core.bot.proposals import drop_current_draft
from core.bot.support import on_support
from core.bot.turn import Turn
from core.ui.keyboards import history_keyboard
from core.ui.texts import text
from db import generations as db_generations
from db import users as db_users

HISTORY_SIZE = 10


# Filters are coroutines: aiogram runs a plain-function filter in a worker thread (core/bot/handlers.py).


async def is_command(message: Message) -> bool:
    return (message.text or "").startswith("/")


async def has_command_text(message: Message) -> bool:
    return (message.text or message.caption or "").startswith("/")


def build_commands_router() -> Router:
    """User commands, the most used first. A caption such as "/start" under a photo counts as a
    command (aiogram's Command reads captions too); the unknown-command reply is for text only,
    so a photo whose caption starts with "/" falls through to the photo handler as before."""
    router = Router(name="commands")
    router.message.filter(has_command_text)
    router.message.register(on_start, CommandStart())
    router.message.register(on_balance, Command("balance"))
    router.message.register(on_help, Command("help"))
    router.message.register(on_buy, Command("buy"))
    router.message.register(on_history, Command("history"))
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_language, Command("language"))
    router.message.register(on_support, Command("support", "paysupport"))
    router.message.register(on_terms, Command("terms"))
    router.message.register(on_privacy, Command("privacy"))
    router.message.register(on_deletemydata, Command("deletemydata"))
    router.message.register(on_app, Command("app"))
    router.message.register(on_unknown_command, is_command)
    return router


async def on_start(message: Message, turn: Turn) -> None:
    settings, user, lang = turn.app.settings, turn.user, turn.lang
    starter = settings.product.starter_credits
    granted = starter > 0 and (await db_users.apply_credits(turn.db, user.id, starter, "starter", str(user.id)))
    credits = granted if granted is not None and granted is not False else user.credits
    lines = [
        text(
            lang,
            "welcome",
            name=message.from_user.first_name if message.from_user else "",
            credits=credits,
            min_price=min(m.price for m in settings.product.video_models.values()),
        )
    ]
    if granted:
        lines.append(text(lang, "welcome_starter", starter=starter))
    turn.out.add(message.answer("\n\n".join(lines)))


async def on_help(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "help")))


async def on_balance(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "balance", credits=turn.user.credits)))


async def on_cancel(message: Message, turn: Turn, state: FSMContext) -> None:
    dropped = await drop_current_draft(turn, state)
    await state.clear()
    turn.out.add(message.answer(text(turn.lang, "cancelled" if dropped else "nothing_to_cancel")))


async def on_history(message: Message, turn: Turn) -> None:
    lang = turn.lang
    finished = await db_generations.history(turn.db, turn.user.id, HISTORY_SIZE)
    if not finished:
        turn.out.add(message.answer(text(lang, "history_empty")))
        return
    items = [(g.id, g.finished_at, g.idea) for g in finished]
    turn.out.add(message.answer(text(lang, "history"), reply_markup=history_keyboard(lang, items)))


async def on_unknown_command(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "unknown_command")))
