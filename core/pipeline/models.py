"""Model health: one model refused (paused, not supported, unknown) while its provider works.

KIE pauses models one at a time (kie_api.md §13.6): Sora has answered every create with code 500
"This interface is temporarily paused" since mid-2026 while Veo and Kling render. Such a refusal
withdraws that model, never the provider: it leaves the proposals' buttons, the generations waiting
for it are refunded with a sentence saying so, the admins are told once, and provider_health (other
models' users) is untouched.

The hourly probe is honest about what it can know: KIE's model endpoints (``/api/v1/models/<slug>/...``)
describe a model but say nothing of a pause, and a create to test it is not free (it may be billed if
it works). So after MODEL_PROBE_INTERVAL the model is simply offered again, and the next real create
of it is the probe: refused, the model is withdrawn again (that one generation refunded, no second
alert); rendered, its health is cleared and a later refusal alerts again.
"""

from __future__ import annotations

import structlog

from core.catalogue import VideoModel
from core.pipeline import ALERT, MODEL_PROBE, job_key
from core.pipeline.refunds import fail
from core.pipeline.services import App
from core.pipeline.verdict import Withdraw
from core.providers.base import VideoProvider
from core.queue import Job, enqueue
from db import models as db_models

log = structlog.get_logger("provider.model")

MODEL_PROBE_INTERVAL_S = 3600.0


async def withdraw(
    app: App, provider: VideoProvider, model: VideoModel, generation_id: int, withdrawal: Withdraw
) -> None:
    """The model is gone: refund this generation and every one waiting for the model, alert once, probe hourly."""
    error, reason = withdrawal.error, withdrawal.reason
    await db_models.withdraw(app.pool, model.id, provider.name, error.detail)
    first = await db_models.claim_alert(app.pool, model.id)
    waiting = await db_models.waiting_generations(app.pool, model.id)
    for gid in dict.fromkeys([generation_id, *waiting]):
        await fail(app, gid, reason)
    log.warning(
        "provider.model.unavailable",
        provider=provider.name,
        model=model.id,
        reason=error.detail,
        refunded=len(set(waiting) | {generation_id}),
        alerted=first,
    )
    await enqueue(
        app.pool,
        app.registry,
        MODEL_PROBE,
        {"model": model.id},
        delay=MODEL_PROBE_INTERVAL_S,
        unique_key=job_key(MODEL_PROBE, model.id),
    )
    if first and app.settings.telegram.admin_ids:
        params = {"model": model.id, "provider": provider.name, "reason": error.detail[:200], "probe": "1 h"}
        await enqueue(
            app.pool, app.registry, ALERT, {"key": "admin_model_unavailable", "params": params, "fold": False}
        )


async def rendered(app: App, model: VideoModel) -> None:
    """A create of the model succeeded: whatever was known against it is cleared."""
    if await db_models.rendered(app.pool, model.id):
        log.info("provider.model.available", model=model.id)


async def probe(app: App, job: Job) -> None:
    """MODEL_PROBE_INTERVAL after a withdrawal: offer the model again; its next create is the test."""
    if await db_models.offer_again(app.pool, job.payload["model"]):
        log.info("provider.model.offered_again", model=job.payload["model"], note="the next create of it is the probe")
