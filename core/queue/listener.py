"""LISTEN on a dedicated connection that comes back after it is lost.

Transaction-mode poolers (PgBouncer, Supavisor) cannot carry LISTEN, so this connection goes
straight to the server (DATABASE_DIRECT_URL). While it is down the queue falls back to polling;
after every (re)connect ``on_connect`` runs, because notifications sent meanwhile are gone.
It lives with the queue (not in db/) because it is a loop with a policy, not a statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog

from core.backoff import Backoff
from db.pool import connect

log = structlog.get_logger("db.listener")

Handler = Callable[[str], None]


class Listener:
    def __init__(
        self,
        dsn: str,
        handlers: dict[str, Handler],
        *,
        on_connect: Callable[[], None],
        keepalive_s: float = 30.0,
        retry_max_s: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._handlers = handlers
        self._on_connect = on_connect
        self._keepalive_s = keepalive_s
        self.backoff = Backoff(base=0.2, cap=retry_max_s, jitter=0)
        self._state = asyncio.Condition()
        self.backend_pid: int | None = None
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self.backend_pid is not None

    async def wait_connected(self, *, after: int = 0) -> int:
        """Wait until the listener has connected more than ``after`` times; return the count."""
        async with self._state:
            await self._state.wait_for(lambda: self.connected and self.connects > after)
            return self.connects

    async def run(self) -> None:
        failures = 0  # connects failed in a row
        while True:
            try:
                conn = await connect(self._dsn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning("listener.connect_failed", error=str(error), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            failures = 0
            try:
                await self._listen(conn)
            finally:
                await self._set_pid(None)
                conn.terminate()
            log.warning("listener.lost", note="polling until the connection is back")

    async def _listen(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            for channel, handler in self._handlers.items():
                await conn.add_listener(channel, _deliver(handler))
            await self._set_pid(conn.get_server_pid())
            log.info("listener.ready", channels=sorted(self._handlers), backend_pid=self.backend_pid)
            self._on_connect()
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=self._keepalive_s)
                except TimeoutError:
                    # A connection dropped by the network stays silent until something is sent.
                    await conn.fetchval("SELECT 1", timeout=5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            log.warning("listener.error", error=str(error))

    async def _set_pid(self, pid: int | None) -> None:
        async with self._state:
            self.backend_pid = pid
            if pid is not None:
                self.connects += 1
            self._state.notify_all()


def _deliver(handler: Handler) -> Callable[[object, int, str, object], None]:
    def callback(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        handler(str(payload))  # a NOTIFY payload is always text

    return callback
