"""The user commands: /start, /balance, /help, /history, /cancel, and the reply to one we do not
know. /buy and /terms (core/bot/payments.py), /subscription (core/bot/subscriptions.py), /support
and /paysupport (core/bot/support.py), /privacy and /deletemydata (core/bot/privacy.py), /language
(core/bot/language.py), /notifications (core/bot/notifications.py), /app (core/bot/miniapp.py),
/invite (core/bot/invite.py) and /redeem (core/bot/promo.py) are routed here too, so one check sends
every plain message past all of them."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from core.bot.invite import on_invite, welcome_invitee
from core.bot.language import on_language
from core.bot.miniapp import on_app
from core.bot.notifications import on_notifications
from core.bot.payments import on_buy, on_terms
from core.bot.privacy import on_deletemydata, on_privacy
from core.bot.promo import on_redeem, redeem
from core.bot.proposals import drop_current_draft
from core.bot.subscriptions import on_subscription
from core.bot.support import on_support
from core.bot.turn import Turn
from core.growth import inviter_of, promo_code_of
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
    so a photo whose caption starts with "/" falls through to the photo handler as before. A command
    none of them takes goes on to the admins' router, then to the unknown-command reply."""
    router = Router(name="commands")
    router.message.filter(has_command_text)
    router.message.register(on_start, CommandStart())
    router.message.register(on_balance, Command("balance"))
    router.message.register(on_help, Command("help"))
    router.message.register(on_buy, Command("buy"))
    router.message.register(on_subscription, Command("subscription"))
    router.message.register(on_history, Command("history"))
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_language, Command("language"))
    router.message.register(on_support, Command("support", "paysupport"))
    router.message.register(on_terms, Command("terms"))
    router.message.register(on_privacy, Command("privacy"))
    router.message.register(on_deletemydata, Command("deletemydata"))
    router.message.register(on_app, Command("app"))
    router.message.register(on_notifications, Command("notifications"))
    router.message.register(on_invite, Command("invite"))
    router.message.register(on_redeem, Command("redeem"))
    return router


def build_unknown_command_router() -> Router:
    """The reply to a command nobody handled: after the admins' commands, which it would shadow."""
    router = Router(name="unknown")
    router.message.register(on_unknown_command, is_command)
    return router


async def on_start(message: Message, command: CommandObject, turn: Turn) -> None:
    """The welcome; the starter credits once per user; and what the deep link's payload brings: an
    invitation (attributed at first contact only) or a promo code (redeemed, answered on its own)."""
    settings, user, lang = turn.app.settings, turn.user, turn.lang
    payload = command.args or ""
    starter = settings.product.starter_credits
    balance, extras = user.credits, []
    if starter > 0 and (granted := await db_users.apply_credits(turn.db, user.id, starter, "starter", str(user.id))):
        balance = granted
        extras.append(text(lang, "welcome_starter", starter=starter))
    inviter = inviter_of(payload)
    if inviter is not None and (welcomed := await welcome_invitee(turn, inviter)) is not None:
        balance = welcomed
        extras.append(text(lang, "welcome_invited", welcome=settings.growth.referral_welcome))
    welcome = text(
        lang,
        "welcome",
        name=message.from_user.first_name if message.from_user else "",
        credits=balance,
        min_price=min(m.price for m in settings.product.video_models.values()),
    )
    turn.out.add(message.answer("\n\n".join([welcome, *extras])))
    code = promo_code_of(payload)
    if code is not None:
        await redeem(message, turn, code)


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
    items = [(g.id, g.finished_at, g.idea, g.preset) for g in finished]
    keyboard = history_keyboard(lang, items, turn.app.settings.growth.presets)
    turn.out.add(message.answer(text(lang, "history"), reply_markup=keyboard))


async def on_unknown_command(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "unknown_command")))
