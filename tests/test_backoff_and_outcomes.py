"""Retry delays and the mapping from a run's result to the job's next state (no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from core.bot.frontend import DATABASE_BACKOFF, TELEGRAM_BACKOFF
from core.pipeline.health import PROBE_BACKOFF, SUBMIT_BACKOFF, retry_delay
from core.queue import Backoff, Cancel, Job, JobSpec, Snooze, TransientError
from core.queue.breaker import CircuitBreaker
from core.queue.listener import Listener
from core.queue.outcomes import Verdict, decide, released, stopped
from core.runtime.supervisor import Supervisor


async def _noop(_job: Job) -> None:
    return None


def job(attempt: int = 1, max_attempts: int = 5) -> Job:
    now = datetime.now(UTC)
    return Job(1, "test.kind", {}, 0, attempt, max_attempts, 0, now, now)


SPEC = JobSpec("test.kind", _noop, timeout=7, backoff=Backoff(base=1.0, cap=3600, jitter=0.25))


class TestBackoff:
    def test_grows_exponentially_within_jitter_bounds(self) -> None:
        """Each attempt's delays stay within ±25% of base·2^(n-1), so later attempts always wait longer."""
        rng = random.Random(7)
        backoff = Backoff(base=1.0, cap=3600, jitter=0.25)
        samples = {n: [backoff.delay(n, rng) for _ in range(500)] for n in range(1, 8)}
        for n, delays in samples.items():
            nominal = 2.0 ** (n - 1)
            assert min(delays) >= nominal * 0.75
            assert max(delays) <= nominal * 1.25
        for n in range(1, 7):
            assert max(samples[n]) < min(samples[n + 1])

    def test_jitter_spreads_delays(self) -> None:
        """Jobs failing together do not come back together."""
        rng = random.Random(1)
        delays = {round(Backoff(base=10).delay(3, rng), 6) for _ in range(100)}
        assert len(delays) > 90

    def test_cap_bounds_the_delay(self) -> None:
        backoff = Backoff(base=1.0, cap=60, jitter=0.0)
        assert backoff.delay(30) == 60

    def test_a_huge_attempt_number_waits_the_cap(self) -> None:
        assert Backoff(base=1.0, cap=60, jitter=0.0).delay(10_000) == 60


_SUPERVISOR = Supervisor(max_restarts=3, window_s=60, on_give_up=lambda _name, _error: None)
# Every retry loop of the process, and the waits it makes after its 1st ... 8th failure in a row.
RETRY_LOOPS = {
    "supervisor: a crashed part": (_SUPERVISOR.restart_backoff, [1, 2, 4, 8, 16, 32, 64, 128]),
    "supervisor: the database away": (_SUPERVISOR.outage_backoff, [1, 2, 4, 5, 5, 5, 5, 5]),
    "telegram: set-up, long polling": (TELEGRAM_BACKOFF, [1, 2, 4, 8, 16, 30, 30, 30]),
    "telegram: a polled update, the database away": (DATABASE_BACKOFF, [1, 2, 4, 8, 10, 10, 10, 10]),
    "LISTEN connection": (Listener("", {}, on_connect=lambda: None).backoff, [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10]),
    "provider: a submit's retryable failure": (SUBMIT_BACKOFF, [2, 4, 8, 16, 32, 60, 60, 60]),
    "provider: the probe": (PROBE_BACKOFF, [1, 2, 4, 8, 16, 32, 60, 60]),
}


@pytest.mark.parametrize("loop", RETRY_LOOPS)
def test_every_retry_loop_waits_by_one_backoff(loop: str) -> None:
    backoff, waits = RETRY_LOOPS[loop]
    assert [round(backoff.delay(n), 6) for n in range(1, 9)] == waits


def test_a_submit_waits_by_the_providers_word_else_its_backoff() -> None:
    assert [retry_delay(failures, None) for failures in (0, 1, 2, 6, 7, 100)] == [2, 2, 4, 60, 60, 60]
    assert retry_delay(3, retry_after=17.0) == 17.0


class TestDecide:
    def test_none_is_success(self) -> None:
        outcome = decide(job(), SPEC, result=None)
        assert (outcome.verdict, outcome.state, outcome.refund, outcome.curable) == (
            Verdict.SUCCEEDED,
            "succeeded",
            0,
            False,
        )

    def test_snooze_gives_the_attempt_back(self) -> None:
        outcome = decide(job(), SPEC, result=Snooze(12))
        assert (outcome.state, outcome.delay, outcome.refund, outcome.snoozed) == ("queued", 12, 1, 1)

    def test_cancel_is_final_and_keeps_the_reason(self) -> None:
        outcome = decide(job(), SPEC, error=Cancel("content rejected"))
        assert (outcome.state, outcome.error, outcome.curable) == ("cancelled", "cancelled: content rejected", False)

    def test_transient_error_retries_without_tripping_the_breaker(self) -> None:
        outcome = decide(job(attempt=2), SPEC, error=TransientError("KIE 429"), rng=random.Random(3))
        assert outcome.verdict is Verdict.RETRY
        assert outcome.curable is False
        assert 1.5 <= outcome.delay <= 2.5
        assert outcome.error == "TransientError: KIE 429"

    def test_transient_retry_after_wins_over_backoff(self) -> None:
        outcome = decide(job(), SPEC, error=TransientError("slow down", retry_after=42))
        assert outcome.delay == 42

    def test_unexpected_error_retries_and_counts_for_the_breaker(self) -> None:
        outcome = decide(job(), SPEC, error=KeyError("prompt"))
        assert (outcome.verdict, outcome.curable, outcome.error) == (Verdict.RETRY, True, "KeyError: 'prompt'")

    def test_last_attempt_fails_for_good(self) -> None:
        outcome = decide(job(attempt=5, max_attempts=5), SPEC, error=RuntimeError("boom"))
        assert (outcome.state, outcome.delay, outcome.error) == ("failed", None, "RuntimeError: boom")

    def test_timeout_is_a_failure(self) -> None:
        outcome = decide(job(), SPEC, timed_out=True)
        assert (outcome.verdict, outcome.error, outcome.curable) == (Verdict.RETRY, "timed out after 7s", True)

    def test_unexpected_return_value_is_a_failure(self) -> None:
        outcome = decide(job(), SPEC, result="done")
        assert outcome.verdict is Verdict.RETRY
        assert "expected None or Snooze" in outcome.error

    def test_stop_and_shutdown(self) -> None:
        assert stopped(job()).state == "cancelled"
        handed_back = released(job())
        assert (handed_back.state, handed_back.delay, handed_back.refund) == ("queued", 0.0, 1)

    def test_long_errors_are_truncated(self) -> None:
        outcome = decide(job(), SPEC, error=RuntimeError("x" * 10_000))
        assert len(outcome.error) == 2000


class TestCircuitBreaker:
    @pytest.fixture
    def trips(self) -> list[int]:
        return []

    def test_trips_after_threshold_consecutive_curable_failures(self, trips: list[int]) -> None:
        breaker = CircuitBreaker(3, trips.append)
        for _ in range(3):
            breaker.record(decide(job(), SPEC, error=RuntimeError("db gone")))
        assert trips == [3]
        breaker.record(decide(job(), SPEC, error=RuntimeError("db gone")))
        assert trips == [3], "trips once"

    def test_success_resets_and_transient_errors_do_not_count(self, trips: list[int]) -> None:
        breaker = CircuitBreaker(3, trips.append)
        for _ in range(2):
            breaker.record(decide(job(), SPEC, error=RuntimeError("bug")))
        breaker.record(decide(job(), SPEC, result=None))
        for _ in range(10):
            breaker.record(decide(job(), SPEC, error=TransientError("KIE down")))
        for _ in range(2):
            breaker.record(decide(job(), SPEC, error=RuntimeError("bug")))
        assert trips == []
        assert breaker.consecutive == 2


def test_registry_copies_keep_the_error_classifier() -> None:
    """with_limits and with_log_fields build new registries: the classifier (Telegram's 429 as a
    retry at retry_after, bot.py) must survive both, or a flood-controlled job trips the breaker."""
    from core.queue import Registry

    def classify(error: BaseException) -> BaseException:
        return error

    registry = Registry(classify=classify).with_limits({}).with_log_fields("generation_id")
    assert registry.classify is classify
