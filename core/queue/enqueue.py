"""Adding jobs: inside the caller's transaction, so a business write and its job commit together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.queue.jobs import Registry
from db import jobs as db_jobs
from db.jobs import Executor


@dataclass(frozen=True, slots=True)
class NewJob:
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    run_at: datetime | None = None  # not before this; None: now
    delay: float | None = None  # or: not before this many seconds from now
    priority: int | None = None  # None: the kind's default; higher runs first
    max_attempts: int | None = None  # None: the kind's default
    unique_key: str | None = None  # skipped while an unfinished job holds the same key


async def enqueue_many(db: Executor, registry: Registry, jobs: Iterable[NewJob]) -> list[int | None]:
    """Insert jobs; returns each one's id, or None where its unique_key was taken."""
    jobs = list(jobs)
    if not jobs:
        return []
    specs = [registry[job.kind] for job in jobs]  # an unknown kind fails here, not in a worker
    now = datetime.now(UTC)
    run_ats = [job.run_at if job.delay is None else (job.run_at or now) + timedelta(seconds=job.delay) for job in jobs]
    created = await db_jobs.enqueue(
        db,
        [job.kind for job in jobs],
        [dict(job.payload) for job in jobs],
        [spec.priority if job.priority is None else job.priority for job, spec in zip(jobs, specs, strict=True)],
        run_ats,
        [
            spec.max_attempts if job.max_attempts is None else job.max_attempts
            for job, spec in zip(jobs, specs, strict=True)
        ],
        [job.unique_key for job in jobs],
    )
    return _align(jobs, [(row["id"], row["unique_key"]) for row in created])


def _align(jobs: list[NewJob], created: list[tuple[int, str | None]]) -> list[int | None]:
    """Match the created rows (input order, skipped keys missing) back to the jobs. Only jobs with
    a key can be skipped, and of several with one key only the first can be created."""
    ids: list[int | None] = []
    rows = iter(created)
    row = next(rows, None)
    seen: set[str] = set()
    for job in jobs:
        fresh = job.unique_key is None or job.unique_key not in seen
        if row is not None and fresh and row[1] == job.unique_key:
            ids.append(row[0])
            row = next(rows, None)
        else:
            ids.append(None)
        if job.unique_key is not None:
            seen.add(job.unique_key)
    return ids


async def enqueue(
    db: Executor, registry: Registry, kind: str, payload: Mapping[str, Any] | None = None, **options: Any
) -> int | None:
    """Insert one job; its id, or None when an unfinished job already holds its unique_key."""
    (job_id,) = await enqueue_many(db, registry, [NewJob(kind, payload or {}, **options)])
    return job_id


async def cancel(db: Executor, job_id: int, reason: str) -> str | None:
    """Cancel a queued job, or ask a running one to stop; None when it had already finished."""
    return await db_jobs.cancel(db, job_id, reason)
