"""The job queue's statements (sql/jobs.sql), one thin function each: bind, run, return."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from db.sql import queries

JOBS_CHANNEL = "reelsmith_jobs"
STOP_CHANNEL = "reelsmith_job_stop"


class Executor(Protocol):
    """A connection or a pool: anything that runs a statement."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...
    async def execute(self, query: str, *args: Any) -> str: ...


async def enqueue(
    db: Executor,
    kinds: Sequence[str],
    payloads: Sequence[Any],
    priorities: Sequence[int],
    run_ats: Sequence[datetime | None],
    max_attempts: Sequence[int],
    unique_keys: Sequence[str | None],
) -> list[asyncpg.Record]:
    """The created rows (id, unique_key) in input order; rows skipped for a taken key are missing."""
    return await db.fetch(queries.job_enqueue, kinds, payloads, priorities, run_ats, max_attempts, unique_keys)


async def claim(
    db: Executor, kinds: Sequence[str], caps: Sequence[int], limit: int, owner: str, lease_s: float
) -> list[asyncpg.Record]:
    return await db.fetch(queries.job_claim, kinds, caps, limit, owner, lease_s)


async def finish(
    db: Executor,
    owner: str,
    ids: Sequence[int],
    states: Sequence[str],
    delays: Sequence[float | None],
    errors: Sequence[str | None],
    refunds: Sequence[int],
    snoozed: Sequence[int],
) -> dict[int, float | None]:
    """Job id → seconds until it falls due (None when it finished), for the jobs actually written."""
    rows = await db.fetch(queries.job_finish, owner, ids, states, delays, errors, refunds, snoozed)
    return {row["id"]: row["due_in"] for row in rows}


async def renew_leases(db: Executor, owner: str, lease_s: float) -> list[asyncpg.Record]:
    return await db.fetch(queries.job_renew_leases, owner, lease_s)


async def rescue_expired(db: Executor, batch: int) -> list[asyncpg.Record]:
    return await db.fetch(queries.job_rescue_expired, batch)


async def prune(db: Executor, keep_finished_s: float, keep_failed_s: float, batch: int) -> int:
    return await db.fetchval(queries.job_prune, keep_finished_s, keep_failed_s, batch)


async def cancel(db: Executor, job_id: int, reason: str) -> str | None:
    """Cancel a queued job, or ask a running one to stop. Returns its state then, None if finished."""
    return await db.fetchval(queries.job_cancel, job_id, reason)


async def dead_rows(db: Executor) -> int:
    return await db.fetchval(queries.job_dead_rows)


async def vacuum(db: Executor) -> None:
    await db.execute(queries.job_vacuum)


async def wake(db: Executor, unique_key: str) -> bool:
    """Make the queued job holding ``unique_key`` due now; False when there is none queued."""
    return bool(await db.fetch(queries.job_wake, unique_key))


async def reschedule(db: Executor, unique_key: str, run_at: datetime) -> bool:
    """Move the queued job holding ``unique_key`` to ``run_at``; False when there is none queued."""
    return bool(await db.fetch(queries.job_reschedule, unique_key, run_at))


async def wake_kind(db: Executor, kind: str) -> int:
    """Make every queued job of ``kind`` due now; how many were waiting."""
    return await db.fetchval(queries.job_wake_kind, kind)


async def in_flight(db: Executor, unique_key: str) -> bool:
    """Whether the job holding ``unique_key`` is running in a live process."""
    return bool(await db.fetchval(queries.job_in_flight, unique_key))
