"""core/pipeline/verdict.py as a table: what the provider answered (or did not), in which situation,
and what happens to the generation. One row per line of the module's docstring, and then some."""

from __future__ import annotations

import pytest

from core.pipeline.verdict import (
    CREATING,
    WAITING_RECHECK_S,
    Adopting,
    CreateAgain,
    Deliver,
    Hold,
    Lost,
    Outcome,
    Overdue,
    Record,
    Recreate,
    Refund,
    Rendering,
    Retry,
    Wait,
    Withdraw,
    given_up,
    unanswered,
    verdict,
)
from core.providers.base import (
    AccountProblem,
    ContentRefused,
    FinalFailure,
    ModelUnavailable,
    ProviderError,
    Retryable,
    TaskState,
    Unanswered,
    WorthAnotherTry,
)
from core.queue import Cancel, TransientError
from core.ui.status import BUSY, CONTENT, INTERNAL, MODEL, RENDER, TIMEOUT, Reason

BUSY_NOW = Retryable("429 too many requests", retry_after=7.0, code="429")
NO_CREDIT = AccountProblem("insufficient credits", code="402")
REFUSED = ContentRefused("flagged by moderation", code="400")
FINAL = FinalFailure("KIE 500: upstream failed", code="500")
ODD = ProviderError("an error of no known kind")
SILENT = Retryable("timed out")  # errors compare by identity: each row reuses one
PAUSED = ModelUnavailable("KIE 500: This interface is temporarily paused", code="500")
LOST = Unanswered("KIE unreachable: ServerDisconnectedError", code="lost")

RUNNING = TaskState(finished=False)
VIDEO = TaskState(finished=True, video_url="https://cdn.example/v.mp4")
FAILED = TaskState(finished=True, failure=FINAL)
MODERATED = TaskState(finished=True, failure=REFUSED)
EMPTY = TaskState(finished=True)  # finished, neither a video nor a reason
NO_AUDIO = TaskState(
    finished=True, failure=WorthAnotherTry("KIE 501: The Google model was unable to generate audio", code="501")
)
NO_AUDIO_REASON = Reason(RENDER, "KIE 501: The Google model was unable to generate audio")
FAILED_WITH_URL = TaskState(finished=True, video_url="https://cdn.example/v.mp4", failure=FINAL)

DEADLINE, LATE_LIMIT = 360.0, 1800.0


def rendering(elapsed_s: float, *, refunded: bool = False) -> Rendering:
    return Rendering(elapsed_s, DEADLINE, LATE_LIMIT, refunded=refunded)


EARLY, MIDWAY, LATER = rendering(10), rendering(60), rendering(300)
PAST_DEADLINE = rendering(400)  # not refunded yet: the poll got there before the watchdog
REFUNDED = rendering(400, refunded=True)  # the watchdog (or an earlier poll) refunded it
EXPIRED = rendering(LATE_LIMIT)
TOO_LATE = Refund(Reason(TIMEOUT, "not rendered within 1800s"))

CREATE_ROWS = [
    ("a task id", "task-1", Record("task-1")),
    ("an empty task id is still an answer", "", Record("")),
    ("busy: its health counts it and waits", BUSY_NOW, Retry(BUSY_NOW)),
    ("no answer at all", SILENT, Retry(SILENT)),
    ("sent, answer lost: the task may exist", LOST, Lost(LOST)),
    ("one model paused: withdrawn, never an outage", PAUSED, Withdraw(PAUSED)),
    ("an account problem holds", NO_CREDIT, Hold(NO_CREDIT, WAITING_RECHECK_S)),
    ("content refused: another idea", REFUSED, Refund(Reason(CONTENT, "flagged by moderation"))),
    ("a final failure", FINAL, Refund(Reason(RENDER, "KIE 500: upstream failed"))),
    ("an error of no known kind is final", ODD, Refund(Reason(RENDER, "an error of no known kind"))),
]

POLL_ROWS = [
    # past the late limit nothing else matters (the provider is not even asked)
    ("expired, not asked", None, EXPIRED, TOO_LATE),
    ("expired and refunded", None, rendering(LATE_LIMIT + 1, refunded=True), TOO_LATE),
    ("expired, video in hand", VIDEO, EXPIRED, TOO_LATE),
    # unanswered: asked again at the poll's pace, never refunded for it
    ("busy while early", BUSY_NOW, EARLY, Wait(3.0)),
    ("account problem midway", NO_CREDIT, MIDWAY, Wait(8.0)),
    ("busy later", BUSY_NOW, LATER, Wait(20.0)),
    ("busy past the deadline, refunded", BUSY_NOW, REFUNDED, Wait(20.0)),
    # the provider's final word as an error
    ("refused while reading", REFUSED, MIDWAY, Refund(Reason(CONTENT, "flagged by moderation"))),
    ("final while reading", FINAL, EARLY, Refund(Reason(RENDER, "KIE 500: upstream failed"))),
    ("unknown error while reading", ODD, LATER, Refund(Reason(RENDER, "an error of no known kind"))),
    # still running: the status ticks until the deadline, not after
    ("running, first seconds", RUNNING, rendering(0), Wait(3.0, tick=True)),
    ("running at 29 s", RUNNING, rendering(29), Wait(3.0, tick=True)),
    ("running at 30 s", RUNNING, rendering(30), Wait(8.0, tick=True)),
    ("running at 2 min", RUNNING, rendering(120), Wait(20.0, tick=True)),
    ("running just before the deadline", RUNNING, rendering(DEADLINE - 0.1), Wait(20.0, tick=True)),
    ("running past it, refunded", RUNNING, REFUNDED, Wait(20.0)),
    # finished
    ("a video in time", VIDEO, MIDWAY, Deliver("https://cdn.example/v.mp4")),
    ("a late video is free", VIDEO, REFUNDED, Deliver("https://cdn.example/v.mp4", late=True)),
    ("refunded in time (clocks) is free", VIDEO, rendering(300, refunded=True), Deliver(VIDEO.video_url, late=True)),
    ("failed", FAILED, MIDWAY, Refund(Reason(RENDER, "KIE 500: upstream failed"))),
    ("moderated after acceptance", MODERATED, EARLY, Refund(Reason(CONTENT, "flagged by moderation"))),
    ("finished without a video", EMPTY, MIDWAY, Refund(Reason(RENDER, "finished without a video"))),
    ("a failure wins over a url", FAILED_WITH_URL, MIDWAY, Refund(Reason(RENDER, "KIE 500: upstream failed"))),
    ("failed past the deadline, refunded", FAILED, REFUNDED, Refund(Reason(RENDER, "KIE 500: upstream failed"))),
    # Veo's audio verdict: one free new task in time, then a refund like any failure
    ("no audio: one more task", NO_AUDIO, MIDWAY, Recreate(NO_AUDIO_REASON)),
    ("no audio, early", NO_AUDIO, EARLY, Recreate(NO_AUDIO_REASON)),
    (
        "no audio again: refunded",
        NO_AUDIO,
        Rendering(60, DEADLINE, LATE_LIMIT, recreated=True),
        Refund(NO_AUDIO_REASON),
    ),
    ("no audio, refunded already", NO_AUDIO, REFUNDED, Refund(NO_AUDIO_REASON)),
    ("no audio while reading is an error", NO_AUDIO.failure, MIDWAY, Refund(NO_AUDIO_REASON)),
    # first past the deadline: refunded now, then whatever the answer says
    ("overdue, running: no tick", RUNNING, PAST_DEADLINE, Overdue(Wait(20.0))),
    ("overdue at the deadline exactly", RUNNING, rendering(DEADLINE), Overdue(Wait(20.0))),
    ("overdue, busy", BUSY_NOW, PAST_DEADLINE, Overdue(Wait(20.0))),
    ("overdue, a video: free", VIDEO, PAST_DEADLINE, Overdue(Deliver(VIDEO.video_url, late=True))),
    ("overdue, failed", FAILED, PAST_DEADLINE, Overdue(Refund(Reason(RENDER, "KIE 500: upstream failed")))),
    ("overdue, refused", REFUSED, PAST_DEADLINE, Overdue(Refund(Reason(CONTENT, "flagged by moderation")))),
    ("overdue, no audio: no new task", NO_AUDIO, PAST_DEADLINE, Overdue(Refund(NO_AUDIO_REASON))),
]


@pytest.mark.parametrize(("outcome", "expected"), [row[1:] for row in CREATE_ROWS], ids=[r[0] for r in CREATE_ROWS])
def test_create(outcome: Outcome, expected: object) -> None:
    assert verdict(outcome, CREATING) == expected


@pytest.mark.parametrize(
    ("outcome", "situation", "expected"), [row[1:] for row in POLL_ROWS], ids=[r[0] for r in POLL_ROWS]
)
def test_poll(outcome: Outcome, situation: Rendering, expected: object) -> None:
    assert verdict(outcome, situation) == expected


@pytest.mark.parametrize(
    ("outcome", "situation"),
    [(None, CREATING), (RUNNING, CREATING), (None, MIDWAY), ("task-1", MIDWAY)],
    ids=["create not asked", "create answered a state", "poll not asked in time", "poll answered a task id"],
)
def test_an_answer_of_the_wrong_step_is_a_bug(outcome: Outcome, situation: object) -> None:
    with pytest.raises(TypeError):
        verdict(outcome, situation)  # type: ignore[call-overload]


GIVEN_UP_ROWS = [
    ("an error with attempts left: the queue retries", RuntimeError("boom"), False, None),
    ("transient with attempts left", TransientError("Telegram is slow"), False, None),
    ("the last attempt of a bug", RuntimeError("boom"), True, Refund(Reason(INTERNAL, "RuntimeError: boom"))),
    (
        "the last attempt of something transient",
        TransientError("slow"),
        True,
        Refund(Reason(BUSY, "TransientError: slow")),
    ),
    ("a cancel is final at once", Cancel("photo gone"), False, Refund(Reason(INTERNAL, "Cancel: photo gone"))),
]


@pytest.mark.parametrize(
    ("error", "last_attempt", "expected"), [r[1:] for r in GIVEN_UP_ROWS], ids=[r[0] for r in GIVEN_UP_ROWS]
)
def test_given_up(error: BaseException, last_attempt: bool, expected: Refund | None) -> None:
    assert given_up(error, last_attempt) == expected


ADOPT_WAIT = 300.0
UNANSWERED_ROWS = [
    ("just lost: wait for the callback", 0.0, True, Adopting(ADOPT_WAIT)),
    ("midway: the rest of the wait", 120.0, True, Adopting(180.0)),
    ("the wait is over: create again", ADOPT_WAIT, True, CreateAgain()),
    ("long after", 3600.0, True, CreateAgain()),
    ("long polling: nothing can name the task", 0.0, False, CreateAgain()),
]


@pytest.mark.parametrize(
    ("waited_s", "callbacks", "expected"), [r[1:] for r in UNANSWERED_ROWS], ids=[r[0] for r in UNANSWERED_ROWS]
)
def test_unanswered(waited_s: float, callbacks: bool, expected: object) -> None:
    assert unanswered(waited_s, ADOPT_WAIT, callbacks=callbacks) == expected


def test_a_withdrawn_model_says_so() -> None:
    assert Withdraw(PAUSED).reason == Reason(MODEL, "KIE 500: This interface is temporarily paused")
