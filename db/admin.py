"""What the admin commands read, and the one thing they change in the queue (sql/admin.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from db.jobs import Executor
from db.sql import queries


@dataclass(frozen=True, slots=True)
class UserCounts:
    total: int
    today: int  # joined today (UTC)
    active: int  # seen in the last 7 days


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Confirmed generations in one status."""

    status: str
    today: int
    total: int


@dataclass(frozen=True, slots=True)
class Durations:
    """Seconds from confirmation to delivery; None before the first delivered video."""

    median_s: float | None
    p95_s: float | None


@dataclass(frozen=True, slots=True)
class Money:
    sold: int  # credits bought
    spent: int  # credits charged, less their refunds
    refunded: int  # credits taken back by Stars refunds
    stars: int  # received, not refunded
    stars_today: int


@dataclass(frozen=True, slots=True)
class QueueDepth:
    kind: str
    depth: int  # queued or running


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    generations: int  # confirmed that day
    stars: int


@dataclass(frozen=True, slots=True)
class RecentGeneration:
    id: int
    status: str
    model: str
    price: int
    created_at: datetime
    error: str | None


@dataclass(frozen=True, slots=True)
class JobLine:
    """A job as /gen lists it."""

    id: int
    kind: str
    state: str
    attempt: int
    max_attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class JobDetail:
    """A job as /job shows it."""

    id: int
    kind: str
    state: str
    attempt: int
    max_attempts: int
    run_at: datetime
    payload: dict[str, Any]
    last_error: str | None


async def stats_users(db: Executor) -> UserCounts:
    return UserCounts(**(await db.fetch(queries.admin_stats_users))[0])


async def stats_generations(db: Executor) -> list[StatusCounts]:
    return [StatusCounts(**row) for row in await db.fetch(queries.admin_stats_generations)]


async def stats_durations(db: Executor) -> Durations:
    return Durations(**(await db.fetch(queries.admin_stats_durations))[0])


async def stats_money(db: Executor) -> Money:
    return Money(**(await db.fetch(queries.admin_stats_money))[0])


async def stats_queue(db: Executor) -> list[QueueDepth]:
    return [QueueDepth(**row) for row in await db.fetch(queries.admin_stats_queue)]


@dataclass(frozen=True, slots=True)
class Spend:
    """Provider credits spent on one UTC day for one model (None: a day with Stars and no spend), and
    that day's Stars."""

    day: date
    model: str | None
    cost: float
    videos: int
    stars: int


async def stats_spend(db: Executor, days: int) -> list[Spend]:
    return [Spend(**row) for row in await db.fetch(queries.admin_stats_spend, days)]


async def stats_daily(db: Executor, days: int) -> list[Day]:
    return [Day(**row) for row in await db.fetch(queries.admin_stats_daily, days)]


async def recent_generations(db: Executor, user_id: int, limit: int) -> list[RecentGeneration]:
    return [RecentGeneration(**row) for row in await db.fetch(queries.admin_recent_generations, user_id, limit)]


async def generation_jobs(db: Executor, generation_id: int) -> list[JobLine]:
    return [JobLine(**row) for row in await db.fetch(queries.admin_generation_jobs, generation_id)]


async def job(db: Executor, job_id: int) -> JobDetail | None:
    rows = await db.fetch(queries.admin_job_get, job_id)
    return JobDetail(**rows[0]) if rows else None


async def retry_job(db: Executor, job_id: int) -> str | None:
    """The job's state before: 'failed' means it is queued again; None: no such job."""
    return await db.fetchval(queries.admin_job_retry, job_id)
