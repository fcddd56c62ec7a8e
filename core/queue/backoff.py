"""Retry delays: exponential, capped, with jitter so failed jobs do not come back in lockstep."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 2.0  # delay before the first retry, seconds
    cap: float = 3600.0  # no retry waits longer than this (before jitter)
    jitter: float = 0.25  # each delay lands within ±25% of its nominal value

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        nominal = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return nominal * (1.0 + spread)
