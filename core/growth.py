"""What brings a second user and keeps the first, as plain values and functions (no network, no database):
invitation payloads, monthly plans (SUBSCRIPTION_PLANS) and prompt presets (PRESETS).

An invitation is the deep link ``https://t.me/<bot>?start=<payload>``. The payload is ``r`` and the inviter's
Telegram id in base 36 (``r1a2b3c``): short, inside Telegram's ``[A-Za-z0-9_-]{1,64}``, and needing no table.
Promo links are ``promo_<CODE>``. Both are read by ``/start``, the inline share button and the Mini App.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

INVITE_PREFIX = "r"
PROMO_PREFIX = "promo_"
SUBSCRIPTION_PERIOD = 2592000  # 30 days: the only period Telegram's production Stars subscriptions take
_INVITE = re.compile(r"^r([0-9a-z]{1,13})$")
_PROMO = re.compile(r"^promo_([A-Za-z0-9_-]{1,32})$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def invite_payload(user_id: int) -> str:
    """The ``/start`` payload that attributes a new user to ``user_id``."""
    if user_id <= 0:
        raise ValueError("a user id is positive")
    digits = ""
    while user_id:
        user_id, rest = divmod(user_id, 36)
        digits = _DIGITS[rest] + digits
    return INVITE_PREFIX + digits


def inviter_of(payload: str) -> int | None:
    """The inviter's id in an invitation payload; None for anything else (a promo link, junk)."""
    match = _INVITE.match(payload)
    user_id = int(match.group(1), 36) if match else 0
    return user_id if 0 < user_id < 2**63 else None  # 13 digits reach past a bigint: no user has that id


def promo_code_of(payload: str) -> str | None:
    """The code in a ``promo_<CODE>`` payload, in capitals; None for anything else."""
    match = _PROMO.match(payload)
    return match.group(1).upper() if match else None


def promo_code(raw: str) -> str | None:
    """A promo code as typed after /redeem (any case), in capitals; None when it cannot be one."""
    raw = raw.strip()
    return raw.upper() if _CODE.match(raw) else None


def promo_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={PROMO_PREFIX}{code}"


def invite_link(bot_username: str, user_id: int) -> str:
    return f"https://t.me/{bot_username}?start={invite_payload(user_id)}"


def share_link(url: str, text: str) -> str:
    """Telegram's share sheet for ``url`` with ``text`` under it."""
    return "https://t.me/share/url?" + urlencode({"url": url, "text": text}, quote_via=quote)


@dataclass(frozen=True, slots=True, order=True)
class Plan:
    """A monthly Stars subscription: ``credits`` added at every charge, for ``stars`` a month."""

    credits: int
    stars: int

    @property
    def id(self) -> str:
        return f"{self.credits}:{self.stars}"


def parse_plans(raw: str) -> tuple[Plan, ...]:
    """``credits:stars`` pairs separated by commas, e.g. ``500:200``; empty: no plan is offered."""
    plans: list[Plan] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        credits, sep, stars = part.partition(":")
        try:
            plan = Plan(int(credits), int(stars))
        except ValueError:
            raise ValueError(f"{part!r} is not credits:stars") from None
        if not sep or plan.credits <= 0 or plan.stars <= 0:
            raise ValueError(f"{part!r}: credits and stars must be positive whole numbers")
        if plan.stars > 10000:
            raise ValueError(f"{part!r}: Telegram accepts at most 10000 stars per subscription")
        plans.append(plan)
    if len({p.id for p in plans}) != len(plans):
        raise ValueError("two plans are the same")
    return tuple(sorted(plans))


@dataclass(frozen=True, slots=True)
class Preset:
    """A style offered on the proposal: ``name`` on its button, ``prompt`` added to the prompt writer's brief."""

    id: str  # the name, lowered and dashed: what callback data and the database keep
    name: str
    prompt: str


def _preset_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def parse_presets(raw: str) -> tuple[Preset, ...]:
    """``name|prompt addition`` entries separated by semicolons; ``none``: no presets are offered."""
    presets: list[Preset] = []
    if raw.strip().lower() == "none":
        return ()
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        name, sep, prompt = (s.strip() for s in part.partition("|"))
        if not sep or not name or not prompt:
            raise ValueError(f"{part[:40]!r} is not name|prompt addition")
        preset_id = _preset_id(name)
        if not preset_id or len(preset_id) > 24 or len(name) > 32:
            raise ValueError(f"{name!r}: a preset's name is 1-32 characters with a letter or digit")
        if len(prompt) > 500:
            raise ValueError(f"{name!r}: a preset's prompt addition is at most 500 characters")
        presets.append(Preset(preset_id, name, prompt))
    if len({p.id for p in presets}) != len(presets):
        raise ValueError("two presets have the same name")
    if len(presets) > 12:
        raise ValueError("at most 12 presets fit on a proposal")
    return tuple(presets)


def find_preset(presets: Iterable[Preset], preset_id: str | None) -> Preset | None:
    """The preset ``preset_id`` among those offered now; None for none, junk, or one PRESETS no longer lists."""
    return next((p for p in presets if p.id == preset_id), None) if preset_id else None


DEFAULT_PRESETS = (
    "Cinematic|cinematic film look, anamorphic lens, shallow depth of field, golden-hour light, slow dolly moves;"
    "Anime|hand-drawn anime style, vibrant cel shading, expressive characters, dynamic camera;"
    "Product ad|clean studio product commercial, seamless backdrop, soft key light, slow orbit around the product,"
    " crisp reflections;"
    "Vlog|handheld smartphone vlog, natural daylight, talking to camera, casual and authentic;"
    "Dreamy|soft pastel dreamlike atmosphere, gentle haze, floating particles, slow motion"
)
