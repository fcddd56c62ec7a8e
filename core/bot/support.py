"""The support desk in the chat: /support, /paysupport or the "Contact support" button make the
user's next message a ticket; the operators answer by replying to it.

A ticket goes to SUPPORT_CHAT_ID (the operators' group) when set, else to every ADMIN_IDS' private
chat: a header (who, balance, last payments and generations) and a copy of the message
(copyMessage: text, photo, anything Telegram can copy). The words are never stored; the copies'
message ids are (ticket_messages), written once Telegram answered the send, so an operator's reply
to either finds the ticket. The reply is copied into the user's chat and the ticket is answered.

One unresolved ticket per user: writing to support again while one is open or answered adds the
message to it (its header says so) and opens it again. The message is an ordinary message of the
update, so it counts against the per-user flood limit like any other, and everything goes out
through the outbox, after the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.methods import CopyMessage, SendMessage
from aiogram.types import CallbackQuery, Message, Update

from core.bot.turn import Turn
from core.pipeline.services import App
from core.ui.keyboards import ContactSupport, support_keyboard
from core.ui.texts import DEFAULT_LANGUAGE, text, user_language
from db import admin as db_admin
from db import support as db_support
from db import users as db_users
from db.support import Ticket

RECENT = 3  # payments and generations in a ticket's header
SUPPORT_COMMANDS = frozenset({"/support", "/paysupport"})
LISTED = 20  # tickets /tickets shows


class Support(StatesGroup):
    writing = State()  # the next message is a ticket


# Filters are coroutines: aiogram runs a plain-function filter in a worker thread (core/bot/handlers.py).


async def writing_ticket(message: Message, state: FSMContext) -> bool:
    return await state.get_state() == Support.writing.state


async def is_support_chat(message: Message, app: App) -> bool:
    support_chat_id = app.settings.telegram.support_chat_id
    return support_chat_id is not None and message.chat.id == support_chat_id


async def is_admin(message: Message, app: App) -> bool:
    return message.from_user is not None and message.from_user.id in app.settings.telegram.admin_ids


async def answers_ticket(message: Message, turn: Turn) -> dict[str, Ticket] | bool:
    """A reply to a ticket's header or copy in this chat: the ticket, for the handler. A command
    sent as a reply (/close 3 under the ticket) is a command, not an answer."""
    replied = message.reply_to_message
    if replied is None or (message.text or "").startswith("/"):
        return False
    ticket = await db_support.for_message(turn.db, message.chat.id, replied.message_id)
    return {"ticket": ticket} if ticket is not None else False


def build_support_router() -> Router:
    """The user's side, in their private chat: the ticket message and the button. Routed after the
    commands (so /cancel, /balance still work while writing) and before ideas (a ticket never
    becomes a video proposal)."""
    router = Router(name="support")
    router.message.register(on_ticket_message, writing_ticket)
    router.callback_query.register(on_contact_button, ContactSupport.filter())
    return router


def register_operator_handlers(router: Router) -> None:
    """The operators' side: a reply to a ticket, /tickets, /close (behind the router's own check)."""
    router.message.register(on_tickets, Command("tickets"), is_admin)
    router.message.register(on_close, Command("close"), is_admin)
    router.message.register(on_ticket_reply, answers_ticket)


def build_support_chat_router() -> Router:
    """Messages in the operators' group (SUPPORT_CHAT_ID): replies to tickets and the admins'
    /tickets and /close. Anything else there is ignored: it is not a private chat with a user."""
    router = Router(name="support_chat")
    router.message.filter(is_support_chat)
    register_operator_handlers(router)
    router.message.register(ignore)
    return router


async def ignore(message: Message) -> None:
    """Small talk among operators is not for the bot."""


# --- the user's side ------------------------------------------------------------------------------


def reaches_support(update: Update, fsm_state: str | None) -> bool:
    """Whether an update is on its way to a human: /support, /paysupport, the "Contact support"
    button, or the ticket message after them. A ban lets these through (core/bot/updates.py): a
    banned user may still dispute a payment or the ban, and Telegram expects sellers to answer."""
    if update.callback_query is not None:
        return update.callback_query.data == ContactSupport().pack()
    message = update.message
    if message is None or message.chat.type != "private":
        return False
    first = (message.text or "").split(maxsplit=1)[0] if message.text else ""
    if first.startswith("/"):  # a command while writing is a command, not the ticket
        return first.split("@")[0] in SUPPORT_COMMANDS
    return fsm_state == Support.writing.state


async def on_support(message: Message, turn: Turn, state: FSMContext) -> None:
    """/support and /paysupport: the next message is the ticket."""
    await state.set_state(Support.writing)
    turn.out.add(message.answer(text(turn.lang, "support_write")))


async def on_contact_button(callback: CallbackQuery, turn: Turn, state: FSMContext) -> None:
    await state.set_state(Support.writing)
    turn.out.add(callback.answer())
    turn.out.add(SendMessage(chat_id=turn.user.id, text=text(turn.lang, "support_write")))


async def on_ticket_message(message: Message, turn: Turn, state: FSMContext) -> None:
    await state.set_state(None)  # only the next message; the proposal on screen (state data) stays
    opened = await db_support.open_ticket(turn.db, turn.user.id)
    header = await _header(message, turn, opened)
    for chat_id, lang in await _destinations(turn):
        record = _recorder(turn.app, chat_id, opened.id)
        turn.out.add(SendMessage(chat_id=chat_id, text=header(lang)), record)
        turn.out.add(CopyMessage(chat_id=chat_id, from_chat_id=message.chat.id, message_id=message.message_id), record)
    key = "support_received" if opened.created else "support_added"
    turn.out.add(message.answer(text(turn.lang, key, id=opened.id)))


async def _destinations(turn: Turn) -> list[tuple[int, str]]:
    """Where tickets go, each with the language its reader reads."""
    telegram = turn.app.settings.telegram
    if telegram.support_chat_id is not None:
        return [(telegram.support_chat_id, DEFAULT_LANGUAGE)]
    return [(admin, user_language(await db_users.get(turn.db, admin))) for admin in telegram.admin_ids]


async def _header(message: Message, turn: Turn, opened: db_support.Opened) -> Callable[[str], str]:
    user = turn.user
    sender = message.from_user
    payments = await db_support.recent_payments(turn.db, user.id, RECENT)
    generations = await db_admin.recent_generations(turn.db, user.id, RECENT)

    def words(lang: str) -> str:
        return ticket_text(lang) + _banned_line(lang, user)

    def ticket_text(lang: str) -> str:
        none = text(lang, "admin_none")
        return text(
            lang,
            "support_ticket" if opened.created else "support_ticket_more",
            id=opened.id,
            user_id=user.id,
            username=f"@{sender.username}" if sender and sender.username else "",
            language=user.language or user.language_code or "?",
            credits=user.credits,
            payments="\n".join(
                f"{p.created_at:%Y-%m-%d} {p.stars}⭐ +{p.credits} {p.charge_id}" + (" ↩️" if p.refunded_at else "")
                for p in payments
            )
            or none,
            generations="\n".join(f"#{g.id} {g.status} {g.model} {g.price}" for g in generations) or none,
        )

    return words


def _banned_line(lang: str, user: db_users.User) -> str:
    """A banned user may still write (reaches_support): the operators should know who they answer."""
    if user.banned_at is None:
        return ""
    return "\n" + text(lang, "support_ticket_banned", day=f"{user.banned_at:%Y-%m-%d}")


def _recorder(app: App, chat_id: int, ticket_id: int) -> Callable[[Any], Awaitable[None]]:
    """After the send: remember where the message landed, so a reply to it finds the ticket."""

    async def record(sent: Any) -> None:
        await db_support.add_message(app.pool, chat_id, sent.message_id, ticket_id)

    return record


# --- the operators' side --------------------------------------------------------------------------


async def on_ticket_reply(message: Message, ticket: Ticket, turn: Turn) -> None:
    """An operator's reply, copied into the user's chat with the button to write back."""
    user = await db_users.get(turn.db, ticket.user_id)
    await db_support.mark_answered(turn.db, ticket.id)
    turn.out.add(
        CopyMessage(
            chat_id=ticket.user_id,
            from_chat_id=message.chat.id,
            message_id=message.message_id,
            reply_markup=support_keyboard(user_language(user)),
        )
    )
    turn.out.add(message.reply(text(turn.lang, "support_answer_sent", id=ticket.id, user_id=ticket.user_id)))


async def on_tickets(message: Message, turn: Turn) -> None:
    tickets = await db_support.open_tickets(turn.db, LISTED)
    lines = [
        f"#{t.id} {t.user_id}" + (f" @{t.username}" if t.username else "") + f" {t.updated_at:%Y-%m-%d %H:%M}"
        for t in tickets
    ]
    turn.out.add(message.answer(text(turn.lang, "support_open_tickets", tickets="\n".join(lines) or "—")))


async def on_close(message: Message, command: CommandObject, turn: Turn) -> None:
    raw = (command.args or "").strip().removeprefix("#")
    if not raw.isdigit() or len(raw) > 18:
        turn.out.add(message.answer(text(turn.lang, "admin_usage", usage="/close <ticket id>")))
        return
    assert message.from_user is not None  # is_admin let it through
    user_id = await db_support.close(turn.db, int(raw), message.from_user.id)
    if user_id is None:
        turn.out.add(message.answer(text(turn.lang, "support_not_open", id=raw)))
        return
    user = await db_users.get(turn.db, user_id)
    turn.out.add(SendMessage(chat_id=user_id, text=text(user_language(user), "support_closed", id=raw)))
    turn.out.add(message.answer(text(turn.lang, "support_closed_admin", id=raw)))
