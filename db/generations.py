"""Generations (sql/generations.sql): each function moves one generation one step, or reads it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import asyncpg

from db.jobs import Executor
from db.sql import queries

UNFINISHED = ("queued", "prompting", "submitting", "rendering", "uploading")


@dataclass(frozen=True, slots=True)
class Generation:
    id: int
    user_id: int
    chat_id: int
    status: str
    model: str
    price: int
    idea: str
    photo_file_id: str | None
    prompt: str | None
    prompt_source: str | None
    kie_task_id: str | None
    callback_token: str
    status_message_id: int | None
    status_edited_at: datetime | None
    video_url: str | None
    video_file_id: str | None
    error: str | None
    created_at: datetime
    confirmed_at: datetime | None
    deadline_at: datetime | None
    rendering_at: datetime | None
    finished_at: datetime | None

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED


_COLUMNS = [f.name for f in fields(Generation)]


def _one(rows: list[asyncpg.Record]) -> Generation | None:
    return Generation(**{name: rows[0][name] for name in _COLUMNS}) if rows else None


async def create_draft(
    db: Executor,
    user_id: int,
    chat_id: int,
    model: str,
    price: int,
    idea: str,
    photo_file_id: str | None,
    callback_token: str,
) -> Generation:
    rows = await db.fetch(
        queries.generation_create_draft, user_id, chat_id, model, price, idea, photo_file_id, callback_token
    )
    return _one(rows)  # type: ignore[return-value]


async def get(db: Executor, generation_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_get, generation_id))


async def lock(db: Executor, generation_id: int, user_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_lock, generation_id, user_id))


async def by_callback_token(db: Executor, token: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_by_callback_token, token))


async def set_status_message(db: Executor, generation_id: int, message_id: int) -> None:
    await db.execute(queries.generation_set_status_message, generation_id, message_id)


async def set_model(db: Executor, generation_id: int, user_id: int, model: str, price: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_set_model, generation_id, user_id, model, price))


async def discard(db: Executor, generation_id: int, user_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_discard, generation_id, user_id))


async def count_unfinished(db: Executor, user_id: int) -> int:
    return await db.fetchval(queries.generation_count_unfinished, user_id)


async def confirm(db: Executor, generation_id: int, timeout_s: float) -> Generation | None:
    return _one(await db.fetch(queries.generation_confirm, generation_id, timeout_s))


async def queue_position(db: Executor, generation_id: int) -> int:
    return await db.fetchval(queries.generation_queue_position, generation_id)


async def start_prompting(db: Executor, generation_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_start_prompting, generation_id))


async def save_prompt(db: Executor, generation_id: int, prompt: str, source: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_save_prompt, generation_id, prompt, source))


async def save_task(db: Executor, generation_id: int, task_id: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_save_task, generation_id, task_id))


async def save_video(db: Executor, generation_id: int, video_url: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_save_video, generation_id, video_url))


async def finish(db: Executor, generation_id: int, video_file_id: str | None) -> Generation | None:
    return _one(await db.fetch(queries.generation_finish, generation_id, video_file_id))


async def fail(db: Executor, generation_id: int, error: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_fail, generation_id, error))


async def claim_status_edit(db: Executor, generation_id: int, min_interval_s: float, force: bool) -> bool:
    return bool(await db.fetch(queries.generation_claim_status_edit, generation_id, min_interval_s, force))


async def history(db: Executor, user_id: int, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(queries.generation_history, user_id, limit)
