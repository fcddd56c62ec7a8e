"""Every job kind this process can run, gathered in one registry for the queue."""

from __future__ import annotations

from aiogram.exceptions import TelegramRetryAfter

from core.bot.broadcast import BroadcastJobs
from core.bot.payments import RefundJob
from core.pipeline.nudges import NudgeJobs
from core.pipeline.retention import Retention
from core.pipeline.services import App
from core.pipeline.steps import Pipeline
from core.queue import Registry, RetryAfter
from core.queue.diag import register_diagnostics


def job_error(error: BaseException) -> BaseException:
    """For the queue: a 429 in a job is a retry at exactly ``retry_after``, not a failure."""
    if isinstance(error, TelegramRetryAfter):
        return RetryAfter(f"Telegram: {error.message}", seconds=error.retry_after)
    return error


def job_kinds(app: App) -> Registry:
    """Every job kind this code can run, with the operator's per-kind limits applied; a job's log lines
    carry the generation and the user its payload names. Raises ValueError for settings only now
    checkable (limits of unknown kinds, models without a provider)."""
    problems = app.providers.check(app.settings.product.video_models)
    if problems:
        raise ValueError("; ".join(problems))
    registry = Pipeline(app).register(register_diagnostics(Registry(classify=job_error)))
    registry = BroadcastJobs(app).register(RefundJob(app).register(registry))
    registry = Retention(app).register(registry)
    registry = NudgeJobs(app).register(registry)
    return registry.with_limits(app.settings.queue.concurrency).with_log_fields("generation_id", "user_id")
