"""Mini App test helpers: init data signed the way Telegram signs it, and the Authorization header
the page sends. Shared by the API tests and the page's browser tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode


def sign_init_data(token: str, user: dict[str, Any], auth_date: int | None = None, **fields: str) -> str:
    """Telegram.WebApp.initData for ``user``, signed with the bot ``token`` as Telegram does
    (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app): the fields
    sorted as ``key=value`` lines, HMAC-SHA256 keyed by HMAC-SHA256("WebAppData", token)."""
    values = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        **fields,
    }
    check = "\n".join(f"{key}={values[key]}" for key in sorted(values))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    values["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(values)


def app_user(user_id: int, first_name: str = "Ann", language_code: str = "en", **extra: Any) -> dict[str, Any]:
    """The ``user`` field of init data."""
    return {"id": user_id, "first_name": first_name, "language_code": language_code, **extra}


def tma(token: str, user_id: int, *, auth_date: int | None = None, **user: Any) -> dict[str, str]:
    """The headers of a Mini App request made by ``user_id``."""
    return {"Authorization": "tma " + sign_init_data(token, app_user(user_id, **user), auth_date)}
