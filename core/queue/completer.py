"""Writes job outcomes in batches: one statement for everything that finished since the last write.

There is no timer: a write starts as soon as an outcome arrives and the previous write is done,
so an idle process writes each outcome at once and a busy one groups them. The price is a small
window: a process killed between a job's end and its write leaves the job running until its
lease expires, and the job then runs again (at least once, never lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog

from core.queue.outcomes import Outcome
from db import jobs as db_jobs

log = structlog.get_logger("queue.completer")


class Completer:
    def __init__(self, pool: asyncpg.Pool, *, owner: str, on_requeued: Callable[[float], None]) -> None:
        self._pool = pool
        self._owner = owner
        self._on_requeued = on_requeued  # told when the soonest job written back to the queue is due
        self._pending: list[Outcome] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        async with self._pool.acquire() as conn:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self.flush(conn)

    async def flush(self, db: db_jobs.Executor | None = None) -> None:
        """Write everything pending; on error the outcomes stay pending and the error propagates."""
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._write(db or self._pool, batch)
                except BaseException:
                    self._pending[:0] = batch
                    raise

    async def _write(self, db: db_jobs.Executor, batch: list[Outcome]) -> None:
        written = await db_jobs.finish(
            db,
            self._owner,
            [o.job.id for o in batch],
            [o.state for o in batch],
            [o.delay for o in batch],
            [o.error for o in batch],
            [o.refund for o in batch],
            [o.snoozed for o in batch],
        )
        self.written += len(written)
        due = [seconds for seconds in written.values() if seconds is not None]
        if due:
            self._on_requeued(max(0.0, min(due)))
        for outcome in batch:
            if outcome.job.id not in written:
                log.warning(
                    "queue.job.outcome_dropped",
                    job_id=outcome.job.id,
                    kind=outcome.job.kind,
                    attempt=outcome.job.attempt,
                    verdict=str(outcome.verdict),
                    reason="the lease was lost: the job was rescued and belongs to another run",
                )
