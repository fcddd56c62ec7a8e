"""Confirming a generation: the debit, the generation's first job and its deadline, in the caller's
transaction (the update's). A double tap or a redelivered callback finds the draft already
confirmed and charges nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from core.app import App
from core.pipeline import PROMPT, WATCHDOG
from core.queue import NewJob, enqueue_many
from db import generations as db_generations
from db import users as db_users
from db.generations import Generation

# The watchdog looks a little after the deadline, so a step finishing right at it is not raced.
WATCHDOG_GRACE = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Accepted:
    generation: Generation
    position: int
    credits: int


@dataclass(frozen=True, slots=True)
class Refused:
    key: str  # a catalogue key telling the user why
    params: dict[str, object] = field(default_factory=dict)


async def accept(db: asyncpg.Connection, app: App, draft_id: int, user_id: int) -> Accepted | Refused:
    user = await db_users.lock(db, user_id)  # serialises this user's confirmations across processes
    draft = await db_generations.lock(db, draft_id, user_id)
    if user is None or draft is None or draft.status == "discarded":
        return Refused("draft_gone")
    if draft.status != "draft":
        return Refused("already_started")
    active = await db_generations.count_unfinished(db, user_id)
    if active >= app.settings.max_active_per_user:
        return Refused("too_many_active", {"active": active})
    if user["credits"] < draft.price:
        return Refused("not_enough_credits", {"price": draft.price, "credits": user["credits"]})
    credits = await db_users.apply_credits(db, user_id, -draft.price, "generation", str(draft.id))
    generation = await db_generations.confirm(db, draft.id, app.settings.generation_timeout)
    if credits is None or generation is None:
        raise RuntimeError(f"generation {draft.id}: draft confirmed twice in one transaction")
    assert generation.deadline_at is not None, "confirming sets the deadline"
    payload = {"generation_id": generation.id}
    await enqueue_many(
        db,
        app.registry,
        [
            NewJob(PROMPT, payload, unique_key=f"prompt:{generation.id}"),
            NewJob(
                WATCHDOG,
                payload,
                run_at=generation.deadline_at + WATCHDOG_GRACE,
                unique_key=f"watchdog:{generation.id}",
            ),
        ],
    )
    return Accepted(generation, await db_generations.queue_position(db, generation.id), credits)
