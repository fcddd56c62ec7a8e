"""The one retry delay of the process: exponential, capped, with optional jitter.

Every loop that retries uses it: the queue's failed jobs, the supervisor's restarts, Telegram's
set-up and long polling, the LISTEN connection, the provider probe and its submits. A job's retry
keeps jitter, so failed jobs do not come back in lockstep; a loop of one (one process reconnecting)
passes ``jitter=0`` and waits exactly 1, 2, 4 ... ``cap`` seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_MAX_DOUBLINGS = 64  # 2**64 times any base is past every cap; a larger power would overflow a float


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 2.0  # delay before the first retry, seconds
    cap: float = 3600.0  # no retry waits longer than this (before jitter)
    jitter: float = 0.25  # each delay lands within ±25% of its nominal value

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based; 0 reads as 1)."""
        nominal = min(self.cap, self.base * 2.0 ** min(max(0, attempt - 1), _MAX_DOUBLINGS))
        if not self.jitter:
            return nominal
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return nominal * (1.0 + spread)
