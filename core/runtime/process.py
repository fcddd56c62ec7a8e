"""The life of the process: start its parts for a role, run until told to stop, stop them well.

Stopping (SIGTERM, SIGINT, a tripped breaker, a part that keeps crashing): the web server stops
accepting connections, the queue stops claiming, running jobs get SHUTDOWN_GRACE to finish, and
the rest are handed back to the queue without spending an attempt. A second signal exits at once.

Exit codes: 0 stopped on request, 1 failed to start, 70 a part kept crashing, 75 the circuit
breaker tripped, 78 bad settings, 128+N a second signal N. Anything non-zero asks the platform
for a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Sequence
from typing import Protocol

import asyncpg
import structlog
from aiohttp import web

from core import errors, metrics
from core.exits import EXIT_BREAKER, EXIT_CONFIG, EXIT_OK, EXIT_START_FAILED, EXIT_SUPERVISOR, Fatal, Role
from core.queue.breaker import CircuitBreaker
from core.queue.jobs import Registry
from core.queue.worker import QueueConfig, Worker
from core.runtime.outage import OUTAGE_LIMIT_S, Outage
from core.runtime.supervisor import Supervisor
from core.settings.sections import MetricsSettings, QueueSettings, RuntimeSettings, reveal
from core.tasks import Starter
from core.web.body import BODY_S
from core.web.metrics import Fleet, metrics_route
from core.web.server import Check, WebServer, build_app

log = structlog.get_logger("runtime")

__all__ = ["EXIT_BREAKER", "EXIT_CONFIG", "EXIT_OK", "EXIT_START_FAILED", "EXIT_SUPERVISOR", "Role", "Runtime"]


class Component(Protocol):
    """A part of the web side (the Telegram frontend, the KIE callback): routes, start, stop. One
    may also have ``checks() -> dict[str, Check]``, added to /readyz."""

    def add_routes(self, web_app: web.Application) -> None: ...
    async def start(self, supervisor: Starter) -> None: ...
    async def stop(self) -> None: ...


class Runtime:
    def __init__(
        self,
        settings: RuntimeSettings,
        pool: asyncpg.Pool,
        registry: Registry,
        *,
        queue: QueueSettings,
        metrics_settings: MetricsSettings,
        role: Role = Role.ALL,
        listen_dsn: str | None = None,
        owner: str | None = None,
        handle_signals: bool = True,
        components: Sequence[Component] = (),
        outage_limit_s: float = OUTAGE_LIMIT_S,
        on_forced_exit: Callable[[], None] | None = None,
        private_metrics: bool = False,
        body_timeout_s: float = BODY_S,
    ) -> None:
        """``private_metrics``: the process is reachable from the internet (webhook mode), so /metrics
        (revenue, credits sold, errors) is served only with METRICS_TOKEN, and is a 404 without one."""
        self._on_forced_exit = on_forced_exit  # blocking clean-up that must happen even then
        self.settings = settings
        self._handle_signals = handle_signals
        self.pool = pool
        self.role = role
        self.outage = Outage(self._database_ok, on_too_long=self._database_gone, limit_s=outage_limit_s)
        self.supervisor = Supervisor(
            max_restarts=settings.supervisor_max_restarts,
            window_s=settings.supervisor_window,
            on_give_up=self._gave_up,
            outage=self.outage,
        )
        self.worker: Worker | None = None
        if role in (Role.ALL, Role.WORKER):
            breaker = CircuitBreaker(settings.breaker_threshold, self._tripped)
            config = QueueConfig(
                consumers=queue.consumers,
                lease_s=queue.lease,
                poll_s=queue.poll_interval,
                keep_succeeded_s=queue.keep_succeeded,
                keep_failed_s=queue.keep_failed,
                vacuum_dead_rows=queue.vacuum_dead_rows,
            )
            self.worker = Worker(pool, registry, config, listen_dsn=listen_dsn, breaker=breaker, owner=owner)
        self.components: Sequence[Component] = components if role in (Role.ALL, Role.WEB) else ()
        # Every role serves HTTP: a worker-only process still answers /healthz, /readyz and /metrics.
        checks: dict[str, Check] = {"database": self._database_ok, "accepting": self._accepting}
        if self.worker:
            checks["consumers"] = self._consumers_ok
        for component in self.components:
            checks.update(getattr(component, "checks", dict)())
        routes: list[Callable[[web.Application], None]] = [component.add_routes for component in self.components]
        metrics.enable(metrics_settings.enabled)
        self.fleet = Fleet(pool, cache_s=metrics_settings.cache)
        if metrics_settings.enabled:
            token = reveal(metrics_settings.token)
            hidden = private_metrics and not token
            if hidden:
                log.warning(
                    "metrics.hidden",
                    note="PUBLIC_BASE_URL is set and METRICS_TOKEN is not: /metrics answers 404; set METRICS_TOKEN",
                )
            routes.append(metrics_route(self.fleet, token, hidden=hidden))
        self.web = WebServer(
            build_app(checks, routes, details_token=reveal(metrics_settings.token), body_timeout_s=body_timeout_s),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_grace,
        )
        self.exit_code = EXIT_OK
        self.stop_reason = ""
        self.started = asyncio.Event()
        self._stopping = asyncio.Event()
        self._signals = 0

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if self._handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            try:
                await self._start()
            except Exception as error:
                log.critical("runtime.start_failed", error=str(error), exc_info=error)
                self.stop("failed to start", EXIT_START_FAILED)
            await self._stopping.wait()
            await self._shutdown()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        return self.exit_code

    def stop(self, reason: str, exit_code: int = EXIT_OK) -> None:
        """Begin a graceful stop; the first reason and exit code win."""
        if self._stopping.is_set():
            return
        self.stop_reason = reason
        self.exit_code = exit_code
        self._stopping.set()

    async def _start(self) -> None:
        self.supervisor.start("database.watch", self.outage.watch)
        if self.worker:
            self.worker.start(self.supervisor)
        await self.web.start()
        for component in self.components:
            await component.start(self.supervisor)
        log.info(
            "runtime.started",
            role=str(self.role),
            pid=os.getpid(),
            worker=self.worker.owner if self.worker else None,
            consumers=self.worker.consumer_count if self.worker else 0,
        )
        self.started.set()

    async def _shutdown(self) -> None:
        log.info("runtime.stopping", reason=self.stop_reason, grace_s=self.settings.shutdown_grace)
        deadline = asyncio.get_running_loop().time() + self.settings.shutdown_grace
        web_stopped = asyncio.create_task(self.web.stop())
        if self.worker:
            await self.worker.drain(deadline)
        await web_stopped
        for component in self.components:  # after the web: replies of the last requests go out too
            await component.stop()
        await self.supervisor.cancel()
        log.info("runtime.stopped", reason=self.stop_reason, exit_code=self.exit_code)
        await asyncio.to_thread(errors.flush)  # reports still queued go out before the process exits

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            log.critical("runtime.forced_exit", signal=sig.name, note="leased jobs return when leases expire")
            if self._on_forced_exit is not None:
                self._on_forced_exit()
            os._exit(128 + sig)
        self.stop(f"{sig.name} received")

    def _gave_up(self, component: str, error: BaseException) -> None:
        if isinstance(error, Fatal):
            self.stop(f"{component}: {error}", error.exit_code)
        else:
            self.stop(f"{component} kept crashing: {error}", EXIT_SUPERVISOR)

    def _database_gone(self, seconds: float) -> None:
        log.critical("db.outage.too_long", seconds=round(seconds), note="exiting so the platform restarts the process")
        self.stop(f"the database was unreachable for {seconds:.0f}s", EXIT_SUPERVISOR)

    def _tripped(self, failures: int) -> None:
        log.critical(
            "runtime.circuit_breaker.tripped",
            consecutive_failures=failures,
            note="draining and exiting so the platform restarts the process",
        )
        self.stop(f"circuit breaker: {failures} failures in a row", EXIT_BREAKER)

    async def _database_ok(self) -> bool:
        return await self.pool.fetchval("SELECT 1") == 1

    async def _accepting(self) -> bool:
        return not self._stopping.is_set()

    async def _consumers_ok(self) -> bool:
        return self.worker is not None and self.worker.alive()
