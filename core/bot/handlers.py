"""The routing table: which feature router sees an update, in which order. Handlers only touch the
database (through the update's transaction) and queue short replies; anything slow is a job.

Every handler takes a ``turn`` (core/bot/turn.py: the update's connection, the sender as a ``User``,
their language, the outbox, the services; built by the update processor) besides aiogram's own
parameters.

| router        | module                    | handles                                               |
|---------------|---------------------------|-------------------------------------------------------|
| commands      | core/bot/commands.py      | every user command                                    |
| admin         | core/bot/admin.py         | ADMIN_IDS' commands (+ broadcast.py)                  |
| promo_admin   | core/bot/promo.py         | ADMIN_IDS' /promo, behind the admin router's check    |
| unknown       | core/bot/commands.py      | the reply to a command we do not know                 |
| payments      | core/bot/payments.py      | payment service messages, pre-checkout, package buttons |
| subscriptions | core/bot/subscriptions.py | the plan buttons of /buy, Cancel/Resume of a plan     |
| language      | core/bot/language.py      | the language buttons                                  |
| privacy       | core/bot/privacy.py       | the /deletemydata confirmation                        |
| support       | core/bot/support.py       | tickets: the user's message, operators' replies       |
| proposals     | core/bot/proposals.py     | ideas (text, photo), the proposal's buttons           |
| generations   | core/bot/generations.py   | confirm, cancel, resend                               |
| sharing       | core/bot/sharing.py       | inline queries: the user's own videos to share        |
"""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.types import ChatMemberUpdated, Message

from core.bot.admin import build_admin_router
from core.bot.broadcast import build_broadcast_router
from core.bot.commands import build_commands_router, build_unknown_command_router
from core.bot.generations import build_generations_router
from core.bot.language import build_language_router
from core.bot.payments import build_payments_router
from core.bot.privacy import build_privacy_router
from core.bot.promo import build_promo_admin_router
from core.bot.proposals import build_proposals_router
from core.bot.sharing import build_sharing_router
from core.bot.subscriptions import build_subscriptions_router
from core.bot.support import build_support_chat_router, build_support_router, register_operator_handlers
from core.bot.turn import Turn
from db import users as db_users

# Filters are coroutines: aiogram runs a plain-function filter (a MagicFilter such as F.text) in a
# worker thread, one hop per filter per update, which costs more than the whole handler.


async def in_private_chat(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def build_routers() -> list[Router]:
    """The routing table, included straight into the dispatcher: aiogram pays for every router an
    update passes (its outer middlewares wrapped, its filters checked, the keyword arguments copied),
    so the common path is short. A private chat's command reaches its handler two routers down:
    private chats, then the user commands (one check skips them all for a plain message). Then the
    admin commands (one check turns everyone else away), the unknown-command reply, payment service
    messages, a support ticket being written, then ideas, photos and buttons. Of the messages
    outside private chats, only the operators' group (SUPPORT_CHAT_ID) is read."""
    private = Router(name="private")
    private.message.filter(in_private_chat)
    private.my_chat_member.register(on_membership)
    admin = build_admin_router()
    register_operator_handlers(admin)  # answering tickets, /tickets, /close
    admin.include_router(build_broadcast_router())  # behind the admin router's check
    admin.include_router(build_promo_admin_router())
    private.include_routers(
        build_commands_router(),
        admin,
        build_unknown_command_router(),  # after the admins' commands, which it would answer too
        build_payments_router(),
        build_subscriptions_router(),
        build_language_router(),
        build_privacy_router(),
        build_support_router(),  # before ideas: a ticket never becomes a proposal
        build_proposals_router(),
        build_generations_router(),
    )
    # Last: only inline queries reach it, and messages (most updates) never pass through it.
    return [private, build_support_chat_router(), build_sharing_router()]


async def on_membership(event: ChatMemberUpdated, turn: Turn) -> None:
    """A private chat's member update says the user blocked (kicked) or unblocked the bot."""
    if event.chat.type == ChatType.PRIVATE:
        await db_users.set_blocked(turn.db, event.chat.id, event.new_chat_member.status == "kicked")
