"""Promo codes (issue 16, part 2): users' /redeem (and ``/start promo_<CODE>``), admins' /promo.

Whether a redemption credits is decided in one statement (sql/promos.sql, promo_redeem), so the
uses never pass a code's limit however many redeem at once, and a user never redeems a code twice.
Codes are case-insensitive for users and kept in capitals. /promo is for ADMIN_IDS only: its router
sits behind the admin router's check, so anyone else gets the unknown-command reply.

    /promo                              the codes, with uses left and expiry
    /promo <CODE> <credits> [uses] [days]   a new code (no uses: unlimited; no days: no expiry)
    /promo off <CODE>                   retire a code
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from core.bot.admin import parse_int
from core.bot.turn import Turn
from core.growth import promo_code, promo_link
from core.ui.texts import text
from db import promos as db_promos
from db.promos import PromoCode

log = structlog.get_logger("growth")

LIST_SIZE = 30
MAX_CREDITS, MAX_USES, MAX_DAYS = 100_000, 1_000_000, 3650
# Why a redemption credited nothing (db/promos.py, Redemption.outcome), as the user reads it.
REFUSALS = {
    "unknown": "promo_unknown",
    "already": "promo_already",
    "retired": "promo_retired",
    "expired": "promo_expired",
    "used_up": "promo_used_up",
}
USAGE = "/promo <CODE> <credits> [uses] [days] · /promo off <CODE> · /promo"


async def on_redeem(message: Message, command: CommandObject, turn: Turn) -> None:
    words = (command.args or "").split()
    if len(words) != 1:
        turn.out.add(message.answer(text(turn.lang, "redeem_usage")))
        return
    code = promo_code(words[0])
    if code is None:  # cannot be a code: unknown, without asking the database
        turn.out.add(message.answer(text(turn.lang, "promo_unknown", code=words[0][:32])))
        return
    await redeem(message, turn, code)


async def redeem(message: Message, turn: Turn, code: str) -> None:
    """Redeem ``code`` (in capitals) for the sender and answer how it went."""
    result = await db_promos.redeem(turn.db, code, turn.user.id)
    log.info("promo.redeem", code=code, outcome=result.outcome)
    if result.outcome == "redeemed":
        answer = text(turn.lang, "promo_redeemed", code=code, credits=result.credits, balance=result.balance)
    else:
        answer = text(turn.lang, REFUSALS[result.outcome], code=code)
    turn.out.add(message.answer(answer))


# --- admins ---------------------------------------------------------------------------------------


def build_promo_admin_router() -> Router:
    """Included in the admin router (core/bot/handlers.py), behind its check."""
    router = Router(name="promo_admin")
    router.message.register(on_promo, Command("promo"))
    return router


async def on_promo(message: Message, command: CommandObject, turn: Turn) -> None:
    words = (command.args or "").split()
    if not words:
        answer = await _listing(turn)
    elif words[0].lower() == "off":
        answer = await _retire(turn, words[1:])
    else:
        answer = await _create(turn, words)
    turn.out.add(message.answer(answer))


async def _listing(turn: Turn) -> str:
    codes = await db_promos.listing(turn.db, LIST_SIZE)
    if not codes:
        return text(turn.lang, "admin_promo_none")
    now = datetime.now(UTC)
    return text(turn.lang, "admin_promo_list", lines="\n".join(line(turn.lang, code, now) for code in codes))


async def _retire(turn: Turn, words: list[str]) -> str:
    code = promo_code(words[0]) if len(words) == 1 else None
    if code is None:
        return text(turn.lang, "admin_usage", usage=USAGE)
    retired = await db_promos.retire(turn.db, code)
    if retired is None:
        return text(turn.lang, "admin_promo_unknown", code=code)
    log.info("promo.retired", code=code, admin_id=turn.user.id)
    return text(turn.lang, "admin_promo_off", line=line(turn.lang, retired, datetime.now(UTC)))


async def _create(turn: Turn, words: list[str]) -> str:
    lang = turn.lang
    if not 2 <= len(words) <= 4:
        return text(lang, "admin_usage", usage=USAGE)
    code = promo_code(words[0])
    if code is None:
        return text(lang, "admin_promo_bad_code")
    numbers = [parse_int(word) for word in words[1:]]
    limits = (MAX_CREDITS, MAX_USES, MAX_DAYS)
    if any(n is None or not 1 <= n <= most for n, most in zip(numbers, limits, strict=False)):
        return text(lang, "admin_promo_bad_numbers", credits=MAX_CREDITS, uses=MAX_USES, days=MAX_DAYS)
    credits, uses, days = (*numbers, None, None)[:3]
    assert credits is not None  # two to four words: the credits are there, and checked above
    created = await db_promos.create(turn.db, code, credits, uses, days, turn.user.id)
    if created is None:
        return text(lang, "admin_promo_exists", code=code)
    log.info("promo.created", code=code, credits=credits, uses_limit=uses, days=days, admin_id=turn.user.id)
    link = promo_link(await turn.app.bot_username(), code)
    return text(lang, "admin_promo_created", line=line(lang, created, datetime.now(UTC)), code=code, link=link)


def line(lang: str, code: PromoCode, now: datetime) -> str:
    """One code as /promo lists it: credits, uses left, and until when (or why no longer)."""
    if code.uses_left is None:
        uses = text(lang, "admin_promo_unlimited", used=code.uses)
    else:
        uses = text(lang, "admin_promo_uses_left", left=code.uses_left, limit=code.uses_limit)
    if code.retired_at is not None:
        expiry = text(lang, "admin_promo_retired_mark")
    elif code.expires_at is None:
        expiry = text(lang, "admin_promo_forever")
    elif code.expires_at <= now:
        expiry = text(lang, "admin_promo_expired_mark")
    else:
        expiry = text(lang, "admin_promo_until", when=code.expires_at)
    return text(lang, "admin_promo_line", code=code.code, credits=code.credits, uses=uses, expiry=expiry)
