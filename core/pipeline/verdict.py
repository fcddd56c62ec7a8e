"""What happens to a generation after the provider answered, or did not: one pure decision.

The submit and poll steps ask the provider, then call ``verdict(outcome, situation)`` once and act
on what it says; nothing here reads or writes anything. The whole table (tests/test_verdict.py has
a row for each line):

step    outcome                          situation                   verdict
create  a task id                                                        Record(task id)
create  Unanswered (sent, answer lost)                                   Lost: the task may exist (billed);
                                                                         keep creating_since, never create
                                                                         blindly again (see ``unanswered``)
create  Retryable (rate, outage, silence)                                Retry: counted against the provider's
                                                                         health, whose backoff (or the
                                                                         provider's retry_after) says when
create  ModelUnavailable (paused,                                        Withdraw: the model leaves the menu,
        not supported, unknown model)                                    its waiting generations refunded;
                                                                         never the provider's health
create  AccountProblem (key, credit)                                     Hold: the provider is down until the
                                                                         operator acts; look again in 60 s
create  any other ProviderError                                          Refund(content or render)
poll    not asked                        past LATE_RENDER_LIMIT      Refund(timeout), whatever else holds
poll    Retryable, AccountProblem                                    Wait(poll delay): asked again, never
                                                                     refunded for it
poll    any other ProviderError                                      Refund(content or render)
poll    running                          before GENERATION_TIMEOUT   Wait(poll delay, tick the status)
poll    running                          past it                     Wait(poll delay)
poll    failed, worth another try        in time, not recreated yet  Recreate(render): one new task for the same
        (Veo's "unable to generate audio")                           generation, free; counted
poll    failed, or done without a video                              Refund(content or render)
poll    a video                                                      Deliver(url, late: past the deadline)
poll    any of the four above            past GENERATION_TIMEOUT     Overdue(then=that row's verdict):
                                         and not refunded yet        refund now, then do that

Before a create, a generation whose earlier create may have reached the provider (creating_since set:
its answer was lost, or the process died or the database failed after it) asks ``unanswered``:

waited since that create    callbacks        verdict
under CREATE_ADOPT_WAIT     yes              Adopting(the rest): the task's callback names it on the
                                             generation's own URL, which adopts it (a record read first)
CREATE_ADOPT_WAIT or more   yes              CreateAgain: counted and logged as a possible duplicate
any                         no (polling)     CreateAgain: at-least-once, nothing could name the task

A step that raises instead (a bug, Telegram, the database) is the queue's to retry; ``given_up``
says when that ends in a refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

from core.providers.base import (
    AccountProblem,
    ContentRefused,
    ModelUnavailable,
    ProviderError,
    Retryable,
    TaskState,
    Unanswered,
    WorthAnotherTry,
)
from core.queue import Cancel, TransientError
from core.queue.outcomes import describe
from core.ui.status import BUSY, CONTENT, INTERNAL, MODEL, RENDER, TIMEOUT, Reason

WAITING_RECHECK_S = 60.0  # a submit waiting for a provider that is down looks again (the probe wakes it sooner)


def poll_delay(rendering_s: float) -> float:
    """KIE's advice: every 2-3 s in the first 30 s, 5-10 s until 2 min, 15-30 s after."""
    if rendering_s < 30:
        return 3.0
    if rendering_s < 120:
        return 8.0
    return 20.0


def reason_for(error: ProviderError) -> Reason:
    """A provider's final word as a sentence of the catalogue; its own message stays in the row."""
    return Reason(CONTENT if isinstance(error, ContentRefused) else RENDER, error.detail)


def too_late(late_limit_s: float) -> Reason:
    """A render given up on: LATE_RENDER_LIMIT passed without a video."""
    return Reason(TIMEOUT, f"not rendered within {late_limit_s:g}s")


# --- the situations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Creating:
    """The submit step, after asking the provider to start the task: nothing else matters."""


CREATING = Creating()


@dataclass(frozen=True, slots=True)
class Rendering:
    """The poll step: how long the task has rendered (from the provider's acceptance), the two limits
    (GENERATION_TIMEOUT, LATE_RENDER_LIMIT) and whether it was refunded at the first one."""

    elapsed_s: float
    deadline_s: float
    late_limit_s: float
    refunded: bool = False
    recreated: bool = False  # its one free new task was spent already

    @property
    def expired(self) -> bool:
        """Past the late limit: given up, the provider is not even asked."""
        return self.elapsed_s >= self.late_limit_s

    @property
    def in_time(self) -> bool:
        return self.elapsed_s < self.deadline_s

    @property
    def overdue(self) -> bool:
        """Past the deadline and not refunded yet: refunded now, still awaited."""
        return not self.in_time and not self.refunded


# --- the decisions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """The provider took the task: save its id, start polling."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Retry:
    """Create again later; the failure counts towards the provider going down, whose backoff (or the
    provider's own ``retry_after``) says when (core/pipeline/health.py)."""

    error: Retryable


@dataclass(frozen=True, slots=True)
class Lost:
    """The create left and its answer did not come back: the provider may have made (and bill) the task.
    Counted against the provider's health like any ``Retryable``, but the create stays begun."""

    error: Unanswered


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The model is gone while the provider works: withdraw the model (refunding this generation and
    those waiting for it), tell the admins once; the provider's health is not touched."""

    error: ModelUnavailable

    @property
    def reason(self) -> Reason:
        return Reason(MODEL, self.error.detail)


@dataclass(frozen=True, slots=True)
class Adopting:
    """An earlier create's task may exist: wait ``seconds`` more for its callback, which adopts it."""

    seconds: float


@dataclass(frozen=True, slots=True)
class CreateAgain:
    """Nothing adopted the earlier create: create again, a possible duplicate (logged and counted)."""


@dataclass(frozen=True, slots=True)
class Hold:
    """An account problem: the provider is down until the operator acts; the submit looks again."""

    error: AccountProblem
    seconds: float = WAITING_RECHECK_S


@dataclass(frozen=True, slots=True)
class Wait:
    """Poll again in ``seconds``; ``tick``: show the render time so far (only before the deadline:
    after it the status says refunded and still awaited)."""

    seconds: float
    tick: bool = False


@dataclass(frozen=True, slots=True)
class Refund:
    """Fail the generation and refund it (once: one refunded at its deadline is not refunded again)."""

    reason: Reason


@dataclass(frozen=True, slots=True)
class Deliver:
    """The video is there: send it; ``late`` (refunded at the deadline) means free."""

    url: str
    late: bool = False


@dataclass(frozen=True, slots=True)
class Recreate:
    """The task failed in a way a new one often does not (Veo's audio verdict): create it again for the
    same generation, once, never charged again; ``reason`` is the refund's if that fails too."""

    reason: Reason


@dataclass(frozen=True, slots=True)
class Overdue:
    """Past the deadline: refund now and tell the user, then do ``then`` (never Recreate: that is only in time)."""

    then: Wait | Refund | Deliver | Recreate


Created = Record | Lost | Retry | Hold | Withdraw | Refund
Polled = Wait | Refund | Deliver | Recreate | Overdue
Outcome = str | TaskState | ProviderError | None  # None: the provider was not asked


@overload
def verdict(outcome: Outcome, situation: Creating) -> Created: ...
@overload
def verdict(outcome: Outcome, situation: Rendering) -> Polled: ...
def verdict(outcome: Outcome, situation: Creating | Rendering) -> Created | Polled:
    """What to do after the provider's ``outcome`` (a task id when created, the task's state when
    polled, or its error) in ``situation``. The table is in the module's docstring."""
    match situation:
        case Creating():
            return _created(outcome)
        case Rendering(expired=True):
            return Refund(too_late(situation.late_limit_s))
        case Rendering(overdue=True):
            return Overdue(_polled(outcome, situation))
        case Rendering():
            return _polled(outcome, situation)


def unanswered(waited_s: float, adopt_wait_s: float, *, callbacks: bool) -> Adopting | CreateAgain:
    """Whether to wait for an earlier create's callback (``waited_s`` since it began) or create again."""
    if callbacks and waited_s < adopt_wait_s:
        return Adopting(adopt_wait_s - waited_s)
    return CreateAgain()


def given_up(error: BaseException, last_attempt: bool) -> Refund | None:
    """A step that raised: on its last attempt (or cancelled, which is final) the generation fails and
    is refunded before the job gives up; otherwise the queue retries it."""
    if not (last_attempt or isinstance(error, Cancel)):
        return None
    return Refund(Reason(BUSY if isinstance(error, TransientError) else INTERNAL, describe(error)))


def _created(outcome: Outcome) -> Created:
    match outcome:
        case str() as task_id:
            return Record(task_id)
        case Unanswered() as error:
            return Lost(error)
        case Retryable() as error:
            return Retry(error)
        case AccountProblem() as error:
            return Hold(error)
        case ModelUnavailable() as error:
            return Withdraw(error)
        case ProviderError() as error:
            return Refund(reason_for(error))
    raise TypeError(f"a create answers a task id or an error, not {outcome!r}")


def _polled(outcome: Outcome, situation: Rendering) -> Wait | Refund | Deliver | Recreate:
    delay = poll_delay(situation.elapsed_s)
    match outcome:
        case Retryable() | AccountProblem():
            return Wait(delay)  # unanswered: asked again, never refunded for it
        case ProviderError() as error:
            return Refund(reason_for(error))
        case TaskState(finished=False):
            return Wait(delay, tick=situation.in_time)
        case TaskState(failure=None, video_url=str() as url):
            return Deliver(url, late=situation.refunded or not situation.in_time)
        case TaskState(failure=WorthAnotherTry() as failure) if situation.in_time and not situation.recreated:
            return Recreate(reason_for(failure))
        case TaskState(failure=failure):
            return Refund(reason_for(failure or ProviderError("finished without a video")))
    raise TypeError(f"a poll answers a task state or an error, not {outcome!r}")
