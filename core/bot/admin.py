"""Commands for ADMIN_IDS only. Anyone else falls through to the ordinary router and gets exactly
the unknown-command reply: they learn nothing (not even that the command exists) and change nothing.

Every change an admin makes goes through the same rules as the rest: credits through the ledger
(a grant is unique per update, so a redelivered /grant applies once), refunds through a job."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, CallbackQuery, Message, Update

from core.bot.payments import REFUND
from core.bot.turn import Turn
from core.pipeline import reports
from core.pipeline.reports import parse_who
from core.pipeline.services import App
from core.queue import enqueue
from core.stars import refund_take
from core.ui import chart
from core.ui.keyboards import RefundCharge, refund_keyboard
from core.ui.status import clock
from core.ui.texts import text, user_language
from db import admin as db_admin
from db import generations as db_generations
from db import payments as db_payments
from db import providers as db_providers
from db import users as db_users
from db.pool import Conn
from db.users import Profile

log = structlog.get_logger("admin")

CHART_DAYS = 14
SPEND_DAYS = 7  # /stats: provider spend against Stars, per day


async def is_admin(message: Message, app: App) -> bool:
    return message.from_user is not None and message.from_user.id in app.settings.telegram.admin_ids


async def is_admin_tap(callback: CallbackQuery, app: App) -> bool:
    return callback.from_user.id in app.settings.telegram.admin_ids


def build_admin_router() -> Router:
    router = Router(name="admin")
    router.message.filter(is_admin)
    router.message.register(on_stats, Command("stats"))
    router.message.register(on_user, Command("user"))
    router.message.register(on_grant, Command("grant"))
    router.message.register(on_ban, Command("ban"))
    router.message.register(on_unban, Command("unban"))
    router.message.register(on_gen, Command("gen"))
    router.message.register(on_job, Command("job"))
    router.message.register(on_retry, Command("retry"))
    router.message.register(on_refund, Command("refund"))
    router.callback_query.filter(is_admin_tap)
    router.callback_query.register(on_refund_tap, RefundCharge.filter())
    return router


# --- arguments ------------------------------------------------------------------------------------


def split_args(command: CommandObject, most: int) -> list[str]:
    """The command's words; the last one keeps the rest of the line (a reason with spaces)."""
    return (command.args or "").split(maxsplit=most - 1)


def id_arg(command: CommandObject) -> int | None:
    """The command's one numeric argument (/gen 12, /job 34, /retry 34); None when missing or not a number."""
    args = split_args(command, 1)
    return parse_int(args[0]) if args else None


def parse_int(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.lstrip("-").isdigit() and len(raw) < 18 else None


async def _find(db: Conn, raw: str) -> Profile | None:
    user_id, username = parse_who(raw)
    return await db_users.find(db, user_id, username)


def _usage(lang: str, usage: str) -> str:
    return text(lang, "admin_usage", usage=usage)


def _name(user: Profile) -> str:
    return f"{user.id}" + (f" @{user.username}" if user.username else "")


# --- /stats ---------------------------------------------------------------------------------------


async def on_stats(message: Message, turn: Turn) -> None:
    db, lang, out = turn.db, turn.lang, turn.out
    numbers = await reports.stats(db)
    users, generations, durations, money, queue = (
        numbers.users,
        numbers.generations,
        numbers.durations,
        numbers.money,
        numbers.queue,
    )
    daily = await db_admin.stats_daily(db, CHART_DAYS)
    none = text(lang, "admin_none")
    finished, done = numbers.finished, numbers.done
    summary = text(
        lang,
        "admin_stats",
        today=message.date,
        users=users.total,
        users_today=users.today,
        users_active=users.active,
        gens_today=" · ".join(f"{row.status} {row.today}" for row in generations if row.today) or none,
        gens_total=" · ".join(f"{row.status} {row.total}" for row in generations if row.total) or none,
        success_rate=f"{100 * done / finished:.0f}% ({done}/{finished})" if finished else "—",
        median=clock(durations.median_s) if durations.median_s is not None else "—",
        p95=clock(durations.p95_s) if durations.p95_s is not None else "—",
        sold=money.sold,
        spent=money.spent,
        refunded=money.refunded,
        stars=money.stars,
        stars_today=money.stars_today,
        queue=", ".join(f"{row.kind} {row.depth}" for row in queue) or none,
        providers=await _providers(db, turn.app, lang),
    )
    out.add(message.answer(summary + "\n\n" + _spend(lang, await db_admin.stats_spend(db, SPEND_DAYS))))
    # Drawn off the event loop: a chart takes a few hundred ms of CPU (the first one, an import).
    png = await asyncio.to_thread(
        chart.draw, lang, [d.day for d in daily], [d.generations for d in daily], [d.stars for d in daily]
    )
    out.add(
        SendPhoto(
            chat_id=message.chat.id,
            photo=BufferedInputFile(png, filename="stats.png"),
            caption=text(lang, "admin_chart_caption"),
        )
    )


async def _providers(db: Conn, app: App, lang: str) -> str:
    """Each provider's health and balance as the fleet last saw them (provider_health: no network call
    here; the balance watch reads it every 10 minutes)."""
    lines = []
    for provider in app.providers:
        health = await db_providers.get(db, provider.name)
        state = (
            text(lang, "admin_state_up")
            if health.available
            else text(lang, "admin_provider_down_state", since=health.since)
        )
        balance = f"{health.balance:g}" if health.balance is not None else "—"
        when = health.balance_at.strftime("%H:%M UTC") if health.balance_at else "—"
        lines.append(text(lang, "admin_provider_line", provider=provider.name, state=state, balance=balance, when=when))
    return " · ".join(lines)


# --- users ----------------------------------------------------------------------------------------


async def on_user(message: Message, command: CommandObject, turn: Turn) -> None:
    db, lang, out = turn.db, turn.lang, turn.out
    args = split_args(command, 1)
    if not args:
        out.add(message.answer(_usage(lang, "/user <id | @username>")))
        return
    facts = await reports.user_facts(db, args[0])
    if facts is None:
        out.add(message.answer(text(lang, "admin_no_user", who=args[0])))
        return
    user, ledger, generations = facts.profile, facts.ledger, facts.generations
    none = text(lang, "admin_none")
    out.add(
        message.answer(
            text(
                lang,
                "admin_user",
                id=user.id,
                username=f"@{user.username}" if user.username else "",
                name=user.first_name or "",
                language=user.language or user.language_code or "?",
                joined=user.created_at,
                seen=user.seen_at,
                credits=user.credits,
                banned=_when(lang, user.banned_at, user.ban_reason),
                blocked=_when(lang, user.blocked_at),
                ledger="\n".join(f"{r.delta:+d} {r.reason} {r.reference}" for r in ledger) or none,
                generations="\n".join(f"#{g.id} {g.status} {g.model} {g.price}" for g in generations) or none,
            )
            + "\n"
            + text(lang, "admin_user_moderation", n=user.moderation_flags)
        )
    )


def _spend(lang: str, rows: list[db_admin.Spend]) -> str:
    """Per UTC day, newest first: provider credits spent (in all, and per model) against Stars received."""
    days: dict[Any, list[db_admin.Spend]] = {}
    for row in rows:
        days.setdefault(row.day, []).append(row)
    lines = [text(lang, "admin_spend_header")]
    for day, models in days.items():
        spent = [row for row in models if row.model is not None]
        lines.append(
            text(
                lang,
                "admin_spend_line",
                day=f"{day:%Y-%m-%d}",
                cost=f"{sum(row.cost for row in spent):g}",
                models=" · ".join(f"{row.model} {row.cost:g}" for row in spent) or "—",
                stars=models[0].stars,
            )
        )
    return "\n".join(lines) if days else lines[0] + " " + text(lang, "admin_none")


def _when(lang: str, at: Any, reason: str | None = None) -> str:
    if at is None:
        return text(lang, "admin_no")
    return text(lang, "admin_yes") + f" ({at:%Y-%m-%d}{', ' + reason if reason else ''})"


async def on_grant(message: Message, command: CommandObject, event_update: Update, turn: Turn) -> None:
    db, lang, out = turn.db, turn.lang, turn.out
    args = split_args(command, 3)
    delta = parse_int(args[1]) if len(args) >= 2 else None
    if delta is None or delta == 0:
        out.add(message.answer(_usage(lang, "/grant <id | @username> <credits> [reason]")))
        return
    limit = turn.app.settings.product.grant_limit
    if abs(delta) > limit:
        out.add(message.answer(text(lang, "admin_grant_over_limit", limit=limit)))
        return
    target = await _find(db, args[0])
    if target is None:
        out.add(message.answer(text(lang, "admin_no_user", who=args[0])))
        return
    reason = args[2] if len(args) == 3 else "grant"
    locked = await db_users.lock(db, target.id)
    credits = locked.credits if locked is not None else None
    if credits is None or credits + delta < 0:
        out.add(message.answer(text(lang, "admin_grant_too_much", credits=credits or 0)))
        return
    # Unique per update: a redelivered /grant (or a second process) finds the reference taken.
    reference = f"admin {turn.user.id} update {event_update.update_id}: {reason}"
    balance = await db_users.apply_credits(db, target.id, delta, "admin", reference)
    if balance is None:
        out.add(message.answer(text(lang, "admin_grant_twice")))
        return
    log.info("admin.grant", admin_id=turn.user.id, user_id=target.id, delta=delta, reason=reason)
    out.add(
        message.answer(
            text(lang, "admin_granted", user=_name(target), delta=f"{delta:+d}", reason=reason, balance=balance)
        )
    )
    # Every grant is seen by a second pair of eyes: the other admins are told, in their language.
    for other in turn.app.settings.telegram.admin_ids:
        if other != turn.user.id:
            other_lang = user_language(await db_users.get(db, other))
            notice = text(
                other_lang,
                "admin_grant_notice",
                admin=turn.user.id,
                user=_name(target),
                delta=f"{delta:+d}",
                reason=reason,
                balance=balance,
            )
            out.add(SendMessage(chat_id=other, text=notice))


async def on_ban(message: Message, command: CommandObject, turn: Turn) -> None:
    await _set_ban(message, command, turn, banned=True)


async def on_unban(message: Message, command: CommandObject, turn: Turn) -> None:
    await _set_ban(message, command, turn, banned=False)


async def _set_ban(message: Message, command: CommandObject, turn: Turn, *, banned: bool) -> None:
    """/ban <user> [reason] and /unban <user>."""
    args = split_args(command, 2 if banned else 1)
    target = await _find(turn.db, args[0]) if args else None
    if target is None:
        usage = "/ban <id | @username> [reason]" if banned else "/unban <id | @username>"
        turn.out.add(message.answer(_usage(turn.lang, usage)))
        return
    await db_users.set_ban(turn.db, target.id, banned, args[1] if banned and len(args) == 2 else None)
    log.info("admin.ban" if banned else "admin.unban", admin_id=turn.user.id, user_id=target.id)
    words = text(turn.lang, "admin_banned" if banned else "admin_unbanned", user=_name(target))
    turn.out.add(message.answer(words))


# --- generations and jobs -------------------------------------------------------------------------


async def on_gen(message: Message, command: CommandObject, turn: Turn) -> None:
    db, lang, out = turn.db, turn.lang, turn.out
    generation_id = id_arg(command)
    generation = await db_generations.get(db, generation_id) if generation_id is not None else None
    if generation is None:
        out.add(message.answer(_usage(lang, "/gen <generation id>")))
        return
    jobs = await db_admin.generation_jobs(db, generation.id)
    none = text(lang, "admin_none")
    out.add(
        message.answer(
            text(
                lang,
                "admin_gen",
                id=generation.id,
                status=generation.status,
                user_id=generation.user_id,
                model=generation.model,
                price=generation.price,
                idea=generation.idea[:200] or "📷",
                created=generation.created_at,
                finished=f"{generation.finished_at:%Y-%m-%d %H:%M}" if generation.finished_at else "—",
                task=(f"{generation.provider} {generation.task_id}" if generation.task_id else "—")
                + _duplicates(lang, generation.possible_duplicates),
                error=generation.error or "—",
                jobs="\n".join(
                    f"#{j.id} {j.kind} {j.state} {j.attempt}/{j.max_attempts}"
                    + (f" · {j.last_error[:80]}" if j.last_error else "")
                    for j in jobs
                )
                or none,
            )
        )
    )


def _duplicates(lang: str, count: int) -> str:
    """A create sent again after a lost answer may have made a second, billed task: said under the task."""
    return f"\n{text(lang, 'admin_gen_duplicates', count=count)}" if count else ""


async def on_job(message: Message, command: CommandObject, turn: Turn) -> None:
    db, lang, out = turn.db, turn.lang, turn.out
    job_id = id_arg(command)
    job = await db_admin.job(db, job_id) if job_id is not None else None
    if job is None:
        out.add(message.answer(_usage(lang, "/job <job id>")))
        return
    out.add(
        message.answer(
            text(
                lang,
                "admin_job",
                id=job.id,
                kind=job.kind,
                state=job.state,
                attempt=job.attempt,
                max_attempts=job.max_attempts,
                run_at=job.run_at,
                payload=json.dumps(job.payload, ensure_ascii=False)[:500],
                error=(job.last_error or "—")[:1000],
            )
        )
    )


async def on_retry(message: Message, command: CommandObject, turn: Turn) -> None:
    lang, out = turn.lang, turn.out
    job_id = id_arg(command)
    before = await db_admin.retry_job(turn.db, job_id) if job_id is not None else None
    if before is None:
        out.add(message.answer(_usage(lang, "/retry <failed job id>")))
    elif before != "failed":
        out.add(message.answer(text(lang, "admin_retry_refused", id=job_id, state=before)))
    else:
        log.info("admin.retry", admin_id=turn.user.id, job_id=job_id)
        out.add(message.answer(text(lang, "admin_retried", id=job_id)))


# --- refunds --------------------------------------------------------------------------------------


async def on_refund(message: Message, command: CommandObject, turn: Turn) -> None:
    """/refund <charge>: first a preview (the payer's balance, their unfinished generations, what will
    be taken and what claimed) with Refund and Cancel buttons; the job is queued by the tap."""
    lang, out = turn.lang, turn.out
    args = split_args(command, 1)
    payment = await db_payments.get(turn.db, args[0]) if args else None
    if payment is None:
        out.add(message.answer(_usage(lang, "/refund <telegram_payment_charge_id>")))
        return
    if payment.refunded_at is not None:
        out.add(message.answer(text(lang, "admin_refund_already", charge_id=payment.charge_id)))
        return
    payer = await db_users.find(turn.db, payment.user_id, None)
    balance = payer.credits if payer is not None else 0
    unfinished = await db_generations.open_refundable(turn.db, payment.user_id)
    take = refund_take(payment.credits, balance, sum(g.free for g in unfinished))
    preview = text(
        lang,
        "admin_refund_preview",
        charge_id=payment.charge_id,
        stars=payment.stars,
        credits=payment.credits,
        user=_name(payer) if payer is not None else str(payment.user_id),
        balance=balance,
        unfinished=", ".join(f"#{g.id} ({g.free})" for g in unfinished) or text(lang, "admin_none"),
        removed=take.removed,
        shortfall=take.shortfall,
        claimed=take.claimed,
    )
    out.add(message.answer(preview, reply_markup=refund_keyboard(lang, db_payments.digest(payment.charge_id))))


async def on_refund_tap(callback: CallbackQuery, callback_data: RefundCharge, turn: Turn) -> None:
    """Refund or Cancel under a preview. The amounts are decided when the job runs (the balance may
    have moved since the preview); a second tap finds the job queued (unique per charge)."""
    lang, out, admin_id = turn.lang, turn.out, turn.user.id
    payment = await db_payments.by_digest(turn.db, callback_data.digest)
    out.add(callback.answer())
    if payment is None:
        return
    charge_id = payment.charge_id
    if not callback_data.go:
        out.add(_reply(callback, text(lang, "admin_refund_dropped", charge_id=charge_id)))
        return
    if payment.refunded_at is not None:
        out.add(_reply(callback, text(lang, "admin_refund_already", charge_id=charge_id)))
        return
    payload = {"charge_id": charge_id, "admin_id": admin_id}
    await enqueue(turn.db, turn.app.registry, REFUND, payload, unique_key=f"refund:{charge_id}")
    log.info("admin.refund", admin_id=admin_id, charge_id=charge_id)
    queued = text(lang, "admin_refund_queued", charge_id=charge_id, stars=payment.stars, credits=payment.credits)
    out.add(_reply(callback, queued))


def _reply(callback: CallbackQuery, words: str) -> SendMessage:
    return SendMessage(chat_id=callback.from_user.id, text=words)
