"""Nudges, few and polite (issue 16, part 6): after a delivery that leaves less than the cheapest video,
one message offering /buy; an invoice still unpaid an hour after /buy sent it, one reminder; after the
third delivered video, one /invite suggestion.

Each nudge is opened once per (user, kind, subject) in the transaction of what calls for it, with its
``nudge.send`` job (db/nudges: the row's primary key makes a redelivered update or a retried delivery
open nothing more). The job decides when it runs: not at all with NUDGES=false, nor once moot (the
user bought meanwhile, the invoice was paid); otherwise one statement takes the user's one nudge of
the day, unless they blocked the bot or turned nudges off with /notifications off. It is a job's send,
so it waits for the bot-wide pace like any bulk message (core/telegram/session.py); a 429 retries it at
Telegram's time, still decided; a send that may or may not have gone out is never repeated.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup

from core.catalogue import VideoModel
from core.pipeline import job_key
from core.pipeline.services import App
from core.queue import Job, JobSpec, Registry, enqueue
from core.ui.keyboards import packages_keyboard
from core.ui.texts import text, user_language
from db import nudges as db_nudges
from db import users as db_users
from db.generations import Generation
from db.jobs import Executor

log = structlog.get_logger("nudges")

NUDGE = "nudge.send"
LOW_BALANCE, INVOICE, INVITE = "low_balance", "invoice", "invite"
INVOICE_REMINDER_S = 3600.0  # an invoice unpaid this long gets its one reminder
INVITE_AFTER = 3  # delivered videos before the /invite suggestion
INVITE_SUBJECT = "third"  # one invitation nudge per user, ever
DAY_S = 86_400.0  # the cap: one nudge per user per day (sql/nudges.sql, nudge_claim)


def cheapest_price(models: Mapping[str, VideoModel]) -> int:
    """The least a video costs: any model, any of its lengths."""
    return min(min((m.price_for(s) or m.price for s in m.durations), default=m.price) for m in models.values())


async def open_nudge(
    db: Executor, app: App, user_id: int, kind: str, subject: str, *, delay: float | None = None
) -> bool:
    """In the caller's transaction: the nudge and its job, unless it was opened before (or NUDGES=false)."""
    if not app.settings.growth.nudges or not await db_nudges.open_nudge(db, user_id, kind, subject):
        return False
    payload = {"user_id": user_id, "kind": kind, "subject": subject}
    await enqueue(
        db, app.registry, NUDGE, payload, delay=delay, unique_key=job_key(NUDGE, f"{user_id}:{kind}:{subject}")
    )
    return True


async def after_delivery(db: Executor, app: App, generation: Generation) -> None:
    """In the delivery's transaction (the generation already done): the nudges it calls for."""
    if not app.settings.growth.nudges:
        return
    user = await db_users.get(db, generation.user_id)
    low = user is not None and user.credits < cheapest_price(app.settings.product.video_models)
    if low:
        await open_nudge(db, app, generation.user_id, LOW_BALANCE, str(generation.id))
    if await db_nudges.delivered_count(db, generation.user_id) >= INVITE_AFTER:
        # Once ever: after today's low-balance nudge it waits for tomorrow's turn rather than lose it.
        delay = DAY_S + 60 if low else None
        await open_nudge(db, app, generation.user_id, INVITE, INVITE_SUBJECT, delay=delay)


async def after_invoice(db: Executor, app: App, user_id: int, invoice_id: int) -> None:
    """In the transaction that recorded the invoice: its reminder, due in an hour."""
    await open_nudge(db, app, user_id, INVOICE, str(invoice_id), delay=INVOICE_REMINDER_S)


class NudgeJobs:
    def __init__(self, app: App) -> None:
        self.app = app

    def register(self, registry: Registry) -> Registry:
        registry.add(JobSpec(NUDGE, self.send, timeout=60, max_attempts=8))
        return registry

    async def send(self, job: Job) -> None:
        """``nudge.send`` {user_id, kind, subject}: decide once, then send once."""
        pool, user_id = self.app.pool, job.payload["user_id"]
        kind, subject = job.payload["kind"], job.payload["subject"]
        outcome = await db_nudges.outcome(pool, user_id, kind, subject)
        if outcome is None:
            why_not = await self._why_not(user_id, kind, subject)
            if why_not is not None:
                await db_nudges.settle(pool, user_id, kind, subject, why_not)
            outcome = why_not or await db_nudges.claim(pool, user_id, kind, subject)
        if outcome != "sending":  # not sent, and why (or decided before: a rerun)
            log.info("nudge.skipped", user_id=user_id, kind=kind, why=outcome)
            return
        result = await self._deliver(user_id, kind, subject)
        await db_nudges.settle(pool, user_id, kind, subject, result)
        log.info("nudge.sent" if result == "sent" else "nudge.not_sent", user_id=user_id, kind=kind, result=result)

    async def _why_not(self, user_id: int, kind: str, subject: str) -> str | None:
        """Why a pending nudge should not go at all ('disabled', 'moot'); None when it may."""
        app = self.app
        if not app.settings.growth.nudges:
            return "disabled"
        if kind == LOW_BALANCE:
            user = await db_users.get(app.pool, user_id)
            enough = user is None or user.credits >= cheapest_price(app.settings.product.video_models)
            return "moot" if enough else None
        if kind == INVOICE:
            return None if await db_nudges.open_invoice(app.pool, int(subject)) else "moot"
        return None

    async def _deliver(self, user_id: int, kind: str, subject: str) -> str:
        """Send it: 'sent', or what became of it. A 429 raises (the job is retried at Telegram's time)."""
        words, keyboard = await self._message(user_id, kind, subject)
        try:
            await self.app.bot.send_message(user_id, words, reply_markup=keyboard)
        except TelegramForbiddenError:
            return "unreachable"  # the session middleware marked them blocked
        except TelegramBadRequest as error:
            log.info("nudge.refused", user_id=user_id, error=error.message)
            return "failed"
        except (TelegramNetworkError, TelegramServerError) as error:
            log.warning("nudge.unsure", user_id=user_id, error=str(error))
            return "unsure"  # it may have gone out: never sent again
        return "sent"

    async def _message(self, user_id: int, kind: str, subject: str) -> tuple[str, InlineKeyboardMarkup | None]:
        """The words in the user's language, each ending with how to turn nudges off; a low balance
        comes with the packages' buttons."""
        app = self.app
        user = await db_users.get(app.pool, user_id)
        lang, keyboard = user_language(user), None
        if kind == LOW_BALANCE:
            price = cheapest_price(app.settings.product.video_models)
            words = text(lang, "nudge_low_balance", credits=user.credits if user else 0, price=price)
            keyboard = packages_keyboard(lang, app.settings.product.credit_packages)
        elif kind == INVOICE:
            invoice = await db_nudges.open_invoice(app.pool, int(subject))
            words = text(lang, "nudge_invoice", credits=invoice.credits if invoice else 0)
        else:
            words = text(lang, "nudge_invite")
        return f"{words}\n\n{text(lang, 'nudge_footer')}", keyboard
