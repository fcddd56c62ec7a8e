"""The HTTP side: one aiohttp server for health checks and the webhooks of the web components.

``/healthz`` says the process is alive and touches nothing else (liveness). ``/readyz`` says it can
do its work: the database answers and, in a worker, the consumers run (readiness). Its checks run at
most once a second whatever the request rate (anyone can ask), and why a check fails goes to the
log; the response shows the reasons only to a caller with the metrics token.

Idle keep-alive connections are closed after KEEPALIVE_S, a client that does not finish sending
its request line and headers within HEADERS_S is cut off, and one that does not finish its body
within BODY_S gets a 408 and is cut off too (a slow client holds a connection, never the loop).

Junk never gets a 5xx: a path that is not clean UTF-8 or holds a NUL byte gets 400 before any
handler runs (PostgreSQL refuses NUL bytes, so a token holding one would fail in the database), and
every endpoint reads its body with ``core.web.body.read_json_object``.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from urllib.parse import unquote_to_bytes

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler

from core.web.body import BODY_S, BODY_TIMEOUT, MAX_BODY_BYTES
from db.errors import UNAVAILABLE

log = structlog.get_logger("web")

# A readiness check: True when ready; False, or a sentence saying why, when not.
Check = Callable[[], Awaitable[bool | str]]
CHECK_TIMEOUT_S = 2.0
READY_CACHE_S = 1.0
KEEPALIVE_S = 15.0  # idle keep-alive connections; platform proxies keep theirs shorter than 60 s
HEADERS_S = 10.0  # to send the request line and headers


class Readiness:
    """The checks' results, computed at most once per ``ttl`` and shared by the requests that arrive
    meanwhile (one computation at a time): /readyz costs the database one query a second, however
    often it is asked. The reasons of a failing check are logged when computed."""

    def __init__(self, checks: Mapping[str, Check], ttl: float = READY_CACHE_S) -> None:
        self._checks = dict(checks)
        self._ttl = ttl
        self._at = -math.inf
        self._results: dict[str, bool | str] = {}
        self._lock = asyncio.Lock()

    async def results(self) -> dict[str, bool | str]:
        async with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                outcomes = await asyncio.gather(*(_run(check) for check in self._checks.values()))
                self._results = dict(zip(self._checks, outcomes, strict=True))
                self._at = time.monotonic()
                failing = {name: result for name, result in self._results.items() if result is not True}
                if failing:
                    log.warning("web.not_ready", reasons={k: v or "failed" for k, v in failing.items()})
            return self._results


READINESS = web.AppKey("readiness", Readiness)
DETAILS_TOKEN = web.AppKey("details_token", str)


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


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    results = await request.app[READINESS].results()
    ready = all(result is True for result in results.values())
    body: dict[str, object] = {
        "status": "ready" if ready else "unavailable",
        "checks": {name: result is True for name, result in results.items()},
    }
    reasons = {name: result for name, result in results.items() if isinstance(result, str)}
    if reasons and _shows_details(request):
        body["reasons"] = reasons
    return web.json_response(body, status=200 if ready else 503)


def _shows_details(request: web.Request) -> bool:
    """The reasons are for the operator: only with ``Authorization: Bearer <METRICS_TOKEN>``."""
    token = request.app.get(DETAILS_TOKEN)
    given = request.headers.get("Authorization", "").encode()
    return bool(token) and hmac.compare_digest(given, f"Bearer {token}".encode())


async def _run(check: Check) -> bool | str:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as error:
        log.warning("web.readyz.check_failed", error=str(error) or type(error).__name__)
        return False


def build_app(
    checks: Mapping[str, Check],
    routes: Iterable[Callable[[web.Application], None]] = (),
    *,
    details_token: str | None = None,
    body_timeout_s: float = BODY_S,
) -> web.Application:
    """``details_token`` (METRICS_TOKEN): the bearer token that shows /readyz's reasons.
    ``body_timeout_s``: how long a request may take to send its body (core/web/body.py)."""
    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY_BYTES + 1)
    app[BODY_TIMEOUT] = body_timeout_s
    app[READINESS] = Readiness(checks)
    if details_token:
        app[DETAILS_TOKEN] = details_token
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for add_routes in routes:
        add_routes(app)
    return app


class WebServer:
    def __init__(
        self,
        app: web.Application,
        *,
        host: str,
        port: int,
        shutdown_timeout: float,
        keepalive_s: float = KEEPALIVE_S,
        headers_s: float = HEADERS_S,
    ) -> None:
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=shutdown_timeout, keepalive_timeout=keepalive_s
        )
        self._host = host
        self._port = port
        self._headers_s = headers_s
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self._sweeper = asyncio.create_task(self._cut_slow_headers(), name="web.slow_headers")
        log.info("web.ready", host=self._host, port=self._port)

    async def stop(self) -> None:
        """Stop accepting connections, let requests in flight finish, close."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self._runner.cleanup()

    async def _cut_slow_headers(self) -> None:
        """aiohttp has no header-read timeout: a client may open a connection and trickle its first
        request line and headers forever. Close a connection that has not sent one whole request head
        within ``headers_s`` of being seen. Later requests on a connection are covered by the
        keep-alive timeout (an idle connection with a half-sent head is closed by it)."""
        seen: dict[RequestHandler, float] = {}
        while True:
            await asyncio.sleep(self._headers_s / 4)
            server = self._runner.server
            now = time.monotonic()
            seen = {handler: seen.get(handler, now) for handler in (server.connections if server else [])}
            for handler, since in seen.items():
                # _request_count: request heads parsed on this connection (aiohttp counts them as parsed).
                if now - since > self._headers_s and not handler._request_count and handler.transport:
                    log.info("web.slow_headers_cut", after_s=round(now - since, 1))
                    handler.transport.close()
