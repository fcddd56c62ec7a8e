"""The HTTP side: one aiohttp server for health checks and the webhooks of the web components.

``/healthz`` says the process is alive and touches nothing else (liveness). ``/readyz`` says it can
do its work: the database answers and, in a worker, the consumers run (readiness).

Junk never gets a 5xx: a path that is not clean UTF-8 or holds a NUL byte gets 400 before any
handler runs (PostgreSQL refuses NUL bytes, so a token holding one would fail in the database), and
every endpoint reads its body with ``read_json_object``: too large 413; not JSON, any encoding
error, nested deeper than MAX_JSON_DEPTH, an integer outside int64 or not an object 400. What it
returns is cleaned for PostgreSQL: NUL bytes stripped, lone surrogates replaced.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST

from core.metrics import Fleet
from core.queue.outage import UNAVAILABLE

log = structlog.get_logger("web")

# A readiness check: True when ready; False, or a sentence saying why, when not.
Check = Callable[[], Awaitable[bool | str]]
CHECKS = web.AppKey("checks", dict[str, Check])
CHECK_TIMEOUT_S = 2.0
MAX_BODY_BYTES = 1024 * 1024  # a Telegram update or a KIE callback is a few kB
MAX_JSON_DEPTH = 64  # Telegram's deepest update (a reply to a reply, with markup) is about 10
INT64 = range(-(2**63), 2**63)  # what a bigint column takes; a larger id would fail in the database


class BodyError(ValueError):
    """The request body is not a JSON object we can work with; the message says why (for the 400)."""


def path_ok(raw_path: str) -> bool:
    """The path, percent-decoded, is UTF-8 without NUL or other control characters."""
    try:
        path = unquote_to_bytes(raw_path.partition("?")[0]).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return path.isprintable()


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bad path gets 400 before any handler runs; an endpoint that finds the database away answers
    503 (the caller retries), not 500. One middleware, not two: aiohttp wraps each one per request."""
    if not path_ok(request.raw_path):
        return web.json_response({"error": "bad path"}, status=400)
    try:
        return await handler(request)
    except UNAVAILABLE as error:
        log.warning("web.database_unavailable", path=request.path, error=str(error) or type(error).__name__)
        return web.json_response({"error": "the database is unavailable, try again later"}, status=503)


def _no_constants(name: str) -> Any:
    raise BodyError(f"{name} is not JSON")


def parse_json_object(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """The body as a cleaned JSON object; raises BodyError for anything else."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)  # bytes: UTF-8/16/32 detected
    except RecursionError:
        raise BodyError("nested too deep") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise BodyError(str(error) if isinstance(error, BodyError) else "not JSON") from None
    if isinstance(value, dict) and _plain(raw, max_depth):
        return value  # the common case, checked on the bytes: nothing to walk
    return clean_object(value, max_depth=max_depth)


# What only the walk can settle: NUL or surrogate escapes, surrogates encoded as bytes (json.loads
# decodes bytes with "surrogatepass"), integers of 19 digits or more.
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]|\d{19}")


def _plain(raw: bytes, max_depth: int) -> bool:
    """Certainly clean: fewer brackets than the depth limit, nothing _SUSPECT (in UTF-8 bodies)."""
    return raw.count(b"{") + raw.count(b"[") <= max_depth and not _SUSPECT.search(raw) and raw[:1] == b"{"


def clean_object(root: object, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A parsed JSON object checked (depth, integers) and its strings cleaned, in place; raises
    BodyError. Iterative: no recursion for a deep body to exhaust."""
    if not isinstance(root, dict):
        raise BodyError("not a JSON object")
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise BodyError("nested too deep")
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if isinstance(node, dict):
            node.clear()
        for key, value in items:
            if isinstance(value, str):
                value = clean_text(value)
            elif isinstance(value, bool | float) or value is None:
                pass
            elif isinstance(value, int):
                if value not in INT64:
                    raise BodyError("integer out of range")
            else:
                stack.append((value, depth + 1))
            node[clean_text(key) if isinstance(key, str) else key] = value
    return root


def clean_text(text: str) -> str:
    """Text PostgreSQL accepts: NUL bytes stripped, lone surrogates (valid JSON escapes) replaced."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a cleaned JSON object. Raises HTTPRequestEntityTooLarge (413) or
    BodyError (answer 400 with its message)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    # A chunked body has no Content-Length: aiohttp stops reading it at the app's client_max_size
    # (MAX_BODY_BYTES, build_app) with a 413.
    return parse_json_object(await request.read())


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[CHECKS]
    results = dict(zip(checks, await asyncio.gather(*(_run(check) for check in checks.values())), strict=True))
    ready = all(result is True for result in results.values())
    body: dict[str, object] = {
        "status": "ready" if ready else "unavailable",
        "checks": {name: result is True for name, result in results.items()},
    }
    reasons = {name: result for name, result in results.items() if isinstance(result, str)}
    if reasons:
        body["reasons"] = reasons
    return web.json_response(body, status=200 if ready else 503)


async def _run(check: Check) -> bool | str:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as error:
        log.warning("web.readyz.check_failed", error=str(error) or type(error).__name__)
        return False


def metrics_route(fleet: Fleet, token: str | None) -> Callable[[web.Application], None]:
    """GET /metrics in Prometheus text format; with METRICS_TOKEN, only for ``Authorization: Bearer``."""
    expected = f"Bearer {token}".encode()

    async def metrics(request: web.Request) -> web.Response:
        if token and not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
            return web.Response(status=401, text="unauthorized", headers={"WWW-Authenticate": "Bearer"})
        return web.Response(body=await fleet.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def add(app: web.Application) -> None:
        app.router.add_get("/metrics", metrics)

    return add


def build_app(checks: Mapping[str, Check], routes: Iterable[Callable[[web.Application], None]] = ()) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY_BYTES + 1)
    app[CHECKS] = dict(checks)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for add_routes in routes:
        add_routes(app)
    return app


class WebServer:
    def __init__(self, app: web.Application, *, host: str, port: int, shutdown_timeout: float) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("web.ready", host=self._host, port=self._port)

    async def stop(self) -> None:
        """Stop accepting connections, let requests in flight finish, close."""
        await self._runner.cleanup()
