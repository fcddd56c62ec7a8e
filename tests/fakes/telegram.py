"""A fake Telegram Bot API server that speaks the real wire format.

The bot's real aiogram ``Bot`` reaches it through
``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))``: requests are
``POST {base}/bot{token}/{method}`` with url-encoded or multipart form bodies (complex values JSON-encoded),
answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}`` with the
matching HTTP status, so aiogram raises its real exceptions (``TelegramRetryAfter``, ``TelegramForbiddenError``...).

It keeps what a test wants to look at: every call in order (``requests``, ``calls()``, ``wait_for()``), the
current state of the messages the bot sent to each chat (``messages()``, edits applied), the webhook, and a queue
of updates for ``getUpdates`` long polling (``push_update()``).

Knobs: ``upload_limit`` (bigger uploads answer 413), ``fail_next()`` (inject an error for the next calls of a
method), ``throttle()`` (every n-th call of a method answers 429 with retry_after), ``block()`` (the user blocked
the bot: 403 for that chat), ``garble()`` (the next calls of a method get what Telegram's front answers in its
bad minutes: an HTML 502 page, or a 200 whose body is not Bot API JSON), ``webhook_last_error`` (a failed
delivery that getWebhookInfo reports), ``add_file()``
(a downloadable file, e.g. a user's photo), ``add_charge()`` (a Stars payment refundStarPayment can refund). Methods
it does not implement answer 404 like the real API does for unknown methods.

Payments: ``sendInvoice`` is checked as Telegram checks a Stars invoice (XTR, one price, payload 1-128 bytes,
title 1-32, description 1-255 characters); ``answerPreCheckoutQuery`` answers are kept in ``pre_checkout``;
``refundStarPayment`` refunds a charge once, then answers 400 CHARGE_ALREADY_REFUNDED. Subscriptions:
``createInvoiceLink`` checks the same and a ``subscription_period`` of 30 days only (as production does), keeping
each link in ``invoice_links``; ``charge_subscription()`` charges a link's subscription (first or renewal) and
returns the successful_payment update; ``editUserStarSubscription`` cancels or resumes it (``star_subscriptions``),
400 for a charge it does not know. ``setMyCommands`` menus are
kept in ``menus`` by (scope, language_code); ``menu_for()`` is the menu a user sees in their private chat, chosen
as Telegram does. ``hold()`` keeps the calls of a method unanswered until ``release()`` answers them in the order a
test picks. ``succeeded`` lists the calls that were answered ok.

Inline mode: ``answerInlineQuery`` is checked as Telegram checks it (see ``_answer_inline_query``) and kept in
``inline_answers`` by query id; ``inline_query_update()`` builds the update; ``inline_mode = False`` is a bot whose
inline mode is off in @BotFather (getMe).

Simplifications: every chat is a private chat; ``parse_mode`` is not rendered (text is stored and measured as
sent); uploaded bytes are counted, not kept, so only ``add_file()`` files can be downloaded.

The module also has builders of real ``Update`` JSON (``message_update``, ``callback_update``...) to feed the bot.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import itertools
import json
import re
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.multipart import BodyPartReader

DEFAULT_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
DEFAULT_BOT_ID = 123456
SUBSCRIPTION_PERIOD = 2592000  # the only subscription_period production Telegram takes: 30 days
MAX_TEXT_LENGTH = 4096
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same"
    " as a current content and reply markup of the message"
)
# Free text that may legitimately start with "{" or "[" and must not be JSON-decoded.
_TEXT_PARAMS = frozenset({"text", "caption"})
_MEDIA_KINDS = ("video", "photo", "document")


@dataclass(frozen=True)
class Call:
    """One Bot API call as the fake received it."""

    method: str  # as in the URL, e.g. "sendMessage"
    params: dict[str, Any]  # form fields; JSON-encoded ones (reply_markup, entities...) decoded
    files: dict[str, tuple[str, int]]  # parameter name -> (filename, size in bytes)
    at: float  # time.monotonic()

    @property
    def chat_id(self) -> int | None:
        return _as_int(self.params.get("chat_id"))


class _ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class _Failure:
    method: str  # lower case
    chat_id: int | None
    code: int
    description: str
    retry_after: int | None
    remaining: int


_GARBLED: dict[str, Callable[[], web.Response]] = {
    "html502": lambda: web.Response(
        status=502,
        text="<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
        "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        content_type="text/html",
    ),
    "not_json": lambda: web.Response(status=200, text="OK", content_type="text/plain"),
}


@dataclass
class _File:
    file_unique_id: str
    size: int | None
    filename: str | None = None
    path: str | None = None
    content: bytes | None = None  # only files registered with add_file() can be downloaded


@dataclass
class _Pending:
    updates: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


# The thumbnail the fake gives every video (a JPEG's first bytes: the Mini App serves it as is).
THUMBNAIL_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"thumbnail" * 6


class FakeTelegram:
    def __init__(
        self, token: str = DEFAULT_TOKEN, bot_id: int = DEFAULT_BOT_ID, *, upload_limit: int = 50 * 1024 * 1024
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.upload_limit = upload_limit
        self.base_url = ""
        self.requests: list[Call] = []
        self.succeeded: list[Call] = []  # calls answered ok, in order
        self.pre_checkout: dict[str, dict[str, Any]] = {}  # query id -> {"ok", "error_message"}
        self.menus: dict[tuple[str, str], list[dict[str, str]]] = {}  # (scope json, language_code) -> commands
        self.charges: dict[str, dict[str, Any]] = {}  # charge id -> {"user_id", "refunded"}
        self.inline_answers: dict[str, dict[str, Any]] = {}  # inline query id -> the answer's parameters
        self.inline_mode = True  # getMe's supports_inline_queries: /setinline in @BotFather
        self.invoice_links: dict[str, dict[str, Any]] = {}  # createInvoiceLink: link -> its call's params
        self.star_subscriptions: dict[str, dict[str, Any]] = {}  # link -> {"user_id", "canceled"}
        self._throttles: dict[str, list[int]] = {}  # method -> [every, retry_after, count]
        self.webhook: dict[str, Any] | None = None
        self.webhook_last_error: tuple[int, str] | None = None  # (unix time, message) in getWebhookInfo
        self._changed = asyncio.Condition()
        self._chats: dict[int, dict[int, dict[str, Any]]] = {}
        self._next_message_id: dict[int, itertools.count[int]] = {}
        self._files: dict[str, _File] = {}
        self._file_numbers = itertools.count(1)
        self._failures: list[_Failure] = []
        self._garbled: dict[str, list[str]] = {}  # method (lower case) -> answers still to garble, in order
        self._blocked: set[int] = set()
        self._pending = _Pending()
        self._holding: set[str] = set()  # methods whose calls wait for release()
        self.held: list[tuple[Call, asyncio.Future[None]]] = []
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._handlers = {
            "getme": self._get_me,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "setmycommands": self._set_my_commands,
            "sendinvoice": self._send_invoice,
            "answerprecheckoutquery": self._answer_pre_checkout_query,
            "refundstarpayment": self._refund_star_payment,
            "createinvoicelink": self._create_invoice_link,
            "edituserstarsubscription": self._edit_user_star_subscription,
            "copymessage": self._copy_message,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": _true,
            "sendchataction": _true,
            "sendvideo": self._send_media,
            "sendphoto": self._send_media,
            "senddocument": self._send_media,
            "getfile": self._get_file,
            "answerinlinequery": self._answer_inline_query,
        }
        self._handlers.update(self._miniapp_handlers())
        self.menu_button: dict[int | None, dict[str, Any]] = {}  # chat id (None: the default) -> setChatMenuButton's

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_get("/_calls", self._counts)  # for benchmarks in another process
        # A short shutdown timeout: stop() must not wait a minute for an idle keep-alive connection.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._closing = True
        self._pending.arrived.set()  # release long polls so the server can shut down at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- what tests look at and control -----------------------------------------------------------

    @property
    def bot_user(self) -> dict[str, Any]:
        return bot_user(self.bot_id)

    def calls(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        return [
            call
            for call in self.requests
            if (method is None or call.method.lower() == method.lower())
            and (chat_id is None or call.chat_id == chat_id)
        ]

    async def wait_for(self, predicate: Callable[[list[Call]], object], timeout: float = 10.0) -> object:
        """Wait until ``predicate(self.requests)`` is truthy (checked on every call) and return its value."""
        try:
            async with self._changed, asyncio.timeout(timeout):
                return await self._changed.wait_for(lambda: predicate(self.requests))
        except TimeoutError:
            recent = "\n".join(f"  {_describe(call)}" for call in self.requests[-10:]) or "  (none)"
            raise AssertionError(
                f"no matching Telegram call within {timeout}s; {len(self.requests)} calls, the last ones:\n{recent}"
            ) from None

    def messages(self, chat_id: int) -> dict[int, dict[str, Any]]:
        """The messages the bot sent to ``chat_id`` as they are now: ``message_id -> {"kind", "text"|"caption",
        "reply_markup", "date", and "video"|"photo"|"document" for media}``."""
        return copy.deepcopy(self._chats.get(chat_id, {}))

    def add_file(self, content: bytes, *, file_id: str | None = None, file_path: str | None = None) -> str:
        number = next(self._file_numbers)
        file_id = file_id or f"file-{number}"
        self._files[file_id] = _File(
            f"uniq-{number}", len(content), path=file_path or f"documents/file_{number}", content=content
        )
        return file_id

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        self._failures.append(_Failure(method.lower(), chat_id, error_code, description, retry_after, times))

    def garble(self, method: str, *answers: str) -> None:
        """The next calls of ``method`` are answered, one each, with ``"html502"`` (a 502 Bad Gateway HTML
        page, as nginx in front of the Bot API sends) or ``"not_json"`` (200 with a body that is no Bot API
        JSON, as some emulators send); the call is not applied."""
        self._garbled.setdefault(method.lower(), []).extend(answers)

    def throttle(self, method: str, *, every: int, retry_after: int = 1) -> None:
        """Every ``every``-th call of ``method`` answers 429 Too Many Requests with ``retry_after``."""
        self._throttles[method.lower()] = [every, retry_after, 0]

    def add_charge(self, charge_id: str, user_id: int, *, refunded: bool = False) -> None:
        self.charges[charge_id] = {"user_id": user_id, "refunded": refunded}

    def block(self, chat_id: int) -> None:
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def hold(self, method: str) -> None:
        """Keep every call of ``method`` unanswered (and unapplied) until ``release()``."""
        self._holding.add(method.lower())

    def release(self, order: list[int] | None = None) -> None:
        """Answer the held calls, applying them in ``order`` (indexes into ``held``; default: as they came),
        and stop holding."""
        held, self.held = self.held, []
        self._holding.clear()
        for index in order if order is not None else range(len(held)):
            held[index][1].set_result(None)

    def menu_for(self, chat_id: int, language_code: str) -> list[str]:
        """The commands a user sees in their private chat with the bot, picked as Telegram picks: the chat's
        scope, then all private chats, then the default; in each, the user's language before no language."""
        scopes = [{"type": "chat", "chat_id": chat_id}, {"type": "all_private_chats"}, {"type": "default"}]
        for scope in scopes:
            for language in (language_code, ""):
                menu = self.menus.get((json.dumps(scope, sort_keys=True), language))
                if menu:  # an empty list deletes a menu
                    return [command["command"] for command in menu]
        return []

    def push_update(self, update: dict[str, Any]) -> None:
        self._pending.updates.append(update)
        self._pending.arrived.set()

    # --- HTTP --------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        params, files = await _read_form(request)
        call = Call(request.match_info["method"], params, files, time.monotonic())
        self.requests.append(call)
        if call.method.lower() in self._holding:
            gate = asyncio.get_running_loop().create_future()
            self.held.append((call, gate))
            await self._notify()
            await gate
        garbled = self._garbled.get(call.method.lower())
        if garbled:
            await self._notify()
            return _GARBLED[garbled.pop(0)]()
        try:
            result = await self._answer(request.match_info["token"], call)
            response = web.json_response({"ok": True, "result": result})
            self.succeeded.append(call)
        except _ApiError as error:
            body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            response = web.json_response(body, status=error.code)
        # Notify after handling, so a waiter sees the state (messages, webhook) the call produced.
        await self._notify()
        return response

    async def _answer(self, token: str, call: Call) -> Any:
        if token != self.token:
            raise _ApiError(401, "Unauthorized")
        self._inject_failure(call)
        handler = self._handlers.get(call.method.lower())
        if handler is None:
            raise _ApiError(404, "Not Found: method not found")
        return await handler(call)

    def _inject_failure(self, call: Call) -> None:
        throttle = self._throttles.get(call.method.lower())
        if throttle is not None:
            throttle[2] += 1
            if throttle[2] % throttle[0] == 0:
                raise _ApiError(429, f"Too Many Requests: retry after {throttle[1]}", throttle[1])
        for failure in self._failures:
            if failure.method == call.method.lower() and failure.chat_id in (None, call.chat_id):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                raise _ApiError(failure.code, failure.description, failure.retry_after)
        if call.chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _counts(self, _request: web.Request) -> web.Response:
        """How many calls of each method the fake has answered."""
        return web.json_response(dict(collections.Counter(call.method for call in self.requests)))

    async def _download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        stored = next((f for f in self._files.values() if f.path == path and f.content is not None), None)
        if request.match_info["token"] != self.token or stored is None or stored.content is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(stored.content)
        await response.prepare(request)
        for start in range(0, len(stored.content), 65536):
            await response.write(stored.content[start : start + 65536])
        await response.write_eof()
        return response

    # --- methods -------------------------------------------------------------------------------------

    async def _get_me(self, call: Call) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": self.inline_mode,
        }

    async def _set_webhook(self, call: Call) -> bool:
        params = call.params
        if not params.get("url"):  # Telegram: an empty url removes the webhook
            return await self._delete_webhook(call)
        self.webhook = {
            "url": params["url"],
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
            "drop_pending_updates": _as_bool(params.get("drop_pending_updates")),
            "max_connections": _as_int(params.get("max_connections")),
        }
        if self.webhook["drop_pending_updates"]:
            self._pending.updates.clear()
        return True

    async def _delete_webhook(self, call: Call) -> bool:
        self.webhook = None
        if _as_bool(call.params.get("drop_pending_updates")):
            self._pending.updates.clear()
        return True

    async def _get_webhook_info(self, call: Call) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending.updates),
        }
        if self.webhook:
            info.update({k: self.webhook[k] for k in ("max_connections", "allowed_updates") if self.webhook[k]})
        if self.webhook_last_error:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    async def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active;"
                " use deleteWebhook to delete the webhook first",
            )
        offset = _as_int(call.params.get("offset")) or 0
        limit = _as_int(call.params.get("limit")) or 100
        pending = self._pending
        pending.updates[:] = [u for u in pending.updates if u["update_id"] >= offset]  # the offset confirms
        await self._notify()  # a test may wait for the long poll to have started before pushing
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(float(call.params.get("timeout") or 0)):
                while not pending.updates and not self._closing:
                    pending.arrived.clear()
                    await pending.arrived.wait()
        return copy.deepcopy(pending.updates[:limit])

    async def _send_message(self, call: Call) -> dict[str, Any]:
        text = _checked_text(call.params.get("text"))
        return self._store(call, {"kind": "text", "text": text})

    async def _send_media(self, call: Call) -> dict[str, Any]:
        kind = call.method.lower().removeprefix("send")
        file_id, stored = self._media_file(call, kind)
        media: Any
        if kind == "video":
            media = {
                "file_id": file_id,
                "file_unique_id": stored.file_unique_id,
                "width": _as_int(call.params.get("width")) or 0,
                "height": _as_int(call.params.get("height")) or 0,
                "duration": _as_int(call.params.get("duration")) or 0,
                "mime_type": "video/mp4",
                "thumbnail": self._video_thumbnail(),
            }
        elif kind == "photo":
            media = photo_sizes(file_id, stored.size or 0)
            media[-1]["file_unique_id"] = stored.file_unique_id
        else:
            media = {"file_id": file_id, "file_unique_id": stored.file_unique_id, "file_name": stored.filename}
        if kind != "photo" and stored.size is not None:
            media["file_size"] = stored.size
        return self._store(call, {"kind": kind, "caption": call.params.get("caption"), kind: media})

    def _media_file(self, call: Call, kind: str) -> tuple[str, _File]:
        """The file sent as ``kind``: a new upload, a file_id the fake issued, or a URL."""
        if kind in call.files:
            filename, size = call.files[kind]
            if size > self.upload_limit:
                raise _ApiError(413, "Request Entity Too Large")
            return self._new_file(kind, size, filename)
        value = call.params.get(kind)
        if not isinstance(value, str) or not value:
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        if value in self._files:
            return value, self._files[value]
        if value.startswith(("http://", "https://")):
            return self._new_file(kind, None, value.rsplit("/", 1)[-1])
        raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _new_file(self, kind: str, size: int | None, filename: str | None) -> tuple[str, _File]:
        number = next(self._file_numbers)
        file_id = f"{kind[:3]}-{number}"  # vid-1, pho-2, doc-3
        self._files[file_id] = _File(f"uniq-{number}", size, filename)
        return file_id, self._files[file_id]

    def _store(self, call: Call, message: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(call)
        message_id = next(self._next_message_id.setdefault(chat_id, itertools.count(1)))
        message.update(reply_markup=call.params.get("reply_markup"), date=int(time.time()))
        self._chats.setdefault(chat_id, {})[message_id] = message
        return self._message_json(chat_id, message_id, message)

    async def _edit_message_text(self, call: Call) -> dict[str, Any]:
        chat_id, message_id, message = self._target(call)
        if message["kind"] != "text":
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        return self._edit(chat_id, message_id, message, text=_checked_text(call.params.get("text")), call=call)

    async def _edit_message_caption(self, call: Call) -> dict[str, Any]:
        chat_id, message_id, message = self._target(call)
        if message["kind"] == "text":
            raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
        return self._edit(chat_id, message_id, message, caption=call.params.get("caption"), call=call)

    async def _edit_message_reply_markup(self, call: Call) -> dict[str, Any]:
        chat_id, message_id, message = self._target(call)
        return self._edit(chat_id, message_id, message, call=call)

    def _edit(
        self, chat_id: int, message_id: int, message: dict[str, Any], *, call: Call, **content: Any
    ) -> dict[str, Any]:
        # Like Telegram, an edit without reply_markup removes the keyboard.
        changes = {**content, "reply_markup": call.params.get("reply_markup")}
        if all(message.get(key) == value for key, value in changes.items()):
            raise _ApiError(400, NOT_MODIFIED)
        message.update(changes)
        return {**self._message_json(chat_id, message_id, message), "edit_date": int(time.time())}

    async def _delete_message(self, call: Call) -> bool:
        chat_id = self._chat_id(call)
        message_id = _as_int(call.params.get("message_id"))
        if message_id is None or self._chats.get(chat_id, {}).pop(message_id, None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _set_my_commands(self, call: Call) -> bool:
        scope = call.params.get("scope") or {"type": "default"}
        key = (json.dumps(scope, sort_keys=True), str(call.params.get("language_code") or ""))
        self.menus[key] = list(call.params.get("commands") or [])
        return True

    async def _send_invoice(self, call: Call) -> dict[str, Any]:
        invoice, payload = _checked_stars_invoice(call.params)
        stored = self._store(call, {"kind": "invoice", "invoice": invoice, "payload": payload})
        stored["invoice"] = invoice
        return stored

    async def _answer_pre_checkout_query(self, call: Call) -> bool:
        ok = _as_bool(call.params.get("ok"))
        if not ok and not call.params.get("error_message"):
            raise _ApiError(400, "Bad Request: ERROR_MESSAGE_EMPTY")
        self.pre_checkout[str(call.params.get("pre_checkout_query_id"))] = {
            "ok": ok,
            "error_message": call.params.get("error_message"),
        }
        return True

    async def _refund_star_payment(self, call: Call) -> bool:
        charge = self.charges.get(str(call.params.get("telegram_payment_charge_id")))
        if charge is None or charge["user_id"] != _as_int(call.params.get("user_id")):
            raise _ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
        if charge["refunded"]:
            raise _ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        return True

    # --- Stars subscriptions (and invoice links) ---------------------------------------------------

    def charge_subscription(
        self, link: str, user_id: int, charge_id: str, *, update_id: int, expires_at: int, first: bool
    ) -> dict[str, Any]:
        """Telegram charging ``user_id`` for the invoice ``link`` (made by createInvoiceLink with a
        subscription_period): the first charge subscribes, a later one renews. The charge becomes
        refundable and names the subscription for editUserStarSubscription; returns the
        successful_payment update to deliver (as many times as a test likes)."""
        params = self.invoice_links[link]
        if params.get("subscription_period") is None:
            raise ValueError(f"{link} is not a subscription's invoice")
        self.charges[charge_id] = {"user_id": user_id, "refunded": False, "subscription": link}
        self.star_subscriptions.setdefault(link, {"user_id": user_id, "canceled": False})
        amount = _as_int(params["prices"][0].get("amount")) or 0
        return subscription_payment_update(
            update_id,
            user_id,
            payload=params["payload"],
            total_amount=amount,
            charge_id=charge_id,
            first=first,
            expires_at=expires_at,
        )

    async def _create_invoice_link(self, call: Call) -> str:
        _checked_stars_invoice(call.params)
        period = call.params.get("subscription_period")
        # Production takes 30 days only (the test environment 60 or 300 s, which we never send).
        if period is not None and _as_int(period) != SUBSCRIPTION_PERIOD:
            raise _ApiError(400, "Bad Request: SUBSCRIPTION_PERIOD_INVALID")
        if period is not None and (_as_int(call.params["prices"][0].get("amount")) or 0) > 10000:
            raise _ApiError(400, "Bad Request: STARS_INVOICE_INVALID")
        link = f"https://t.me/${next(self._file_numbers):08x}Inv"
        self.invoice_links[link] = call.params
        return link

    async def _edit_user_star_subscription(self, call: Call) -> bool:
        charge = self.charges.get(str(call.params.get("telegram_payment_charge_id")))
        if charge is None or "subscription" not in charge or charge["user_id"] != _as_int(call.params.get("user_id")):
            raise _ApiError(400, "Bad Request: CHARGE_ID_INVALID")
        self.star_subscriptions[charge["subscription"]]["canceled"] = _as_bool(call.params.get("is_canceled"))
        return True

    async def _copy_message(self, call: Call) -> dict[str, Any]:
        if _as_int(call.params.get("from_chat_id")) is None or _as_int(call.params.get("message_id")) is None:
            raise _ApiError(400, "Bad Request: message to copy not found")
        stored = self._store(
            call,
            {
                "kind": "copy",
                "from_chat_id": _as_int(call.params.get("from_chat_id")),
                "copied_message_id": _as_int(call.params.get("message_id")),
            },
        )
        return {"message_id": stored["message_id"]}

    async def _get_file(self, call: Call) -> dict[str, Any]:
        file_id = call.params.get("file_id")
        stored = self._files.get(file_id) if isinstance(file_id, str) else None
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        result: dict[str, Any] = {"file_id": file_id, "file_unique_id": stored.file_unique_id}
        if stored.size is not None:
            result["file_size"] = stored.size
        if stored.content is not None:  # uploads are not kept, so they have no path to download from
            result["file_path"] = stored.path
        return result

    # --- inline mode (issue 16, sharing) -----------------------------------------------------------

    async def _answer_inline_query(self, call: Call) -> bool:
        """Checked as Telegram checks it: at most 50 results with unique ids of 1-64 bytes; a cached video
        names a file_id Telegram issued and has a title; a caption of at most 1024 characters; next_offset of
        at most 64 bytes; a button with a text and exactly one of web_app and start_parameter. Kept in
        ``inline_answers`` by query id; a second answer to one query is refused, as Telegram does."""
        params = call.params
        query_id = str(params.get("inline_query_id") or "")
        results = params.get("results")
        if not query_id or query_id in self.inline_answers:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if not isinstance(results, list):
            raise _ApiError(400, "Bad Request: can't parse inline query results JSON object")
        if len(results) > 50:
            raise _ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [str(result.get("id") or "") for result in results]
        if len(set(ids)) != len(ids):
            raise _ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        for result, result_id in zip(results, ids, strict=True):
            self._check_inline_result(result, result_id)
        if len(str(params.get("next_offset") or "").encode()) > 64:
            raise _ApiError(400, "Bad Request: NEXT_OFFSET_INVALID")
        button = params.get("button")
        if button is not None and not _inline_button_ok(button):
            raise _ApiError(400, "Bad Request: BUTTON_INVALID")
        self.inline_answers[query_id] = params
        return True

    def _check_inline_result(self, result: dict[str, Any], result_id: str) -> None:
        if not 1 <= len(result_id.encode()) <= 64:
            raise _ApiError(400, "Bad Request: RESULT_ID_INVALID")
        if result.get("type") != "video" or "video_file_id" not in result:
            raise _ApiError(400, "Bad Request: RESULT_TYPE_INVALID")  # the fake knows only cached videos
        if result["video_file_id"] not in self._files:
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not str(result.get("title") or "").strip():
            raise _ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
        if len(str(result.get("caption") or "")) > 1024:
            raise _ApiError(400, "Bad Request: MEDIA_CAPTION_TOO_LONG")

    # --- helpers -------------------------------------------------------------------------------------

    # --- the Mini App: setChatMenuButton, videos' thumbnails ---------------------------------------

    def _miniapp_handlers(self) -> dict[str, Callable[[Call], Awaitable[Any]]]:
        return {"setchatmenubutton": self._set_chat_menu_button}

    def _video_thumbnail(self) -> dict[str, Any]:
        """Telegram makes a JPEG thumbnail of a streamable video (a downloadable file here)."""
        file_id = self.add_file(THUMBNAIL_JPEG)
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 180, "height": 320, "file_size": 64}

    async def _set_chat_menu_button(self, call: Call) -> bool:
        button = call.params.get("menu_button") or {"type": "default"}
        if button.get("type") == "web_app" and not str((button.get("web_app") or {}).get("url", "")).startswith(
            "https://"
        ):
            raise _ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        self.menu_button[_as_int(call.params.get("chat_id"))] = button
        return True

    def _chat_id(self, call: Call) -> int:
        if call.chat_id is None:
            raise _ApiError(400, "Bad Request: chat not found")
        return call.chat_id

    def _target(self, call: Call) -> tuple[int, int, dict[str, Any]]:
        chat_id = self._chat_id(call)
        message_id = _as_int(call.params.get("message_id"))
        message = self._chats.get(chat_id, {}).get(message_id) if message_id is not None else None
        if message_id is None or message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return chat_id, message_id, message

    def _message_json(self, chat_id: int, message_id: int, message: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": message["date"],
            "chat": private_chat(chat_id),
            "from": self.bot_user,
        }
        result.update({k: message[k] for k in ("text", "caption", *_MEDIA_KINDS) if message.get(k) is not None})
        markup = message.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:  # only inline keyboards are echoed back
            result["reply_markup"] = markup
        return result


async def _true(call: Call) -> bool:
    return True


def _inline_button_ok(button: Any) -> bool:
    if not isinstance(button, dict) or not str(button.get("text") or "").strip():
        return False
    start, web_app = button.get("start_parameter"), button.get("web_app")
    if (start is None) == (web_app is None):
        return False  # exactly one of them
    return start is None or re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(start)) is not None


def _checked_stars_invoice(params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A Stars invoice's fields checked as Telegram checks them (sendInvoice, createInvoiceLink): the
    Invoice object it would show, and the payload."""
    prices = params.get("prices")
    payload = str(params.get("payload") or "")
    if params.get("currency") != "XTR" or not isinstance(prices, list) or len(prices) != 1:
        raise _ApiError(400, "Bad Request: STARS_INVOICE_INVALID")
    if not 1 <= len(payload.encode()) <= 128:
        raise _ApiError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
    if not 1 <= len(str(params.get("title") or "")) <= 32:
        raise _ApiError(400, "Bad Request: INVOICE_TITLE_INVALID")
    if not 1 <= len(str(params.get("description") or "")) <= 255:
        raise _ApiError(400, "Bad Request: INVOICE_DESCRIPTION_INVALID")
    if params.get("provider_token") not in (None, ""):
        raise _ApiError(400, "Bad Request: PROVIDER_TOKEN_INVALID")
    invoice = {
        "title": params["title"],
        "description": params["description"],
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": _as_int(prices[0].get("amount")),
    }
    return invoice, payload


async def _read_form(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
    """The call's parameters (query string and body) and uploaded files, keyed by parameter name."""
    raw: dict[str, str] = dict(request.query)
    parts: dict[str, tuple[str, int]] = {}
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is None:
                raw[part.name] = await part.text()
            else:
                # Count the bytes instead of keeping them: videos can be large.
                size = 0
                with warnings.catch_warnings():
                    # aiohttp's reader pushes back the bytes after a part's boundary with unread_data(),
                    # which it deprecates itself; a small upload (a photo) ends inside one chunk.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    while chunk := await part.read_chunk():
                        size += len(chunk)
                parts[part.name] = (part.filename, size)
    elif request.can_read_body:
        raw.update((key, value) for key, value in (await request.post()).items() if isinstance(value, str))
    files: dict[str, tuple[str, int]] = {}
    for key, value in raw.items():
        # aiogram sends an upload as "video=attach://<random part name>"; other clients name the part "video".
        if value.startswith("attach://") and value.removeprefix("attach://") in parts:
            files[key] = parts.pop(value.removeprefix("attach://"))
    files.update(parts)
    return {key: _decode(key, value) for key, value in raw.items()}, files


def _decode(key: str, value: str) -> Any:
    if key in _TEXT_PARAMS or not value.startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _checked_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: message is too long")
    return text


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_bool(value: Any) -> bool:
    return str(value).lower() in {"true", "1"}


def _describe(call: Call) -> str:
    params = ", ".join(f"{k}={v!r}"[:80] for k, v in call.params.items())
    files = f" files={call.files}" if call.files else ""
    return f"{call.method}({params}){files}"


# --- update builders ---------------------------------------------------------------------------------


def user(user_id: int, first_name: str = "Ann", language_code: str = "en") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}


def bot_user(bot_id: int = DEFAULT_BOT_ID) -> dict[str, Any]:
    return {"id": bot_id, "is_bot": True, "first_name": "Reelsmith", "username": "reelsmith_bot"}


def private_chat(chat_id: int, first_name: str = "Ann") -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": first_name}


def message_update(
    update_id: int,
    user_id: int,
    *,
    text: str | None = None,
    language_code: str = "en",
    username: str | None = None,
    reply_to_message_id: int | None = None,
    photo: list[dict[str, Any]] | None = None,
    caption: str | None = None,
    document: dict[str, Any] | None = None,
    sticker: dict[str, Any] | None = None,
    video: dict[str, Any] | None = None,
    message_id: int = 1000,
) -> dict[str, Any]:
    """A user's message in their private chat with the bot."""
    sender = user(user_id, language_code=language_code)
    if username is not None:
        sender["username"] = username
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": private_chat(user_id),
        "from": sender,
    }
    if reply_to_message_id is not None:
        message["reply_to_message"] = {
            "message_id": reply_to_message_id,
            "date": int(time.time()),
            "chat": private_chat(user_id),
            "from": sender,
            "text": "📣 News",
        }
    content = {"text": text, "photo": photo, "caption": caption, "document": document, "sticker": sticker}
    message.update({key: value for key, value in {**content, "video": video}.items() if value is not None})
    if text is not None and text.startswith("/"):
        # Telegram marks commands with an entity; aiogram's handlers and filters rely on the text, users on both.
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


def photo_sizes(file_id: str, file_size: int, *, width: int = 1280, height: int = 720) -> list[dict[str, Any]]:
    """The sizes Telegram generates for a photo, smallest first; the last one is the original."""
    sizes = []
    for suffix, scale in (("-s", 4), ("-m", 2), ("", 1)):
        sizes.append(
            {
                "file_id": f"{file_id}{suffix}",
                "file_unique_id": f"u-{file_id}{suffix}",
                "file_size": max(1, file_size // scale**2),
                "width": max(1, width // scale),
                "height": max(1, height // scale),
            }
        )
    return sizes


def callback_update(
    update_id: int,
    user_id: int,
    data: str,
    *,
    message_id: int,
    message_text: str = "…",
    callback_id: str | None = None,
    bot_id: int = DEFAULT_BOT_ID,
    language_code: str = "en",
) -> dict[str, Any]:
    """A press on an inline button under the bot's message ``message_id`` in the user's private chat."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": callback_id or f"cb-{update_id}",
            "from": user(user_id, language_code=language_code),
            "chat_instance": f"ci-{user_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": private_chat(user_id),
                "from": bot_user(bot_id),
                "text": message_text,
            },
        },
    }


def my_chat_member_update(
    update_id: int, user_id: int, *, blocked: bool, bot_id: int = DEFAULT_BOT_ID
) -> dict[str, Any]:
    """What Telegram sends when the user blocks (member -> kicked) or unblocks (kicked -> member) the bot."""
    member = {"user": bot_user(bot_id), "status": "member"}
    kicked = {"user": bot_user(bot_id), "status": "kicked", "until_date": 0}
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": private_chat(user_id),
            "from": user(user_id),
            "date": int(time.time()),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        },
    }


def pre_checkout_update(
    update_id: int,
    user_id: int,
    *,
    payload: str,
    total_amount: int,
    currency: str = "XTR",
    query_id: str | None = None,
    language_code: str = "en",
) -> dict[str, Any]:
    """The buyer pressed Pay: the bot must answer within 10 s."""
    return {
        "update_id": update_id,
        "pre_checkout_query": {
            "id": query_id or f"pcq-{update_id}",
            "from": user(user_id, language_code=language_code),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
        },
    }


def _payment_message(update_id: int, user_id: int, language_code: str, **content: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 5000 + update_id % 100_000,
            "date": int(time.time()),
            "chat": private_chat(user_id),
            "from": user(user_id, language_code=language_code),
            **content,
        },
    }


def successful_payment_update(
    update_id: int,
    user_id: int,
    *,
    payload: str,
    total_amount: int,
    charge_id: str,
    currency: str = "XTR",
    language_code: str = "en",
) -> dict[str, Any]:
    """The service message of a completed Stars payment."""
    payment = {
        "currency": currency,
        "total_amount": total_amount,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    return _payment_message(update_id, user_id, language_code, successful_payment=payment)


def subscription_payment_update(
    update_id: int,
    user_id: int,
    *,
    payload: str,
    total_amount: int,
    charge_id: str,
    first: bool,
    expires_at: int,
    language_code: str = "en",
) -> dict[str, Any]:
    """A charge of a Stars subscription: the first (is_first_recurring) or a renewal; both carry the
    first invoice's payload, is_recurring and the new expiry (Unix time)."""
    update = successful_payment_update(
        update_id, user_id, payload=payload, total_amount=total_amount, charge_id=charge_id, language_code=language_code
    )
    payment = update["message"]["successful_payment"]
    payment.update({"is_recurring": True, "subscription_expiration_date": expires_at})
    if first:
        payment["is_first_recurring"] = True
    return update


def refunded_payment_update(
    update_id: int, user_id: int, *, payload: str, total_amount: int, charge_id: str, language_code: str = "en"
) -> dict[str, Any]:
    """The service message Telegram sends when a Stars payment was refunded (by the bot or by Telegram)."""
    refund = {
        "currency": "XTR",
        "total_amount": total_amount,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
    }
    return _payment_message(update_id, user_id, language_code, refunded_payment=refund)


def inline_query_update(
    update_id: int, user_id: int, *, query: str = "", offset: str = "", language_code: str = "en"
) -> dict[str, Any]:
    """The user typed ``@bot query`` in some chat (``offset``: the next_offset of the answer they scrolled past)."""
    return {
        "update_id": update_id,
        "inline_query": {
            "id": f"iq-{update_id}",
            "from": user(user_id, language_code=language_code),
            "query": query,
            "offset": offset,
            "chat_type": "private",
        },
    }
