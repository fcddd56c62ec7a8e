"""The claim loop: one per process, it fills free consumer slots from the database.

It claims in one statement as many due jobs as there are free slots (respecting per-kind limits)
and hands them to the consumers through an in-process queue, so N consumers cost one query, not
N. It sleeps until a NOTIFY, a freed slot (when the last claim suggested more work), the next
retry this process scheduled, or the poll interval, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable

import asyncpg
import structlog

from core.queue.jobs import Job, Registry
from db import jobs as db_jobs

log = structlog.get_logger("queue.producer")


class Producer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: Registry,
        deliver: Callable[[Job], None],
        *,
        owner: str,
        slots: int,
        lease_s: float,
        poll_s: float,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._deliver = deliver
        self._owner = owner
        self._slots = slots
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._busy = 0
        self._busy_by_kind: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._more = True  # the last claim filled what it asked for: there may be more
        self._next_due: float | None = None
        self._stopping = False
        self.claims = 0

    # --- signals from the rest of the process ---------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def wake_in(self, seconds: float) -> None:
        """A job this process re-queued falls due then; look again without waiting for the poll."""
        due = asyncio.get_running_loop().time() + seconds
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            self._wake.set()

    def release(self, kind: str) -> None:
        """A consumer slot is free again. Look for work if the last claim suggested more, or if the
        slot belongs to a kind held back by its own limit (its queued jobs were not even asked for)."""
        self._busy -= 1
        self._busy_by_kind[kind] -= 1
        if self._more or self._registry[kind].concurrency is not None:
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # --- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        # One connection for the loop's life: a claim every round trip is too hot for pool churn.
        async with self._pool.acquire() as conn:
            while not self._stopping:
                await self.claim_once(conn)
                await self._sleep()

    async def claim_once(self, db: db_jobs.Executor | None = None) -> int:
        kinds, caps = self._demand()
        limit = self._slots - self._busy
        if not kinds:
            if limit > 0:
                # Slots are free but every kind is at its own limit: nothing to ask for until one of
                # their jobs ends (release() wakes us then). Without this the loop would spin.
                self._more = False
            return 0
        rows = await db_jobs.claim(db or self._pool, kinds, caps, limit, self._owner, self._lease_s)
        self.claims += 1
        claimed = [_job(row) for row in rows]
        claimed.sort(key=lambda job: (-job.priority, job.run_at, job.id))
        per_kind = Counter(job.kind for job in claimed)
        self._more = len(claimed) == limit or any(per_kind[k] == c for k, c in zip(kinds, caps, strict=True))
        for job in claimed:
            self._busy += 1
            self._busy_by_kind[job.kind] += 1
            self._deliver(job)
        return len(claimed)

    def _demand(self) -> tuple[list[str], list[int]]:
        """Kinds this process may take now, each with how many."""
        free = self._slots - self._busy
        kinds: list[str] = []
        caps: list[int] = []
        if free <= 0 or self._stopping:
            return kinds, caps
        for spec in self._registry:
            cap = free if spec.concurrency is None else min(free, spec.concurrency - self._busy_by_kind[spec.kind])
            if cap > 0:
                kinds.append(spec.kind)
                caps.append(cap)
        return kinds, caps

    async def _sleep(self) -> None:
        if self._stopping or (self._more and self._busy < self._slots):
            return
        loop = asyncio.get_running_loop()
        timeout = self._poll_s
        if self._next_due is not None:
            timeout = min(timeout, max(0.0, self._next_due - loop.time()))
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
        if self._next_due is not None and self._next_due <= loop.time():
            self._next_due = None
        self._more = True  # woken: something may be due now


def _job(row: asyncpg.Record) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        payload=row["payload"],
        priority=row["priority"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        snoozes=row["snoozes"],
        run_at=row["run_at"],
        created_at=row["created_at"],
    )
