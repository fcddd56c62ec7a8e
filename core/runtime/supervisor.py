"""When to restart a part of the process and when to give up and let the platform restart it.

Two policies, for two kinds of trouble:
- ``Supervisor``: a coroutine that crashes (a consumer, the claim loop, the lease keeper) is
  restarted with exponential backoff; more than ``max_restarts`` crashes within ``window_s`` and
  the process exits non-zero.
- ``Fatal``: a part that finds the process cannot work as configured (Telegram refuses the bot
  token) raises it: no restart, the process stops with the exit code it names.
- A lost database (``Outage``): a loop failing because the database is away is restarted
  quietly, every few seconds, without counting as a crash; the outage's own limit decides when
  the process gives up (core/runtime/outage.py).
- The queue's ``CircuitBreaker`` (core/queue/breaker.py) is the third: job failures in a row that a
  restart can cure make the process drain and exit.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from core.backoff import Backoff
from core.exits import Fatal
from core.runtime.outage import Outage
from db.errors import unavailable

log = structlog.get_logger("supervisor")

GiveUp = Callable[[str, BaseException], None]
OUTAGE_BACKOFF_MAX_S = 5.0


class Supervisor:
    def __init__(
        self,
        *,
        max_restarts: int,
        window_s: float,
        on_give_up: GiveUp,
        backoff_s: float = 1.0,
        outage: Outage | None = None,
    ) -> None:
        self._outage = outage
        self._max_restarts = max_restarts
        self._window_s = window_s
        self._on_give_up = on_give_up
        self.restart_backoff = Backoff(base=backoff_s, jitter=0)
        self.outage_backoff = Backoff(base=backoff_s, cap=OUTAGE_BACKOFF_MAX_S, jitter=0)
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._supervise(name, run), name=name)
        self.tasks[name] = task
        return task

    def alive(self, prefix: str = "") -> bool:
        tasks = [t for name, t in self.tasks.items() if name.startswith(prefix)]
        return bool(tasks) and not any(t.done() for t in tasks)

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        crashes: deque[float] = deque()
        waits = 0  # restarts in a row while the database is away
        while True:
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Fatal as error:
                log.critical("supervisor.fatal", component=name, error=str(error), exit_code=error.exit_code)
                self._on_give_up(name, error)
                return
            except Exception as error:
                if self._outage is not None and unavailable(error) and await self._outage.check():
                    log.debug("supervisor.waiting_for_database", component=name, error=str(error))
                    waits += 1
                    await asyncio.sleep(self.outage_backoff.delay(waits))
                    continue
                waits = 0
                now = time.monotonic()
                while crashes and now - crashes[0] > self._window_s:
                    crashes.popleft()
                if len(crashes) >= self._max_restarts:
                    log.critical(
                        "supervisor.gave_up",
                        component=name,
                        restarts=len(crashes),
                        window_s=self._window_s,
                        error=str(error),
                        exc_info=error,
                    )
                    self._on_give_up(name, error)
                    return
                crashes.append(now)
                delay = self.restart_backoff.delay(len(crashes))
                log.error(
                    "supervisor.restarting",
                    component=name,
                    restart=len(crashes),
                    retry_in_s=delay,
                    error=str(error),
                    exc_info=error,
                )
                await asyncio.sleep(delay)

    async def cancel(self, *names: str) -> None:
        """Cancel the named tasks (all when none is named) and wait for them to end."""
        tasks = [self.tasks[n] for n in names] if names else list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
