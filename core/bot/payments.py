"""Credits for Telegram Stars: /buy, the invoice, pre-checkout, the payment itself, refunds.

A payment is credited in the transaction of its update: the ``payments`` row (unique per
telegram_payment_charge_id) and the ledger entry ('purchase', charge id) commit together, so a
redelivered or concurrent copy of the same payment credits nothing and sends no second receipt.
When crediting fails, the update processor lets the error reach Telegram (500), which delivers the
payment again; nothing is recorded as failed (core/bot/updates.py). The buyer credited is always
the payer (``from_user``), never an id read from the payload. A monthly plan's charges (first and
renewals) are credited here the same way; core/bot/subscriptions.py keeps the subscription's row.
The buyer's first credited purchase (a package or a plan's first charge) also pays their inviter's
bonus, once, in the same transaction (core/bot/invite.py): it locks the inviter's row after the
buyer's, and an inviter always joined before their invitee, so two such payments never wait on
each other in a circle.

Refunds (policy in README, "Money"): an admin's /refund queues a ``payment.refund`` job that calls
refundStarPayment (retried; CHARGE_ALREADY_REFUNDED counts as done) and then takes the package's
credits back. Whichever comes first, that job or Telegram's refunded_payment message, takes them;
the other finds the payment refunded and takes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from aiogram import Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery

from core.bot import subscriptions
from core.bot.invite import pay_referral_bonus
from core.bot.turn import Turn
from core.growth import Plan
from core.pipeline.invoices import package_invoice
from core.pipeline.nudges import after_invoice
from core.pipeline.services import App
from core.queue import Cancel, Job, JobSpec, Registry
from core.stars import CURRENCY, Package, check_pre_checkout, payload_key, read_payload, refund_take
from core.ui.keyboards import BuyPackage, packages_keyboard, support_keyboard
from core.ui.subscriptions import with_plans
from core.ui.texts import text, user_language
from db import generations as db_generations
from db import nudges as db_nudges
from db import payments as db_payments
from db import users as db_users
from db.pool import Conn

log = structlog.get_logger("payments")

REFUND = "payment.refund"
ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


async def carries_payment(message: Message) -> bool:
    return message.successful_payment is not None or message.refunded_payment is not None


async def has_successful_payment(message: Message) -> bool:
    return message.successful_payment is not None


def build_payments_router() -> Router:
    """Payment service messages, pre-checkout, the package buttons. The commands (/buy, /terms) are
    routed with the other user commands (core/bot/commands.py)."""
    router = Router(name="payments")
    router.message.filter(carries_payment)  # one check for every other message
    router.message.register(on_successful_payment, has_successful_payment)
    router.message.register(on_refunded_payment)
    router.pre_checkout_query.register(on_pre_checkout)
    router.callback_query.register(on_pick_package, BuyPackage.filter())
    return router


# --- buying ---------------------------------------------------------------------------------------


async def on_buy(message: Message, turn: Turn) -> None:
    keyboard = packages_keyboard(turn.lang, turn.app.settings.product.credit_packages)
    keyboard = with_plans(keyboard, turn.lang, turn.app.settings.growth.subscription_plans)
    turn.out.add(message.answer(text(turn.lang, "buy", credits=turn.user.credits), reply_markup=keyboard))


async def on_terms(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "terms")))


async def on_pick_package(callback: CallbackQuery, callback_data: BuyPackage, turn: Turn) -> None:
    package = Package(callback_data.credits, callback_data.stars)
    if package not in turn.app.settings.product.credit_packages:
        turn.out.add(callback.answer(text(turn.lang, "package_gone"), show_alert=True))
        return
    turn.out.add(callback.answer())
    sent = package_invoice(turn.app, turn.user.id, package, turn.lang)
    invoice_id = await db_nudges.record_invoice(turn.db, sent.payload, turn.user.id, package.credits, package.stars)
    await after_invoice(turn.db, turn.app, turn.user.id, invoice_id)  # one reminder if unpaid in an hour
    turn.out.add(sent)


async def on_pre_checkout(query: PreCheckoutQuery, turn: Turn) -> None:
    """Answered from what the update already read (the user row), well within 10 s; a plan's adds one
    query (is it running already?)."""
    settings = turn.app.settings
    refusal = check_pre_checkout(
        payload_key(settings.telegram.token),
        settings.product.credit_packages,
        plans=settings.growth.subscription_plans,
        payload=query.invoice_payload,
        currency=query.currency,
        total_amount=query.total_amount,
        user_id=query.from_user.id,
        banned=turn.user.banned_at is not None,
    )
    if refusal is None:
        refusal = await subscriptions.second_subscription(turn, query.invoice_payload)
    if refusal is None:
        turn.out.add(query.answer(ok=True))
    else:
        log.info("payment.pre_checkout.refused", reason=refusal)
        turn.out.add(query.answer(ok=False, error_message=text(turn.lang, refusal)))


# --- paid -----------------------------------------------------------------------------------------


async def on_successful_payment(message: Message, turn: Turn) -> None:
    db, user = turn.db, turn.user
    paid = message.successful_payment
    assert paid is not None
    signed = read_payload(payload_key(turn.app.settings.telegram.token), paid.invoice_payload)
    credits = signed.package.credits if signed is not None and paid.currency == CURRENCY else 0
    if signed is None or signed.package.stars != paid.total_amount:
        # Telegram took the Stars for a payload we did not sign: keep the payment (refundable), credit nothing.
        log.error("payment.unmatched", charge_id=paid.telegram_payment_charge_id, stars=paid.total_amount)
        credits = 0
    charge_id = paid.telegram_payment_charge_id
    if not await db_payments.record(db, charge_id, user.id, credits, paid.total_amount, paid.invoice_payload):
        log.info("payment.duplicate", charge_id=charge_id)
        return
    await db_nudges.invoice_paid(db, paid.invoice_payload)  # no reminder for it
    balance: int | None = user.credits
    if credits > 0:
        balance = await db_users.apply_credits(db, user.id, credits, "purchase", charge_id)
        if balance is None:
            raise RuntimeError(f"payment {charge_id}: recorded now but credited before")
    log.info("payment.credited", charge_id=charge_id, credits=credits, stars=paid.total_amount)
    receipt = text(turn.lang, "payment_received", credits=credits, balance=balance, charge_id=charge_id)
    if signed is not None and signed.monthly and credits > 0:  # a plan's charge: its subscription too
        plan = Plan(signed.package.credits, signed.package.stars)
        receipt = await subscriptions.charged(turn, paid, plan, balance)
    turn.out.add(message.answer(receipt, reply_markup=support_keyboard(turn.lang)))
    if credits > 0:  # a purchase: if it is the buyer's first, their inviter (if any) is paid, once
        name = message.from_user.first_name if message.from_user else ""
        bonus = turn.app.settings.growth.referral_bonus
        await pay_referral_bonus(db, user.id, charge_id, bonus=bonus, invitee_name=name, out=turn.out)


async def on_refunded_payment(message: Message, turn: Turn) -> None:
    """A refund Telegram made (its support) or confirms (ours): the credits are taken back once."""
    refunded = message.refunded_payment
    assert refunded is not None
    outcome = await take_back(turn.db, refunded.telegram_payment_charge_id, "telegram")
    if isinstance(outcome, TakenBack):
        turn.out.add(message.answer(_refund_notice(turn.lang, outcome)))


@dataclass(frozen=True, slots=True)
class TakenBack:
    charge_id: str
    user_id: int
    stars: int
    removed: int
    shortfall: int
    balance: int


async def take_back(db: Conn, charge_id: str, by: str) -> TakenBack | str:
    """Take a refunded payment's credits back, once; else why not: 'unknown' or 'already'."""
    async with db.transaction():
        await db_users.lock_payer(db, charge_id)  # the user's row before the payment's, as in an update
        payment = await db_payments.lock(db, charge_id)
        if payment is None:
            log.error("payment.refund.unknown_charge", charge_id=charge_id, by=by)
            return "unknown"
        if payment.refunded_at is not None:
            return "already"
        user = await db_users.lock(db, payment.user_id)
        assert user is not None  # payments reference users
        unfinished = sum(g.free for g in await db_generations.open_refundable(db, user.id))
        take = refund_take(payment.credits, user.credits, unfinished)
        balance = user.credits
        if take.removed > 0:
            taken = await db_users.apply_credits(db, user.id, -take.removed, "purchase_refund", charge_id)
            assert taken is not None  # the payment row lock makes this the only refund of the charge
            balance = taken
        claimed = await db_generations.claim_refunds(db, user.id, take.claimed)
        await db_payments.set_refunded(db, charge_id, by, take.shortfall)
    log.info(
        "payment.refunded",
        charge_id=charge_id,
        by=by,
        removed=take.removed,
        shortfall=take.shortfall,
        claimed_from_unfinished=claimed,
    )
    return TakenBack(charge_id, user.id, payment.stars, take.removed, take.shortfall, balance)


def _refund_notice(lang: str, taken: TakenBack) -> str:
    return text(lang, "payment_refunded", stars=taken.stars, credits=taken.removed, balance=taken.balance)


# --- the refund job -------------------------------------------------------------------------------


class RefundJob:
    """``payment.refund`` {charge_id, admin_id}: refundStarPayment, then the credits, then both told."""

    def __init__(self, app: App) -> None:
        self.app = app

    def register(self, registry: Registry) -> Registry:
        registry.add(JobSpec(REFUND, self.run, timeout=60, max_attempts=8))
        return registry

    async def run(self, job: Job) -> None:
        app, charge_id, admin_id = self.app, job.payload["charge_id"], job.payload["admin_id"]
        payment = await db_payments.get(app.pool, charge_id)
        if payment is None:
            raise Cancel(f"no payment {charge_id}")
        admin_lang = user_language(await db_users.get(app.pool, admin_id))
        if payment.refunded_at is None:
            try:
                await app.bot.refund_star_payment(user_id=payment.user_id, telegram_payment_charge_id=charge_id)
            except TelegramBadRequest as error:
                if ALREADY_REFUNDED not in error.message:
                    await self._tell(
                        admin_id, text(admin_lang, "admin_refund_failed", charge_id=charge_id, error=error.message)
                    )
                    raise Cancel(f"refundStarPayment: {error.message}") from error
                log.info("payment.refund.already_at_telegram", charge_id=charge_id)
            # Anything else (network, 5xx, 429 beyond the session's retries) raises: the job is retried.
        async with app.pool.acquire() as conn:
            outcome = await take_back(conn, charge_id, f"admin:{admin_id}")
        if isinstance(outcome, TakenBack):
            user = await db_users.get(app.pool, outcome.user_id)
            await self._tell(outcome.user_id, _refund_notice(user_language(user), outcome))
            done = text(
                admin_lang,
                "admin_refund_done",
                charge_id=charge_id,
                removed=outcome.removed,
                shortfall=outcome.shortfall,
            )
            await self._tell(admin_id, done)
        else:
            await self._tell(admin_id, text(admin_lang, "admin_refund_already", charge_id=charge_id))

    async def _tell(self, chat_id: int, message: str) -> None:
        try:
            await self.app.bot(SendMessage(chat_id=chat_id, text=message))
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.warning("payment.refund.notice_failed", chat_id=chat_id, error=str(error))
