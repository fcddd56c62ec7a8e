"""Monthly plans (SUBSCRIPTION_PLANS), sold as Telegram Stars subscriptions.

- /buy shows a button per plan under the packages; a tap makes an invoice link (createInvoiceLink
  with a 30-day subscription_period, core/pipeline/invoices.py) after the update's commit and
  answers with a button that opens it.
- Every charge, the first (``is_first_recurring``) and each renewal (``is_recurring``), is a
  successful_payment carrying the first invoice's payload. core/bot/payments.py credits it as any
  purchase (once per telegram_payment_charge_id, in the update's transaction, so a redelivery
  credits nothing) and calls ``charged`` here, in the same transaction, to keep the subscription's
  expiry. Refunds are the packages' (/refund of a charge id).
- /subscription shows each plan the user has, its next renewal, and Cancel or Resume, which call
  editUserStarSubscription after the commit and write the row only once Telegram took the change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import EditUserStarSubscription, SendMessage
from aiogram.types import CallbackQuery, Message, SuccessfulPayment

from core.bot.turn import Turn
from core.growth import SUBSCRIPTION_PERIOD, Plan
from core.pipeline.invoices import plan_invoice_link
from core.pipeline.services import App
from core.stars import payload_key, read_payload
from core.telegram.replies import edit_or_send
from core.ui.subscriptions import BuyPlan, EditSubscription, status, subscribe_keyboard
from core.ui.texts import text
from db import subscriptions as db_subscriptions
from db.subscriptions import Subscription

log = structlog.get_logger("subscriptions")

SHOWN = 3  # /subscription lists at most this many plans of one user


def build_subscriptions_router() -> Router:
    """The plan buttons under /buy and the Cancel/Resume buttons; /subscription is routed with the
    other user commands, the payments with the packages' (core/bot/payments.py)."""
    router = Router(name="subscriptions")
    router.callback_query.register(on_pick_plan, BuyPlan.filter())
    router.callback_query.register(on_edit, EditSubscription.filter())
    return router


# --- subscribing ----------------------------------------------------------------------------------


async def on_pick_plan(callback: CallbackQuery, callback_data: BuyPlan, turn: Turn) -> None:
    plan = Plan(callback_data.credits, callback_data.stars)
    offered = plan in turn.app.settings.growth.subscription_plans
    turn.out.add(callback.answer(None if offered else text(turn.lang, "plan_gone"), show_alert=not offered))
    if offered:
        turn.out.add(PlanLink(turn.app, turn.user.id, plan, turn.lang))


@dataclass(frozen=True, slots=True)
class PlanLink:
    """The plan's invoice link, made after the commit (a network call), in a message with a button
    that opens it (core/telegram/outbox.py's ``Deferred``)."""

    __api_method__: ClassVar[str] = "createInvoiceLink"

    app: App
    user_id: int
    plan: Plan
    lang: str

    async def send(self, bot: Bot) -> Message:
        try:
            link = await plan_invoice_link(self.app, self.user_id, self.plan, self.lang)
        except TelegramAPIError as error:
            log.warning("subscription.link_failed", error=str(error))
            return await bot(SendMessage(chat_id=self.user_id, text=text(self.lang, "plan_link_failed")))
        words = text(self.lang, "plan_link", credits=self.plan.credits, stars=self.plan.stars)
        keyboard = subscribe_keyboard(self.lang, self.plan, link)
        return await bot(SendMessage(chat_id=self.user_id, text=words, reply_markup=keyboard))


async def second_subscription(turn: Turn, payload: str) -> str | None:
    """At pre-checkout, once the payload passed the checks: a plan the buyer already has running under
    another link is refused (a second subscription would charge them twice a month); None otherwise.
    One query, for plans only."""
    signed = read_payload(payload_key(turn.app.settings.telegram.token), payload)
    if signed is None or not signed.monthly:
        return None
    plan = signed.package
    running = await db_subscriptions.running(turn.db, turn.user.id, plan.credits, plan.stars, payload)
    return "plan_running" if running else None


# --- charges --------------------------------------------------------------------------------------


async def charged(turn: Turn, paid: SuccessfulPayment, plan: Plan, balance: int | None) -> str:
    """A plan's charge, just credited in this update's transaction: keep the subscription's expiry;
    the receipt. ``plan`` is what the signed payload names (credits and stars a month), so a plan
    withdrawn from SUBSCRIPTION_PLANS still gets what its subscribers pay for."""
    first = bool(paid.is_first_recurring) or not paid.is_recurring
    # Telegram sends the expiry with every subscription charge; the fallback only guards a payload
    # paid some other way.
    expires_at = datetime.fromtimestamp(paid.subscription_expiration_date or time.time() + SUBSCRIPTION_PERIOD, UTC)
    charge_id = paid.telegram_payment_charge_id
    subscription = await db_subscriptions.charged(
        turn.db, turn.user.id, paid.invoice_payload, plan.credits, plan.stars, charge_id, expires_at, first=first
    )
    log.info("subscription.charged", subscription_id=subscription.id, charge_id=charge_id, first=first)
    key = "subscription_started" if first else "subscription_renewed"
    renews = subscription.expires_at
    return text(turn.lang, key, credits=plan.credits, balance=balance, renews=renews, charge_id=charge_id)


# --- /subscription --------------------------------------------------------------------------------


async def on_subscription(message: Message, turn: Turn) -> None:
    """Each running plan with its button; with none running, the one that ended last."""
    subscriptions = await db_subscriptions.of_user(turn.db, turn.user.id, SHOWN)
    now = datetime.now(UTC)
    running = [s for s in subscriptions if s.expires_at > now] or subscriptions[:1]
    if not running:
        turn.out.add(message.answer(text(turn.lang, "subscription_none")))
    for subscription in running:
        words, keyboard = status(turn.lang, subscription, now)
        turn.out.add(message.answer(words, reply_markup=keyboard))


async def on_edit(callback: CallbackQuery, callback_data: EditSubscription, turn: Turn) -> None:
    subscription = await db_subscriptions.get(turn.db, callback_data.id, turn.user.id)
    if subscription is None or subscription.expires_at <= datetime.now(UTC):
        turn.out.add(callback.answer(text(turn.lang, "subscription_gone"), show_alert=True))
        return
    turn.out.add(callback.answer())
    message_id = callback.message.message_id if callback.message else None
    turn.out.add(Renewal(turn.app, subscription, callback_data.cancel, turn.lang, message_id))


@dataclass(frozen=True, slots=True)
class Renewal:
    """Cancel or resume a subscription's renewal: Telegram first (editUserStarSubscription, after the
    commit), then the row, then the status message shows what now holds."""

    __api_method__: ClassVar[str] = "editUserStarSubscription"

    app: App
    subscription: Subscription
    cancel: bool
    lang: str
    message_id: int | None  # the status message to edit

    async def send(self, bot: Bot) -> Message | None:
        sub, chat_id = self.subscription, self.subscription.user_id
        edit = EditUserStarSubscription(
            user_id=chat_id, telegram_payment_charge_id=sub.charge_id, is_canceled=self.cancel
        )
        try:
            await bot(edit)
        except TelegramAPIError as error:  # refused, or unreachable past the session's retries: nothing written
            log.warning("subscription.edit_refused", subscription_id=sub.id, cancel=self.cancel, error=error.message)
            return await bot(SendMessage(chat_id=chat_id, text=text(self.lang, "subscription_edit_failed")))
        async with self.app.pool.acquire() as conn:
            updated = await db_subscriptions.set_canceled(conn, sub.id, chat_id, self.cancel)
        log.info("subscription.edited", subscription_id=sub.id, canceled=self.cancel)
        words, keyboard = status(self.lang, updated or sub, datetime.now(UTC))
        return await edit_or_send(bot, chat_id, self.message_id, words, keyboard)
