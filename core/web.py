"""The HTTP side: one aiohttp server for health checks and the webhooks of the web components.

``/healthz`` says the process is alive and touches nothing else (liveness). ``/readyz`` says it can
do its work: the database answers and, in a worker, the consumers run (readiness).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from core.metrics import Fleet

log = structlog.get_logger("web")

Check = Callable[[], Awaitable[bool]]
CHECKS = web.AppKey("checks", dict[str, Check])
CHECK_TIMEOUT_S = 2.0


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[CHECKS]
    results = dict(zip(checks, await asyncio.gather(*(_run(check) for check in checks.values())), strict=True))
    ready = all(results.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": results}, status=200 if ready else 503
    )


async def _run(check: Check) -> bool:
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
    app = web.Application()
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
