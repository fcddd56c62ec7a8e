"""What a person reads and taps about monthly plans: the plan buttons under /buy, the invoice link's
button, and /subscription's status with its Cancel or Resume button."""

from __future__ import annotations

from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.growth import Plan
from core.ui.texts import text
from db.subscriptions import Subscription


class BuyPlan(CallbackData, prefix="plan"):
    credits: int
    stars: int


class EditSubscription(CallbackData, prefix="sub"):
    id: int  # subscriptions.id: a charge id may not fit in a button's 64 bytes
    cancel: bool  # True: cancel the renewal; False: resume it


def with_plans(keyboard: InlineKeyboardMarkup, lang: str, plans: tuple[Plan, ...]) -> InlineKeyboardMarkup:
    """/buy's package buttons, then one button per plan."""
    rows = [
        [
            InlineKeyboardButton(
                text=text(lang, "button_plan", credits=p.credits, stars=p.stars),
                callback_data=BuyPlan(credits=p.credits, stars=p.stars).pack(),
            )
        ]
        for p in plans
    ]
    return InlineKeyboardMarkup(inline_keyboard=[*keyboard.inline_keyboard, *rows])


def subscribe_keyboard(lang: str, plan: Plan, link: str) -> InlineKeyboardMarkup:
    """The invoice link, opened by Telegram as its payment sheet."""
    label = text(lang, "button_subscribe", stars=plan.stars)
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, url=link)]])


def status(lang: str, subscription: Subscription, now: datetime) -> tuple[str, InlineKeyboardMarkup | None]:
    """A subscription as /subscription shows it: renewing (Cancel), cancelled but still running
    (Resume), or ended (no button)."""
    fields = {"credits": subscription.credits, "stars": subscription.stars, "renews": subscription.expires_at}
    if subscription.expires_at <= now:
        return text(lang, "subscription_ended", **fields), None
    key, button = ("subscription_canceled", "button_subscription_resume")
    if not subscription.canceled:
        key, button = ("subscription_active", "button_subscription_cancel")
    data = EditSubscription(id=subscription.id, cancel=not subscription.canceled).pack()
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text(lang, button), callback_data=data)]]
    )
    return text(lang, key, **fields), keyboard
