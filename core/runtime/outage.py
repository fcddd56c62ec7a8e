"""Database blips: a lost database is waited for, quietly, up to a limit; only then does the process
give up (exit non-zero, so the platform restarts it).

A routine managed-PostgreSQL failover takes 10-40 s. During one, every loop that touches the
database fails: the supervisor restarts those without counting them as crashes (when a ping
confirms the database is away), jobs that failed on it do not count toward the circuit breaker,
the webhook answers 503 (Telegram redelivers) and /readyz 503. A watcher pings the database; once
it has been away for longer than the limit, the process stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from db.errors import UNAVAILABLE

log = structlog.get_logger("db.outage")

OUTAGE_LIMIT_S = 60.0
PING_TIMEOUT_S = 2.0


class Outage:
    """Whether the database is away and since when; ``on_too_long`` once past ``limit_s``."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[object]],
        *,
        on_too_long: Callable[[float], None],
        limit_s: float = OUTAGE_LIMIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ping = ping
        self._on_too_long = on_too_long
        self._limit_s = limit_s
        self._clock = clock
        self.since: float | None = None
        self._gave_up = False

    @property
    def active(self) -> bool:
        return self.since is not None

    async def check(self) -> bool:
        """Ping now; True while the database is away."""
        try:
            await asyncio.wait_for(self._ping(), PING_TIMEOUT_S)
        except UNAVAILABLE as error:
            return self._down(error)
        if self.since is not None:
            log.warning("db.outage.over", lasted_s=round(self._clock() - self.since, 1))
            self.since = None
        return False

    def _down(self, error: BaseException) -> bool:
        now = self._clock()
        if self.since is None:
            self.since = now
            log.warning("db.outage.begun", error=str(error) or type(error).__name__, gives_up_after_s=self._limit_s)
        elif now - self.since > self._limit_s and not self._gave_up:
            self._gave_up = True
            self._on_too_long(now - self.since)
        return True

    async def watch(self, *, every_s: float = 2.0, during_s: float = 1.0) -> None:
        """Ping every ``every_s``, every ``during_s`` while the database is away."""
        while True:
            down = await self.check()
            await asyncio.sleep(during_s if down else every_s)
