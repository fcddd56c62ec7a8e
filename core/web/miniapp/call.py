"""One API request's context and its errors: ``endpoint`` wraps every /app/api handler.

It authenticates (core/web/miniapp/auth.py), reads the caller's row and takes a slot of their budget
in one statement (sql/miniapp.sql ``app_begin``), refuses banned users, and turns whatever goes
wrong into the contract's JSON error: ``{"error": code, "message": <in the user's language>}`` with a
4xx, never a 5xx for junk (503 only while the database or a service is away).

Budgets, shared by every process through the database: an action (POST, DELETE) counts with the
user's chat messages against USER_MESSAGES_PER_MINUTE, the chat's own limit (and the chat's
update_begin counts the app's actions in turn); reads have
READS_PER_MINUTE, since the page polls (its balance once a second while a payment settles, a
rendering video every few seconds).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from core.pipeline.services import App
from core.ui import texts
from core.web.miniapp.auth import Reason, Who, authenticate
from db import miniapp as db_miniapp
from db import users as db_users
from db.errors import UNAVAILABLE
from db.users import User

log = structlog.get_logger("miniapp")

READS_PER_MINUTE = 300  # 5 a second: a page polling /me each second during a payment stays well inside
AUTH_QUERY = "auth"  # <img src> sends no header: the thumbnail takes the init data as ?auth=


class ApiError(Exception):
    """Answer with the contract's error: ``code`` for the page, ``key``'s sentence (filled with
    ``params``) for the user, and ``fields`` added to the body (a 402's balance and price)."""

    def __init__(
        self,
        status: int,
        code: str,
        key: str,
        *,
        params: dict[str, object] | None = None,
        fields: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status, self.code, self.key = status, code, key
        self.params = params or {}
        self.fields = fields or {}
        self.headers = headers or {}

    def response(self, lang: str) -> web.Response:
        body = {"error": self.code, "message": texts.text(lang, self.key, **self.params), **self.fields}
        return web.json_response(body, status=self.status, headers=self.headers)


def bad_request(key: str = "api_bad_request", **params: object) -> ApiError:
    return ApiError(400, "bad_request", key, params=params)


def not_found() -> ApiError:
    return ApiError(404, "not_found", "api_not_found")


@dataclass(frozen=True, slots=True)
class Call:
    """An authenticated API request: who, in which language, with the services."""

    request: web.Request
    app: App
    who: Who
    user: User
    lang: str

    @property
    def is_admin(self) -> bool:
        return self.user.id in self.app.settings.telegram.admin_ids


Handler = Callable[[Call], Awaitable[web.StreamResponse | dict[str, Any]]]


def endpoint(
    app: App, handler: Handler, *, admin: bool = False, query_auth: bool = False, status: int = 200
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for an API ``handler``, which returns a JSON-able dict or a response."""

    async def handle(request: web.Request) -> web.StreamResponse:
        lang = texts.DEFAULT_LANGUAGE
        try:
            call = await _begin(app, request, query_auth=query_auth)
            lang = call.lang
            if admin and not call.is_admin:
                raise ApiError(403, "forbidden", "api_forbidden")
            result = await handler(call)
        except ApiError as error:
            if error.status >= 500:
                log.warning("miniapp.unavailable", path=request.path, code=error.code)
            return error.response(lang)
        except web.HTTPRequestEntityTooLarge:
            return ApiError(413, "bad_request", "api_too_large").response(lang)
        except UNAVAILABLE as error:
            log.warning("miniapp.database_unavailable", path=request.path, error=str(error) or type(error).__name__)
            return ApiError(503, "unavailable", "api_unavailable").response(lang)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result, status=status)

    return handle


async def _begin(app: App, request: web.Request, *, query_auth: bool) -> Call:
    header = request.headers.get("Authorization")
    if header is None and query_auth and AUTH_QUERY in request.query:
        header = "tma " + request.query[AUTH_QUERY]
    who = authenticate(header, app.settings.telegram.token, time.time())
    if isinstance(who, Reason):
        log.info("miniapp.unauthorized", reason=str(who), path=request.path)
        raise ApiError(401, "unauthorized", "api_unauthorized")
    person = who.user
    action = request.method not in ("GET", "HEAD")
    begun = await db_miniapp.begin(
        app.pool,
        person.id,
        person.username,
        person.first_name,
        person.language_code,
        texts.language(person.language_code),
        action=action,
    )
    user = begun.user or await _user_after_race(app, person.id)
    lang = texts.user_language(user)
    limit = app.settings.product.user_messages_per_minute
    if (action and begun.actions + begun.chat_messages > limit) or begun.reads > READS_PER_MINUTE:
        raise ApiError(429, "rate_limited", "api_rate_limited", headers={"Retry-After": str(begun.window_left_s)})
    if user.banned_at is not None:
        raise ApiError(403, "forbidden", "api_forbidden")
    return Call(request, app, who, user, lang)


async def _user_after_race(app: App, user_id: int) -> User:
    """Two first requests at once: the one whose insert lost read before the winner committed."""
    user = await db_users.get(app.pool, user_id)
    if user is None:
        raise ApiError(503, "unavailable", "api_unavailable")
    return user
