"""Confirming a generation: the debit, the generation's first job and its watchdog, in the caller's
transaction (the update's). A double tap or a redelivered callback finds the draft already confirmed
and charges nothing. While the provider has an account problem nothing is charged at all; while it
is merely down the video is queued (and can be cancelled for a full refund until it starts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from core.pipeline import PROMPT, WATCHDOG, job_key
from core.pipeline.services import App
from core.pipeline.steps import WATCHDOG_GRACE
from core.queue import NewJob, enqueue_many
from db import generations as db_generations
from db import models as db_models
from db import providers as db_providers
from db import users as db_users
from db.generations import Generation, Status
from db.pool import Conn

log = structlog.get_logger("generation")


@dataclass(frozen=True, slots=True)
class Accepted:
    generation: Generation
    position: int
    eta_s: float  # until it reaches the provider, at the provider's create rate
    credits: int
    waiting: bool  # the provider is down: it waits in line until it is back


@dataclass(frozen=True, slots=True)
class Refused:
    key: str  # a catalogue key telling the user why
    params: dict[str, object] = field(default_factory=dict)


async def accept(db: Conn, app: App, draft_id: int, user_id: int) -> Accepted | Refused:
    user = await db_users.lock(db, user_id)  # serialises this user's confirmations across processes
    draft = await db_generations.lock(db, draft_id, user_id)
    if user is None or draft is None or draft.status == Status.DISCARDED:
        return Refused("draft_gone")
    if draft.status != Status.DRAFT:
        return Refused("already_started")
    model = app.settings.product.video_models.get(draft.model)
    if model is None:
        return Refused("draft_gone")  # the operator removed the model since the proposal
    provider = app.provider(model)
    health = await db_providers.get(db, provider.name)
    if health.account_problem:
        return Refused("service_unavailable")
    if draft.model in await db_models.unavailable(db):
        return Refused("model_withdrawn")  # an older proposal's button: the provider paused the model since
    active = await db_generations.count_unfinished(db, user_id)
    if active >= app.settings.product.max_active_per_user:
        return Refused("too_many_active", {"active": active})
    if user.credits < draft.price:
        return Refused("not_enough_credits", {"price": draft.price, "credits": user.credits})
    credits = await db_users.apply_credits(db, user_id, -draft.price, "generation", str(draft.id))
    generation = await db_generations.confirm(db, draft.id)
    if credits is None or generation is None or generation.confirmed_at is None:
        raise RuntimeError(f"generation {draft.id}: draft confirmed twice in one transaction")
    payload = {"generation_id": generation.id, "user_id": user_id}
    wait_limit = generation.confirmed_at + timedelta(seconds=app.settings.product.queue_wait_limit)
    await enqueue_many(
        db,
        app.registry,
        [
            NewJob(PROMPT, payload, unique_key=job_key(PROMPT, generation.id)),
            # Until the provider accepts the task, the watchdog guards the wait; then the deadline.
            NewJob(WATCHDOG, payload, run_at=wait_limit + WATCHDOG_GRACE, unique_key=job_key(WATCHDOG, generation.id)),
        ],
    )
    position = await db_generations.queue_position(db, generation.id)
    limit, window = provider.create_rate
    # The first event of the generation's story: one filter on generation_id tells it from here on.
    log.info(
        "generation.confirmed",
        generation_id=generation.id,
        user_id=user_id,
        model=generation.model,
        provider=provider.name,
        price=generation.price,
        balance=credits,
        position=position,
        waiting=not health.available,
    )
    return Accepted(generation, position, position * window / limit, credits, waiting=not health.available)
