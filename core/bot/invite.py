"""Invitations (issue 16, part 1): /invite, attribution at /start, and the inviter's bonus.

A new user who opens ``https://t.me/<bot>?start=r<id>`` (core/growth.py) is attributed to that
inviter at first contact only: in the update that created their row (sql/referrals.sql,
referral_attribute). Their own link, a link opened by someone the bot already knew, or a payload
that is no invitation changes nothing. REFERRAL_WELCOME credits go to the new user then.

The inviter earns REFERRAL_BONUS once per invitee, in the transaction that credits the invitee's
first Stars purchase (``pay_referral_bonus``, called by the payment handler; a subscription's first
charge can call it the same way), and is told. A free account never mints credits for anyone.
"""

from __future__ import annotations

import structlog
from aiogram.methods import SendMessage
from aiogram.types import Message

from core.bot.turn import Turn
from core.growth import invite_link
from core.telegram.outbox import Outbox
from core.ui.keyboards import invite_keyboard
from core.ui.texts import text, user_language
from db import referrals as db_referrals
from db import users as db_users
from db.pool import Conn

log = structlog.get_logger("growth")


async def on_invite(message: Message, turn: Turn) -> None:
    lang, growth = turn.lang, turn.app.settings.growth
    link = invite_link(await turn.app.bot_username(), turn.user.id)
    stats = await db_referrals.stats(turn.db, turn.user.id)
    reward = text(lang, "invite_reward", bonus=growth.referral_bonus) if growth.referral_bonus > 0 else ""
    if growth.referral_welcome > 0:
        reward += text(lang, "invite_welcome", welcome=growth.referral_welcome)
    answer = text(lang, "invite", reward=reward, link=link, joined=stats.joined, earned=stats.earned)
    turn.out.add(message.answer(answer, reply_markup=invite_keyboard(lang, link)))


async def welcome_invitee(turn: Turn, inviter_id: int) -> int | None:
    """Attribute the sender to ``inviter_id`` if this is their first contact; the new balance when
    REFERRAL_WELCOME credits were granted for it, else None."""
    if not await db_referrals.attribute(turn.db, turn.user.id, inviter_id):
        return None
    log.info("referral.attributed", inviter_id=inviter_id)
    welcome = turn.app.settings.growth.referral_welcome
    if welcome <= 0:
        return None
    return await db_users.apply_credits(turn.db, turn.user.id, welcome, "referral_welcome", str(turn.user.id))


async def pay_referral_bonus(
    db: Conn, invitee_id: int, charge_id: str, *, bonus: int, invitee_name: str, out: Outbox
) -> bool:
    """Call in the transaction that credits a purchase of ``invitee_id`` (charge ``charge_id``): pays
    their inviter ``bonus`` credits if this is the first, and queues the inviter's notice in ``out``.
    True when paid now; redelivered or later purchases pay nothing."""
    if bonus <= 0:
        return False
    inviter = await db_referrals.pay_bonus(db, invitee_id, bonus, charge_id)
    if inviter is None:
        return False
    log.info("referral.bonus_paid", inviter_id=inviter.id, invitee_id=invitee_id, bonus=bonus, charge_id=charge_id)
    if inviter.blocked_at is None:
        notice = text(
            user_language(inviter), "referral_bonus_paid", name=invitee_name, bonus=bonus, balance=inviter.credits
        )
        out.add(SendMessage(chat_id=inviter.id, text=notice))
    return True
