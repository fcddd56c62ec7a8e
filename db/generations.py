"""Generations (sql/generations.sql): each function moves one generation one step, or reads it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

import asyncpg

from db.jobs import Executor
from db.sql import queries


class Status(StrEnum):
    """A generation's status; the migrations' status_is_known constraint lists the same (a test checks)."""

    DRAFT = "draft"  # a priced proposal, not confirmed, not charged
    DISCARDED = "discarded"  # a proposal dropped or replaced
    QUEUED = "queued"  # confirmed and charged, the prompt not written yet
    PROMPTING = "prompting"
    SUBMITTING = "submitting"  # waiting for a create slot or for the provider to come back
    RENDERING = "rendering"  # the provider accepted the task
    UPLOADING = "uploading"  # rendered; being sent to the user
    DONE = "done"
    FAILED = "failed"  # refunded
    CANCELLED = "cancelled"  # the user cancelled it while it waited; refunded


UNFINISHED = (Status.QUEUED, Status.PROMPTING, Status.SUBMITTING, Status.RENDERING, Status.UPLOADING)
WAITING = (Status.QUEUED, Status.PROMPTING, Status.SUBMITTING)  # not at the provider yet: cancellable


@dataclass(frozen=True, slots=True)
class Generation:
    id: int
    user_id: int
    chat_id: int
    status: Status
    provider: str
    model: str
    price: int
    idea: str
    photo_file_id: str | None
    prompt: str | None
    prompt_source: str | None
    task_id: str | None
    image_url: str | None
    callback_token: str
    status_message_id: int | None
    status_edited_at: datetime | None
    status_stage: str | None
    video_url: str | None
    video_file_id: str | None
    error: str | None
    created_at: datetime
    confirmed_at: datetime | None
    deadline_at: datetime | None
    rendering_at: datetime | None
    finished_at: datetime | None
    creating_since: datetime | None
    refunded_at: datetime | None
    late: bool
    possible_duplicates: int  # creates sent again after a lost answer (each may be a second provider task)
    refund_claim: int  # credits of its refund that go to a Stars refund's shortfall (0: none)
    duration_s: int | None = None  # the length chosen, for a model priced per second
    recreated: int = 0  # free retries of a failed render (at most one)
    preset: str | None = None  # the style chosen on the proposal (core/growth.Preset.id); None: none

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED


_COLUMNS = [f.name for f in fields(Generation)]


def _one(rows: list[asyncpg.Record]) -> Generation | None:
    if not rows:
        return None
    values = {name: rows[0][name] for name in _COLUMNS}
    return Generation(**values | {"status": Status(values["status"])})


async def create_draft(
    db: Executor,
    user_id: int,
    chat_id: int,
    model: str,
    price: int,
    idea: str,
    photo_file_id: str | None,
    callback_token: str,
    provider: str,
    duration_s: int | None = None,
    preset: str | None = None,
) -> Generation:
    """``preset``: the id of a style in PRESETS (core/growth.Preset.id), checked by the caller; None: none."""
    rows = await db.fetch(
        queries.generation_create_draft,
        *(user_id, chat_id, model, price, idea, photo_file_id, callback_token, provider, duration_s, preset),
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


async def set_model(
    db: Executor, generation_id: int, user_id: int, model: str, price: int, provider: str, duration_s: int | None = None
) -> Generation | None:
    return _one(
        await db.fetch(queries.generation_set_model, generation_id, user_id, model, price, provider, duration_s)
    )


async def set_preset(db: Executor, generation_id: int, user_id: int, preset: str | None) -> Generation | None:
    """The draft with its style chosen (None: cleared); None when it is no longer this user's draft."""
    return _one(await db.fetch(queries.generation_set_preset, generation_id, user_id, preset))


async def recreate(db: Executor, generation_id: int, task_id: str) -> Generation | None:
    """Back to submitting for its one free retry; None when it was retried already or moved on."""
    return _one(await db.fetch(queries.generation_recreate, generation_id, task_id))


async def discard(db: Executor, generation_id: int, user_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_discard, generation_id, user_id))


async def delete_stale_drafts(db: Executor, days: int, limit: int) -> int:
    """Delete a batch of proposals never confirmed and older than ``days``; how many went."""
    return len(await db.fetch(queries.generation_delete_stale_drafts, days, limit))


async def count_unfinished(db: Executor, user_id: int) -> int:
    return await db.fetchval(queries.generation_count_unfinished, user_id)


async def confirm(db: Executor, generation_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_confirm, generation_id))


async def queue_position(db: Executor, generation_id: int) -> int:
    return await db.fetchval(queries.generation_queue_position, generation_id)


async def start_prompting(db: Executor, generation_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_start_prompting, generation_id))


async def save_prompt(db: Executor, generation_id: int, prompt: str, source: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_save_prompt, generation_id, prompt, source))


async def begin_create(db: Executor, generation_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_begin_create, generation_id))


async def count_possible_duplicate(db: Executor, generation_id: int) -> int | None:
    """None: the generation is no longer waiting to be submitted."""
    return await db.fetchval(queries.generation_count_possible_duplicate, generation_id)


async def end_create(db: Executor, generation_id: int) -> None:
    await db.execute(queries.generation_end_create, generation_id)


async def set_image_url(db: Executor, generation_id: int, url: str) -> None:
    await db.execute(queries.generation_set_image_url, generation_id, url)


async def save_task(db: Executor, generation_id: int, task_id: str, timeout_s: float) -> Generation | None:
    return _one(await db.fetch(queries.generation_save_task, generation_id, task_id, timeout_s))


async def mark_refunded(db: Executor, generation_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_mark_refunded, generation_id))


async def cancel(db: Executor, generation_id: int, user_id: int) -> Generation | None:
    return _one(await db.fetch(queries.generation_cancel, generation_id, user_id))


async def save_video(db: Executor, generation_id: int, video_url: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_save_video, generation_id, video_url))


async def finish(db: Executor, generation_id: int, video_file_id: str | None) -> Generation | None:
    return _one(await db.fetch(queries.generation_finish, generation_id, video_file_id))


async def fail(db: Executor, generation_id: int, error: str) -> Generation | None:
    return _one(await db.fetch(queries.generation_fail, generation_id, error))


# Progress ticks in one chat (all of a user's generations together) are at least this far apart.
CHAT_TICK_GAP_S = 3.0


async def claim_status_edit(
    db: Executor,
    generation_id: int,
    min_interval_s: float,
    force: bool,
    stage: str,
    chat_gap_s: float = CHAT_TICK_GAP_S,
) -> bool:
    """The right to edit a generation's status message now (generation_claim_status_edit says when)."""
    return bool(
        await db.fetch(queries.generation_claim_status_edit, generation_id, min_interval_s, force, stage, chat_gap_s)
    )


async def save_input(db: Executor, generation_id: int, image: bytes, mime: str) -> None:
    await db.execute(queries.input_save, generation_id, image, mime)


async def get_input(db: Executor, generation_id: int) -> tuple[bytes, str] | None:
    rows = await db.fetch(queries.input_get, generation_id)
    return (rows[0]["image"], rows[0]["mime"]) if rows else None


async def delete_input(db: Executor, generation_id: int) -> None:
    await db.execute(queries.input_delete, generation_id)


@dataclass(frozen=True, slots=True)
class Delivered:
    """A video in the user's /history, or offered by their inline query to share."""

    id: int
    idea: str
    finished_at: datetime
    preset: str | None = None
    video_file_id: str | None = None


def _delivered(row: asyncpg.Record) -> Delivered:
    return Delivered(row["id"], row["idea"], row["finished_at"], row["preset"], row["video_file_id"])


async def history(db: Executor, user_id: int, limit: int) -> list[Delivered]:
    return [_delivered(row) for row in await db.fetch(queries.generation_history, user_id, limit)]


async def shareable(db: Executor, user_id: int, pattern: str, limit: int, skip: int) -> list[Delivered]:
    """The user's delivered videos held by Telegram whose idea matches ``pattern`` (ILIKE; '': any), newest first."""
    return [_delivered(row) for row in await db.fetch(queries.generation_shareable, user_id, pattern, limit, skip)]


@dataclass(frozen=True, slots=True)
class Refundable:
    """An unfinished generation not refunded yet: what a Stars refund may still claim from its refund."""

    id: int
    price: int
    refund_claim: int

    @property
    def free(self) -> int:
        return self.price - self.refund_claim


async def open_refundable(db: Executor, user_id: int) -> list[Refundable]:
    return [Refundable(**row) for row in await db.fetch(queries.generations_open_refundable, user_id)]


async def claim_refunds(db: Executor, user_id: int, credits: int) -> int:
    """Claim up to ``credits`` from the user's unfinished generations' refunds: the credits claimed."""
    if credits <= 0:
        return 0
    rows = await db.fetch(queries.generations_claim_refunds, user_id, credits)
    return sum(int(row["claimed"]) for row in rows)


async def set_cost(db: Executor, generation_id: int, cost: float, source: str) -> None:
    await db.execute(queries.generation_set_cost, generation_id, cost, source)


async def spend_today(db: Executor, prices: dict[str, float]) -> float:
    """Provider credits spent since 00:00 UTC, and committed: the unrendered at ``prices`` (per model id)."""
    rows = await db.fetch(queries.generation_spend_today, list(prices), list(prices.values()))
    return float(rows[0]["spent"])


async def take_budget_alert(db: Executor) -> bool:
    """True once a UTC day: the first to find the budget reached tells the admins."""
    return bool(await db.fetch(queries.budget_alert_take))


RENDER_MEDIAN_DELIVERIES = 50  # a model's recent deliveries the progress bar's median is taken over


async def render_medians(conn: Executor, last: int = RENDER_MEDIAN_DELIVERIES) -> dict[str, float]:
    """Per model id, the median seconds from the provider's acceptance to delivery over its ``last``
    deliveries; a model with none is absent."""
    rows = await conn.fetch(queries.generation_render_medians, last)
    return {row["model"]: float(row["median_s"]) for row in rows}
