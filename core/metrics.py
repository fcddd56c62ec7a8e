"""Prometheus metrics: what this process counts as it works, and what the fleet's database says.

Two kinds of numbers. Process-local ones (updates, webhook latency, job outcomes, errors by code,
step durations) are counted here as they happen; Prometheus sums them over the processes it
scrapes. Fleet-wide truths (generations by state, credits, Stars revenue, queue depth, provider
health) are read from the database at scrape time by ``Fleet`` (core/web/metrics.py), cached for
METRICS_CACHE, so every process reports the same numbers whatever its role.

This module sits at the bottom of the layers (the queue imports it): it imports prometheus_client
and the standard library only. Its hook functions are what the rest of the code calls, one
line each; with METRICS_ENABLED=false they return at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

log = structlog.get_logger("metrics")

REGISTRY = CollectorRegistry(auto_describe=False)
ProcessCollector(registry=REGISTRY)  # resident memory, CPU seconds, open files of this process
_enabled = True

UPDATES = Counter(
    "reelsmith_telegram_updates",
    "Telegram updates applied, by type and outcome.",
    ("type", "outcome"),
    registry=REGISTRY,
)
WEBHOOK_SECONDS = Histogram(
    "reelsmith_webhook_seconds",
    "Time from a webhook request's arrival to its answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
JOBS = Counter("reelsmith_jobs", "Job runs finished, by kind and outcome.", ["kind", "outcome"], registry=REGISTRY)
PROVIDER_ERRORS = Counter(
    "reelsmith_provider_errors", "Video provider errors, by provider and code.", ["provider", "code"], registry=REGISTRY
)
RECREATED = Counter(
    "reelsmith_renders_recreated",
    "Renders created again, free, after a failure worth one more try (Veo's audio verdict), by provider and model.",
    ["provider", "model"],
    registry=REGISTRY,
)
POSSIBLE_DUPLICATE_CREATES = Counter(
    "reelsmith_possible_duplicate_creates",
    "Creates sent again after an earlier create's answer was lost and no callback adopted its task: each may be a "
    "second, billed task at the provider.",
    ["provider"],
    registry=REGISTRY,
)
ADOPTED_CREATES = Counter(
    "reelsmith_adopted_creates",
    "Tasks whose create answer was lost, adopted from their callback (after a record read) instead of created again.",
    ["provider"],
    registry=REGISTRY,
)
OPENAI_ERRORS = Counter("reelsmith_openai_errors", "OpenAI errors, by code.", ["code"], registry=REGISTRY)
TELEGRAM_ERRORS = Counter(
    "reelsmith_telegram_errors", "Bot API calls that failed, by method and code.", ["method", "code"], registry=REGISTRY
)
MODERATIONS = Counter(
    "reelsmith_moderations",
    "Ideas checked by moderation before their proposal, by outcome: clean, flagged, error.",
    ["outcome"],
    registry=REGISTRY,
)
STEP_SECONDS = Histogram(
    "reelsmith_step_seconds",
    "Duration of a generation's steps: prompt, submit, render, deliver.",
    ["step"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120, 180, 300, 600),
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "reelsmith_confirm_to_video_seconds",
    "Time from a user's confirmation to the video in their chat.",
    buckets=(15, 30, 45, 60, 90, 120, 150, 180, 240, 300, 360, 480, 600, 900),
    registry=REGISTRY,
)


class _Children:
    """A labelled metric's children, cached by label values: prometheus_client's ``labels()``
    validates and takes a lock on every call (2.7 µs against 0.6 µs, measured), on paths taken
    for every update and every job."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


_updates, _jobs, _steps = _Children(UPDATES), _Children(JOBS), _Children(STEP_SECONDS)
_provider_errors, _openai_errors, _telegram_errors = (
    _Children(PROVIDER_ERRORS),
    _Children(OPENAI_ERRORS),
    _Children(TELEGRAM_ERRORS),
)

# aiogram's exceptions by class name (this module must not import aiogram: the queue imports it).
_TELEGRAM_CODES = {
    "TelegramBadRequest": "400",
    "TelegramUnauthorizedError": "401",
    "TelegramForbiddenError": "403",
    "TelegramNotFound": "404",
    "TelegramConflictError": "409",
    "TelegramEntityTooLarge": "413",
    "TelegramRetryAfter": "429",
    "TelegramServerError": "5xx",
    "RestartingTelegram": "5xx",
    "TelegramNetworkError": "network",
}


def enable(on: bool) -> None:
    """METRICS_ENABLED, set once at start."""
    global _enabled
    _enabled = on


# --- hooks: one line at each place that knows something ----------------------------------------


def update_applied(update_type: str, outcome: str) -> None:
    if _enabled:
        _updates(update_type, outcome).inc()


def job_finished(kind: str, outcome: str) -> None:
    if _enabled:
        _jobs(kind, outcome).inc()


def provider_error(provider: str, code: int | str) -> None:
    if _enabled:
        _provider_errors(provider, str(code)).inc()


def moderated(outcome: str) -> None:
    if _enabled:
        MODERATIONS.labels(outcome).inc()


def render_recreated(provider: str, model: str) -> None:
    if _enabled:
        RECREATED.labels(provider, model).inc()


def possible_duplicate_create(provider: str) -> None:
    if _enabled:
        POSSIBLE_DUPLICATE_CREATES.labels(provider).inc()  # rare: no cached child needed


def adopted_create(provider: str) -> None:
    if _enabled:
        ADOPTED_CREATES.labels(provider).inc()


def openai_error(code: int | str) -> None:
    if _enabled:
        _openai_errors(str(code)).inc()


def telegram_error(method: str, error: BaseException) -> None:
    if _enabled:
        _telegram_errors(method, telegram_code(error)).inc()


def telegram_code(error: BaseException) -> str:
    for cls in type(error).__mro__:
        if cls.__name__ in _TELEGRAM_CODES:
            return _TELEGRAM_CODES[cls.__name__]
    return type(error).__name__


def observe_step(step: str, seconds: float) -> None:
    """A generation step took ``seconds``: prompt, submit, render or deliver."""
    if _enabled:
        _steps(step).observe(seconds)


def observe_delivery(seconds: float) -> None:
    """A video reached its user ``seconds`` after they confirmed."""
    if _enabled:
        DELIVERY_SECONDS.observe(seconds)


P = ParamSpec("P")
R = TypeVar("R")


def timed_webhook(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorates the webhook's request handler: its latency goes to reelsmith_webhook_seconds."""

    @wraps(handler)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
        if not _enabled:
            return await handler(*args, **kwargs)
        started = time.perf_counter()
        try:
            return await handler(*args, **kwargs)
        finally:
            WEBHOOK_SECONDS.observe(time.perf_counter() - started)

    return timed
