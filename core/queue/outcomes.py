"""How a finished run becomes the job's next state: plain functions, no I/O.

handler returned None        -> succeeded
handler returned Snooze(s)   -> queued again in s seconds, attempt given back
handler raised Cancel        -> cancelled, reason kept
handler raised TransientError-> retry after backoff (or retry_after); failed when out of attempts
handler raised RetryAfter(s) -> queued again in exactly s seconds, attempt given back (like a snooze)
handler lost the database    -> retried like a TransientError: the outage policy handles it
handler raised anything else -> the same, and it counts toward the circuit breaker
handler ran past its timeout -> the same as anything else
operator asked it to stop    -> cancelled
process shutting down        -> queued again at once, attempt given back
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from core.logging import redact
from core.queue.jobs import Cancel, Job, JobSpec, RetryAfter, Snooze, TransientError
from db.errors import JOB_UNAVAILABLE

MAX_ERROR_LENGTH = 2000


class Verdict(StrEnum):
    SUCCEEDED = "succeeded"
    SNOOZED = "snoozed"
    RETRY = "retry"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RELEASED = "released"


_STATE = {
    Verdict.SUCCEEDED: "succeeded",
    Verdict.SNOOZED: "queued",
    Verdict.RETRY: "queued",
    Verdict.FAILED: "failed",
    Verdict.CANCELLED: "cancelled",
    Verdict.RELEASED: "queued",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    verdict: Verdict
    delay: float | None = None  # seconds until the job may run again (queued verdicts)
    error: str | None = None
    curable: bool = False  # a failure a process restart could cure: counts toward the breaker

    @property
    def state(self) -> str:
        return _STATE[self.verdict]

    @property
    def refund(self) -> int:
        """1 when the attempt does not count: a snooze, or a run cut short by shutdown."""
        return 1 if self.verdict in (Verdict.SNOOZED, Verdict.RELEASED) else 0

    @property
    def snoozed(self) -> int:
        return 1 if self.verdict is Verdict.SNOOZED else 0


def describe(error: BaseException) -> str:
    """The error as a row keeps it: type and message, secrets redacted, length capped."""
    text = str(error)
    described = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return redact(described)[:MAX_ERROR_LENGTH]


def decide(
    job: Job,
    spec: JobSpec,
    *,
    result: object = None,
    error: BaseException | None = None,
    timed_out: bool = False,
    rng: random.Random | None = None,
) -> Outcome:
    """The outcome of one run of ``job``: what it returned or raised, or that it timed out."""
    if timed_out:
        return failure(job, spec, f"timed out after {spec.timeout:g}s", curable=True, rng=rng)
    if isinstance(error, Cancel):
        return Outcome(job, Verdict.CANCELLED, error=f"cancelled: {error.reason}"[:MAX_ERROR_LENGTH])
    if isinstance(error, RetryAfter):
        return Outcome(job, Verdict.SNOOZED, delay=max(0.0, error.seconds), error=describe(error))
    if isinstance(error, TransientError):
        return failure(job, spec, describe(error), curable=False, retry_after=error.retry_after, rng=rng)
    if isinstance(error, JOB_UNAVAILABLE):  # the database is away: a restart cures nothing (outage.py)
        return failure(job, spec, describe(error), curable=False, rng=rng)
    if error is not None:
        return failure(job, spec, describe(error), curable=True, rng=rng)
    if isinstance(result, Snooze):
        return Outcome(job, Verdict.SNOOZED, delay=max(0.0, result.seconds))
    if result is not None:
        return failure(job, spec, f"handler returned {result!r}, expected None or Snooze", curable=True)
    return Outcome(job, Verdict.SUCCEEDED)


def failure(
    job: Job,
    spec: JobSpec,
    error: str,
    *,
    curable: bool,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> Outcome:
    if job.last_attempt:
        return Outcome(job, Verdict.FAILED, error=error, curable=curable)
    delay = spec.backoff.delay(job.attempt, rng) if retry_after is None else retry_after
    return Outcome(job, Verdict.RETRY, delay=delay, error=error, curable=curable)


def stopped(job: Job) -> Outcome:
    return Outcome(job, Verdict.CANCELLED, error="cancelled: stop requested")


def released(job: Job) -> Outcome:
    return Outcome(job, Verdict.RELEASED, delay=0.0)
