"""Who is asking: the Mini App sends ``Authorization: tma <initDataRaw>`` (Telegram.WebApp.initData).

The init data is signed by Telegram with a key derived from the bot token; aiogram checks the HMAC.
aiogram does not check its age, so we do: init data older than MAX_AGE_S is refused (a leaked copy
stops working within the hour), and so is one dated well in the future (a clock that far off is not
a client's skew). Pure: no network, no database; ``now`` is passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from aiogram.utils.web_app import WebAppUser, safe_parse_webapp_init_data

SCHEME = "tma"
MAX_AGE_S = 3600  # the rule: at most one hour old
FUTURE_SKEW_S = 300  # a client's clock may run a little ahead of ours
MAX_INIT_DATA = 4096  # Telegram's init data is well under 1 kB; anything this long is junk
USER_IDS = range(1, 2**63)  # what a bigint users.id takes


class Reason(StrEnum):
    """Why a request is not authenticated (logged, never shown in detail to the client)."""

    MISSING = "missing"
    MALFORMED = "malformed"
    FORGED = "forged"
    STALE = "stale"
    NO_USER = "no_user"


@dataclass(frozen=True, slots=True)
class Who:
    user: WebAppUser
    auth_date: datetime


def init_data_of(header: str | None) -> str | None:
    """The init data in ``Authorization: tma <initDataRaw>``; None when the header is not that."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != SCHEME or not value.strip():
        return None
    return value.strip()


def authenticate(header: str | None, token: str, now: float) -> Who | Reason:
    """The user the header's init data names, or why it does not. ``now``: Unix seconds."""
    raw = init_data_of(header)
    if raw is None:
        return Reason.MISSING
    if len(raw) > MAX_INIT_DATA or not raw.isascii():
        return Reason.MALFORMED  # init data is a URL-encoded query string: ASCII only
    try:
        data = safe_parse_webapp_init_data(token, raw)
    except json.JSONDecodeError:
        return Reason.MALFORMED
    except ValueError as error:  # a bad signature, or fields that do not validate (pydantic's error is one)
        return Reason.FORGED if "signature" in str(error) else Reason.MALFORMED
    except (TypeError, RecursionError):  # a signed field of an unexpected shape
        return Reason.MALFORMED
    age = now - data.auth_date.timestamp()
    if age > MAX_AGE_S or age < -FUTURE_SKEW_S:
        return Reason.STALE
    if data.user is None or data.user.id not in USER_IDS or data.user.is_bot:
        return Reason.NO_USER
    return Who(data.user, data.auth_date)
