"""The consumers: N coroutines that take claimed jobs from the producer and run their handlers.

Each run happens inside ``asyncio.timeout(spec.timeout)``. The same timeout scope is how a run is
interrupted early: an operator's stop request, a lost lease, or the end of the shutdown grace
period reschedule it to "now", and the reason recorded beforehand decides the outcome.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from core import errors, metrics
from core.queue import outcomes
from core.queue.jobs import Job, Registry
from core.queue.outcomes import Outcome, Verdict

log = structlog.get_logger("queue.job")


class Interrupt(StrEnum):
    STOP = "stop requested"
    SHUTDOWN = "shutdown"
    LEASE_LOST = "lease lost"


@dataclass(slots=True)
class Run:
    job: Job
    scope: asyncio.Timeout | None = None
    interrupt: Interrupt | None = None
    started: float = field(default_factory=time.monotonic)


class Consumers:
    def __init__(
        self,
        registry: Registry,
        *,
        on_done: Callable[[Job, Outcome | None], None],
        rng: random.Random | None = None,
    ) -> None:
        self._registry = registry
        self._on_done = on_done
        self._rng = rng
        self._handoff: asyncio.Queue[Job | None] = asyncio.Queue()
        self._waiting: dict[int, Job] = {}  # claimed, not started
        self._stop_requested: set[int] = set()
        self.running: dict[int, Run] = {}

    def offer(self, job: Job) -> None:
        """A claimed job for the next free consumer."""
        self._waiting[job.id] = job
        self._handoff.put_nowait(job)

    def take_waiting(self) -> list[Job]:
        """Everything claimed but not started, taken back (shutdown)."""
        jobs = list(self._waiting.values())
        self._waiting.clear()
        return jobs

    def close(self, consumers: int) -> None:
        """Each consumer ends after its current job."""
        for _ in range(consumers):
            self._handoff.put_nowait(None)

    async def consume(self) -> None:
        """One consumer: run jobs until closed. A crash hands its job on before it propagates."""
        while (job := await self._handoff.get()) is not None:
            if self._waiting.pop(job.id, None) is None:
                continue  # taken back by a shutdown
            try:
                outcome = await self.execute(job)
            except asyncio.CancelledError:
                self._on_done(job, outcomes.released(job))
                raise
            except Exception as error:
                spec = self._registry[job.kind]
                self._on_done(job, outcomes.failure(job, spec, outcomes.describe(error), curable=True))
                raise
            self._on_done(job, outcome)

    async def execute(self, job: Job) -> Outcome | None:
        """Run one job; None when its lease was lost and the row is no longer ours to write."""
        tokens = structlog.contextvars.bind_contextvars(
            job_id=job.id, kind=job.kind, attempt=job.attempt, **log_fields(job, self._registry[job.kind].log_fields)
        )
        try:
            if job.id in self._stop_requested:
                self._stop_requested.discard(job.id)
                return self._logged(outcomes.stopped(job), 0.0)
            run = self.running[job.id] = Run(job)
            try:
                return await self._run(run)
            finally:
                del self.running[job.id]
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    async def _run(self, run: Run) -> Outcome | None:
        job, spec = run.job, self._registry[run.job.kind]
        result: object = None
        error: BaseException | None = None
        try:
            async with asyncio.timeout(spec.timeout) as scope:
                run.scope = scope
                result = await spec.handler(job)
        except TimeoutError as exc:
            if not scope.expired():
                error = exc  # the handler's own timeout, not ours
        except Exception as exc:
            error = self._registry.classify(exc)
        elapsed = time.monotonic() - run.started
        match run.interrupt:
            case Interrupt.LEASE_LOST:
                log.warning("queue.job.lease_lost", duration_s=round(elapsed, 3))
                metrics.job_finished(job.kind, "lease_lost")
                return None
            case Interrupt.SHUTDOWN:
                return self._logged(outcomes.released(job), elapsed)
            case Interrupt.STOP:
                return self._logged(outcomes.stopped(job), elapsed)
        outcome = outcomes.decide(job, spec, result=result, error=error, timed_out=scope.expired(), rng=self._rng)
        return self._logged(outcome, elapsed, error)

    def interrupt(self, job_id: int, reason: Interrupt) -> bool:
        """Cut a run short; a stopped job that has not started is cancelled when its turn comes."""
        run = self.running.get(job_id)
        if run is None:
            if reason is Interrupt.STOP and job_id in self._waiting:
                self._stop_requested.add(job_id)
            return False
        if run.interrupt is None:
            run.interrupt = reason
            if run.scope is not None:
                run.scope.reschedule(asyncio.get_running_loop().time())
        return True

    def interrupt_all(self, reason: Interrupt) -> int:
        return sum(self.interrupt(job_id, reason) for job_id in list(self.running))

    def _logged(self, outcome: Outcome, elapsed: float, error: BaseException | None = None) -> Outcome:
        fields = {"duration_s": round(elapsed, 3)}
        metrics.job_finished(outcome.job.kind, outcome.verdict)
        match outcome.verdict:
            case Verdict.SUCCEEDED:
                log.info("queue.job.succeeded", **fields)
            case Verdict.SNOOZED | Verdict.RELEASED:
                log.info(f"queue.job.{outcome.verdict}", delay_s=round(outcome.delay or 0.0, 3), **fields)
            case Verdict.CANCELLED:
                log.warning("queue.job.cancelled", reason=outcome.error, **fields)
            case Verdict.RETRY:
                log.warning(
                    "queue.job.retry",
                    error=outcome.error,
                    retry_in_s=round(outcome.delay or 0.0, 3),
                    exc_info=_exc_info(outcome, error),
                    **fields,
                )
            case Verdict.FAILED:
                log.error("queue.job.failed", error=outcome.error, exc_info=_exc_info(outcome, error), **fields)
                errors.report(error, outcome.error)
        return outcome


def log_fields(job: Job, names: tuple[str, ...]) -> dict[str, object]:
    """The declared payload fields this job's payload has (JobSpec.log_fields)."""
    payload = job.payload if isinstance(job.payload, dict) else {}
    return {name: payload[name] for name in names if name in payload}


def _exc_info(outcome: Outcome, error: BaseException | None) -> BaseException | bool:
    # Tracebacks help with bugs; a provider's passing trouble is fully said by its message.
    return error if (error is not None and outcome.curable) else False
