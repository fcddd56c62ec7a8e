"""What a job is, what its handler may answer, and the registry of kinds this code knows.

A handler is ``async def handle(job: Job) -> Snooze | None``. Returning None means done. It may
return ``Snooze(seconds)`` to run again later without spending an attempt (polling), raise
``Cancel(reason)`` to stop for good (a permanent error), raise ``TransientError`` when a provider
is down or rate-limiting (retried with backoff, never trips the circuit breaker), and anything
else it raises is retried with backoff too, but counts toward the circuit breaker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.backoff import Backoff


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    priority: int
    attempt: int
    max_attempts: int
    snoozes: int
    run_at: datetime
    created_at: datetime

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


@dataclass(frozen=True, slots=True)
class Snooze:
    """Run this job again in ``seconds``; the attempt is given back."""

    seconds: float


class Cancel(Exception):
    """Stop this job for good: retrying cannot help. The reason is kept in the job's row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(Exception):
    """A provider failed in a way that passes (timeout, 429, 5xx): retry later, do not restart."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryAfter(Exception):
    """The provider named the moment to come back (Telegram's 429 ``retry_after``): run again in
    exactly ``seconds``, attempt given back, never toward the circuit breaker."""

    def __init__(self, message: str, *, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


Handler = Callable[[Job], Awaitable[Snooze | None]]
# Turns an exception the queue cannot know (it imports no provider) into one of its own
# (TransientError, RetryAfter, Cancel), or returns it unchanged. Passed in by bot.py.
Classifier = Callable[[BaseException], BaseException]


def unchanged(error: BaseException) -> BaseException:
    return error


@dataclass(frozen=True, slots=True)
class JobSpec:
    kind: str
    handler: Handler
    timeout: float = 60.0  # a run longer than this is cancelled and counts as a failure
    max_attempts: int = 5
    concurrency: int | None = None  # most running at once in one process; None: any free consumer
    priority: int = 0  # default priority of new jobs; higher runs first
    backoff: Backoff = field(default_factory=Backoff)
    # Payload fields bound to every log line of a run (and tagged on its error reports), so one
    # filter on e.g. generation_id tells a whole story, queue lines included.
    log_fields: tuple[str, ...] = ()


class Registry:
    """Job kinds are stable strings (rows outlive deploys); each maps to one spec."""

    def __init__(self, specs: Mapping[str, JobSpec] | None = None, *, classify: Classifier = unchanged) -> None:
        self._specs: dict[str, JobSpec] = dict(specs or {})
        self.classify = classify

    def add(self, spec: JobSpec) -> JobSpec:
        if spec.kind in self._specs:
            raise ValueError(f"job kind {spec.kind!r} is registered twice")
        self._specs[spec.kind] = spec
        return spec

    def with_limits(self, limits: Mapping[str, int]) -> Registry:
        """A copy with per-kind concurrency limits overridden (QUEUE_CONCURRENCY)."""
        unknown = sorted(set(limits) - set(self._specs))
        if unknown:
            raise ValueError(f"QUEUE_CONCURRENCY names unknown job kinds: {', '.join(unknown)}")
        specs = {k: replace(s, concurrency=limits.get(k, s.concurrency)) for k, s in self._specs.items()}
        return Registry(specs, classify=self.classify)

    def with_log_fields(self, *names: str) -> Registry:
        """A copy in which every kind's log lines carry these payload fields when its payload has them."""
        return Registry(
            {k: replace(s, log_fields=tuple(dict.fromkeys([*s.log_fields, *names]))) for k, s in self._specs.items()},
            classify=self.classify,
        )

    def __getitem__(self, kind: str) -> JobSpec:
        try:
            return self._specs[kind]
        except KeyError:
            raise KeyError(f"unknown job kind {kind!r}") from None

    def __contains__(self, kind: object) -> bool:
        return kind in self._specs

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._specs.values())

    def kinds(self) -> list[str]:
        return sorted(self._specs)
