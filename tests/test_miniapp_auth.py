"""core/web/miniapp/auth.py: init data signed by Telegram, checked without a network."""

from __future__ import annotations

import time

from core.web.miniapp.auth import MAX_AGE_S, Reason, Who, authenticate
from tests.helpers import SECRETS
from tests.miniapp import app_user, sign_init_data

TOKEN = SECRETS["BOT_TOKEN"]
NOW = 1_800_000_000


def header(data: str) -> str:
    return f"tma {data}"


def test_valid_init_data_names_its_user() -> None:
    who = authenticate(header(sign_init_data(TOKEN, app_user(7, "Ann", "ru"), NOW - 10)), TOKEN, NOW)
    assert isinstance(who, Who)
    assert (who.user.id, who.user.first_name, who.user.language_code) == (7, "Ann", "ru")


def test_an_hour_is_the_limit() -> None:
    assert isinstance(authenticate(header(sign_init_data(TOKEN, app_user(7), NOW - MAX_AGE_S)), TOKEN, NOW), Who)
    stale = sign_init_data(TOKEN, app_user(7), NOW - MAX_AGE_S - 1)
    assert authenticate(header(stale), TOKEN, NOW) is Reason.STALE
    future = sign_init_data(TOKEN, app_user(7), NOW + 3600)
    assert authenticate(header(future), TOKEN, NOW) is Reason.STALE


def test_forged_init_data_is_refused() -> None:
    other_bot = sign_init_data("654321:another-bot-token", app_user(7), NOW)
    assert authenticate(header(other_bot), TOKEN, NOW) is Reason.FORGED
    genuine = sign_init_data(TOKEN, app_user(7), NOW)
    assert authenticate(header(genuine.replace("%22id%22%3A7", "%22id%22%3A8")), TOKEN, NOW) is Reason.FORGED
    assert authenticate(header(genuine.replace(f"auth_date={NOW}", f"auth_date={NOW + 1}")), TOKEN, NOW) is (
        Reason.FORGED
    )


def test_missing_or_malformed_headers() -> None:
    for missing in (None, "", "tma", "tma   ", "Bearer x", "Basic dXNlcjpwYXNz"):
        assert authenticate(missing, TOKEN, NOW) is Reason.MISSING
    for junk in ("tma %", "tma a=b", "tma hash=", "tma ü=1", "tma " + "a" * 10_000, "tma user=1&&&hash=00"):
        assert authenticate(junk, TOKEN, NOW) in (Reason.MALFORMED, Reason.FORGED)


def test_signed_but_odd_fields_never_raise() -> None:
    """Telegram signs what it sends, but the check must hold for any signed shape too (a leaked token)."""
    odd_users: list[object] = [[1, 2], {"id": "x"}, {"id": 2**70, "first_name": "A"}, {"first_name": "A"}, "plain"]
    for odd in odd_users:
        data = sign_init_data(TOKEN, odd, NOW)  # type: ignore[arg-type]
        assert authenticate(header(data), TOKEN, NOW) in (Reason.MALFORMED, Reason.NO_USER)
    no_user = sign_init_data(TOKEN, app_user(7), NOW).replace("user=", "receiver=")
    assert authenticate(header(no_user), TOKEN, NOW) in (Reason.FORGED,)
    bot = sign_init_data(TOKEN, app_user(7, is_bot=True), NOW)
    assert authenticate(header(bot), TOKEN, NOW) is Reason.NO_USER
    bad_date = sign_init_data(TOKEN, app_user(7), NOW, auth_date_extra="1").replace(f"auth_date={NOW}", "auth_date=x")
    assert authenticate(header(bad_date), TOKEN, NOW) in (Reason.FORGED, Reason.MALFORMED)


def test_real_clock() -> None:
    assert isinstance(authenticate(header(sign_init_data(TOKEN, app_user(7))), TOKEN, time.time()), Who)
