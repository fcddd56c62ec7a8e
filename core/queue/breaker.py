"""The circuit breaker: ``threshold`` job failures in a row of the kind a restart can cure (lost
database, unexpected exceptions) and ``on_trip`` is called once; the runtime then drains and exits
non-zero so the platform restarts the process. A provider's passing trouble (``TransientError``)
backs off in the queue and never counts; a success, a snooze or a cancel resets the count."""

from __future__ import annotations

from collections.abc import Callable

from core.queue.outcomes import Outcome, Verdict


class CircuitBreaker:
    def __init__(self, threshold: int, on_trip: Callable[[int], None]) -> None:
        self._threshold = threshold
        self._on_trip = on_trip
        self.consecutive = 0
        self.tripped = False

    def record(self, outcome: Outcome) -> None:
        if outcome.curable:
            self.failure()
        elif outcome.verdict in (Verdict.SUCCEEDED, Verdict.SNOOZED, Verdict.CANCELLED):
            self.consecutive = 0

    def failure(self) -> None:
        self.consecutive += 1
        if self.consecutive >= self._threshold and not self.tripped:
            self.tripped = True
            self._on_trip(self.consecutive)
