"""Background duties of a worker process: keeping its leases, rescuing others', pruning history."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from core.queue.consumers import Consumers, Interrupt
from db import jobs as db_jobs

log = structlog.get_logger("queue.upkeep")


class LeaseKeeper:
    """Renews this process's leases a few times per lease period, and acts on what it learns:
    jobs an operator asked to stop are stopped, and a run whose lease is gone is abandoned."""

    def __init__(self, pool: asyncpg.Pool, consumers: Consumers, *, owner: str, lease_s: float) -> None:
        self._pool = pool
        self._consumers = consumers
        self._owner = owner
        self._lease_s = lease_s
        self.interval = lease_s / 3

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.renew_once()

    async def renew_once(self) -> None:
        before = dict(self._consumers.running)  # runs that were claimed before this renewal
        rows = await db_jobs.renew_leases(self._pool, self._owner, self._lease_s)
        renewed = {row["id"] for row in rows}
        for row in rows:
            if row["stop_requested"]:
                self._consumers.interrupt(row["id"], Interrupt.STOP)
        for job_id, run in before.items():
            if job_id not in renewed and self._consumers.running.get(job_id) is run:
                self._consumers.interrupt(job_id, Interrupt.LEASE_LOST)


class Maintenance:
    """Rescues jobs whose worker died, prunes finished rows and vacuums the table when dead rows pile
    up. Every worker process runs it; SKIP LOCKED and re-checked predicates make that harmless."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        rescue_every_s: float,
        keep_succeeded_s: float,
        keep_failed_s: float,
        vacuum_dead_rows: int = 50_000,
        prune_every_s: float = 60.0,
        tick_s: float = 1.0,
        batch: int = 1000,
    ) -> None:
        self._pool = pool
        self.rescue_every_s = rescue_every_s
        self._keep_succeeded_s = keep_succeeded_s
        self._keep_failed_s = keep_failed_s
        self._vacuum_dead_rows = vacuum_dead_rows
        self._prune_every_s = prune_every_s
        self._tick_s = tick_s
        self._batch = batch

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_rescue = next_prune = loop.time()
        while True:
            now = loop.time()
            if now >= next_rescue:
                await self.rescue_once()
                next_rescue = now + self.rescue_every_s
            if now >= next_prune:
                await self.prune_once()
                next_prune = now + self._prune_every_s
            if self._vacuum_dead_rows:
                await self.vacuum_if_needed()
            await asyncio.sleep(self._tick_s)

    async def rescue_once(self) -> int:
        rows = await db_jobs.rescue_expired(self._pool, self._batch)
        for row in rows:
            log.warning(
                "queue.job.rescued",
                job_id=row["id"],
                kind=row["kind"],
                attempt=row["attempt"],
                state=row["state"],
                error=row["last_error"],
            )
        return len(rows)

    async def prune_once(self) -> int:
        total = 0
        while True:
            pruned = await db_jobs.prune(self._pool, self._keep_succeeded_s, self._keep_failed_s, self._batch)
            total += pruned
            if pruned < self._batch:
                break
        if total:
            log.info("queue.pruned", jobs=total)
        return total

    async def vacuum_if_needed(self) -> bool:
        dead = await db_jobs.dead_rows(self._pool)
        if dead < self._vacuum_dead_rows:
            return False
        started = asyncio.get_running_loop().time()
        await db_jobs.vacuum(self._pool)
        log.info("queue.vacuumed", dead_rows=dead, duration_s=round(asyncio.get_running_loop().time() - started, 3))
        return True
