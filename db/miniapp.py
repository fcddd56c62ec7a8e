"""The Mini App's API (sql/miniapp.sql): the caller's row and budget, their videos, the admins' charts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

import asyncpg

from db.generations import Generation, Status
from db.jobs import Executor
from db.sql import queries
from db.users import User

_COLUMNS = [f.name for f in fields(Generation)]


def _generation(row: asyncpg.Record) -> Generation:
    values = {name: row[name] for name in _COLUMNS}
    return Generation(**values | {"status": Status(values["status"])})


@dataclass(frozen=True, slots=True)
class Begun:
    """What app_begin read: the caller (None only in a race with their row's first insert), their
    reads and actions this minute, their chat messages of the last minute (actions only)."""

    user: User | None
    reads: int
    actions: int
    chat_messages: int
    window_left_s: int


async def begin(
    db: Executor,
    user_id: int,
    username: str | None,
    first_name: str | None,
    language_code: str | None,
    language: str,
    *,
    action: bool,
) -> Begun:
    rows = await db.fetch(queries.app_begin, user_id, username, first_name, language_code, language, action)
    row = rows[0]
    user = User.of(row) if row["id"] is not None else None
    return Begun(user, row["reads"], row["actions"], row["chat_messages"], max(1, row["window_left_s"]))


@dataclass(frozen=True, slots=True)
class Video:
    generation: Generation
    thumbnail: bool  # Telegram made a thumbnail of the delivered video


def _video(row: asyncpg.Record) -> Video:
    return Video(_generation(row), row["thumbnail_file_id"] is not None)


async def videos(db: Executor, user_id: int, before: int | None, limit: int) -> list[Video]:
    return [_video(row) for row in await db.fetch(queries.app_videos, user_id, before, limit)]


async def video(db: Executor, user_id: int, generation_id: int) -> Video | None:
    rows = await db.fetch(queries.app_video, user_id, generation_id)
    return _video(rows[0]) if rows else None


@dataclass(frozen=True, slots=True)
class ModelDay:
    day: date
    model: str
    generations: int


async def stats_models(db: Executor, days: int) -> list[ModelDay]:
    return [ModelDay(**row) for row in await db.fetch(queries.app_stats_models, days)]


@dataclass(frozen=True, slots=True)
class FailureDay:
    day: date
    finished: int
    failed: int


async def stats_failures(db: Executor, days: int) -> list[FailureDay]:
    return [FailureDay(**row) for row in await db.fetch(queries.app_stats_failures, days)]


async def set_thumbnail(db: Executor, generation_id: int, file_id: str) -> None:
    await db.execute(queries.app_set_thumbnail, generation_id, file_id)


async def thumbnail(db: Executor, user_id: int, generation_id: int) -> str | None:
    return await db.fetchval(queries.app_thumbnail, user_id, generation_id)
