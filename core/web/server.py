"""The HTTP side: one aiohttp server for health checks and the webhooks of the web components.

``/healthz`` says the process is alive and touches nothing else (liveness). ``/readyz`` says it can
do its work: the database answers and, in a worker, the consumers run (readiness).

Junk never gets a 5xx: a path that is not clean UTF-8 or holds a NUL byte gets 400 before any
handler runs (PostgreSQL refuses NUL bytes, so a token holding one would fail in the database), and
every endpoint reads its body with ``core.web.body.read_json_object``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from urllib.parse import unquote_to_bytes

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from core.web.body import MAX_BODY_BYTES
from db.errors import UNAVAILABLE

log = structlog.get_logger("web")

# A readiness check: True when ready; False, or a sentence saying why, when not.
Check = Callable[[], Awaitable[bool | str]]
CHECKS = web.AppKey("checks", dict[str, Check])
CHECK_TIMEOUT_S = 2.0


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
