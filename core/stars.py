"""Credits sold for Telegram Stars: the packages, the invoice payload, and the decisions around a
payment, as plain functions (no network, no database).

The payload Telegram hands back in pre_checkout_query and successful_payment is ours:
``v1:<credits>:<stars>:<user id>:<nonce>:<signature>`` for a package, ``m1:...`` (same fields) for a
monthly plan (a Stars subscription, whose renewals carry the first invoice's payload), at most 128
bytes. The signature is an HMAC over everything before it with a key derived from the bot token, so a
payload cannot be edited into another package, a plan, or another buyer, and needs no table of open
invoices.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

CURRENCY = "XTR"  # Telegram Stars
PAYLOAD_VERSION = "v1"
PLAN_PAYLOAD_VERSION = "m1"  # a monthly plan; a new prefix, so every v1 payload already out stays valid
MAX_PAYLOAD_BYTES = 128


@dataclass(frozen=True, slots=True, order=True)
class Package:
    credits: int
    stars: int

    @property
    def id(self) -> str:
        return f"{self.credits}:{self.stars}"


def parse_packages(raw: str) -> tuple[Package, ...]:
    """``credits:stars`` pairs separated by commas, e.g. ``100:50,300:140,1000:400``."""
    packages: list[Package] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        credits, sep, stars = part.partition(":")
        try:
            package = Package(int(credits), int(stars))
        except ValueError:
            raise ValueError(f"{part!r} is not credits:stars") from None
        if not sep or package.credits <= 0 or package.stars <= 0:
            raise ValueError(f"{part!r}: credits and stars must be positive whole numbers")
        if package.stars > 10000:
            raise ValueError(f"{part!r}: Telegram accepts at most 10000 stars per invoice")
        packages.append(package)
    if not packages:
        raise ValueError("must name at least one package")
    if len({p.credits for p in packages}) != len(packages):
        raise ValueError("two packages sell the same number of credits")
    return tuple(sorted(packages))


def payload_key(bot_token: str) -> bytes:
    return hmac.new(bot_token.encode(), b"reelsmith-stars-payload", hashlib.sha256).digest()


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Priced(Protocol):
    """What an invoice sells: a package here, or a monthly plan (core/growth.py ``Plan``)."""

    @property
    def credits(self) -> int: ...
    @property
    def stars(self) -> int: ...


def make_payload(key: bytes, item: Priced, user_id: int, *, monthly: bool = False) -> str:
    version = PLAN_PAYLOAD_VERSION if monthly else PAYLOAD_VERSION
    body = f"{version}:{item.credits}:{item.stars}:{user_id}:{secrets.token_urlsafe(6)}"
    payload = f"{body}:{_signature(key, body)}"
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    return payload


@dataclass(frozen=True, slots=True)
class Signed:
    package: Package  # for a plan: its credits and stars a month
    user_id: int
    monthly: bool = False  # a plan's payload (m1)


def read_payload(key: bytes, payload: str) -> Signed | None:
    """The package or plan and buyer a payload names, or None when it is not one we signed."""
    body, _, signature = payload.rpartition(":")
    if not body or not hmac.compare_digest(signature, _signature(key, body)):
        return None
    parts = body.split(":")
    if len(parts) != 5 or parts[0] not in (PAYLOAD_VERSION, PLAN_PAYLOAD_VERSION):
        return None
    try:
        return Signed(Package(int(parts[1]), int(parts[2])), int(parts[3]), parts[0] == PLAN_PAYLOAD_VERSION)
    except ValueError:
        return None


def _offers(items: tuple[Priced, ...], signed: Signed) -> bool:
    return any((i.credits, i.stars) == (signed.package.credits, signed.package.stars) for i in items)


def check_pre_checkout(
    key: bytes,
    packages: tuple[Package, ...],
    *,
    plans: tuple[Priced, ...] = (),
    payload: str,
    currency: str,
    total_amount: int,
    user_id: int,
    banned: bool,
) -> str | None:
    """None when the payment may go ahead, else the catalogue key of the reason shown to the buyer."""
    if banned:
        return "precheckout_banned"
    signed = read_payload(key, payload)
    if signed is None or signed.user_id != user_id or currency != CURRENCY:
        return "precheckout_invalid"
    if signed.monthly and not _offers(plans, signed):
        return "plan_gone"
    if not signed.monthly and not _offers(packages, signed):
        return "package_gone"
    if total_amount != signed.package.stars:
        return "precheckout_invalid"
    return None


def covering(packages: tuple[Package, ...], missing: int) -> tuple[Package, ...]:
    """The packages that would let the user afford what they miss: the smallest ones first."""
    return tuple(p for p in packages if p.credits >= missing) or packages[-1:]


@dataclass(frozen=True, slots=True)
class RefundTake:
    removed: int  # credits taken back from the balance now
    shortfall: int  # credits of the package already spent, recorded and not taken now
    claimed: int  # of the shortfall: owed by unfinished generations, taken from their refunds if any come


def refund_take(package_credits: int, balance: int, unfinished: int = 0) -> RefundTake:
    """Refund policy: take back the package's credits; what was already spent is not recovered (the
    balance stops at zero) and is recorded as the shortfall. What was spent on generations still under
    way (``unfinished``: their prices not claimed before) is claimed: if one of them is refunded later
    (a failure, a cancel), that refund pays the shortfall instead of the balance, so a refunded
    purchase never comes back as credits."""
    removed = min(package_credits, max(balance, 0))
    shortfall = package_credits - removed
    return RefundTake(removed, shortfall, min(shortfall, max(unfinished, 0)))
