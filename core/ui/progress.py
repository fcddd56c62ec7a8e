"""A render's progress as people see it: a bar and the time left, from the model's median render time
over its recent deliveries (db/generations.render_medians), in the chat's status message and the Mini App.

``estimate`` is pure: the caller brings the elapsed seconds and the median. The bar never reaches 100 %
before the video is there (capped at 95 %), and once a render runs well past the median (LATE_AFTER) it says so
("taking longer than usual") rather than promising a time it no longer knows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.ui.texts import text

CAP = 0.95  # the bar's end while not delivered: 100 % is the video itself
# Half of all renders take longer than the median: "longer than usual" is said only well past it, and in
# between the bar waits at its end saying "under a minute".
LATE_AFTER = 1.25
WIDTH = 10  # cells of the bar
FILLED, EMPTY = "▓", "░"

# Before a model has any delivery, how its family usually takes (rough figures from the providers'
# pages, seconds); only the bar's speed uses them: no time left is promised without a median.
TYPICAL_RENDER_S = {"veo": 120.0, "kling": 180.0, "kling3": 180.0, "seedance": 90.0, "sora": 240.0}
DEFAULT_RENDER_S = 150.0


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 (capped at 0.95 while not delivered)
    eta_seconds: int | None  # None: unknown (no history yet) or already late
    late: bool  # well past the model's median render time (LATE_AFTER)


def typical_render_s(family: str) -> float:
    """The guess for a family whose models have no delivery yet."""
    return TYPICAL_RENDER_S.get(family, DEFAULT_RENDER_S)


def estimate(elapsed_s: float, median_s: float | None, *, typical_s: float = DEFAULT_RENDER_S) -> Progress:
    """Where a render stands after ``elapsed_s`` seconds, given its model's median (None: no history).

    With no median the bar moves along ``elapsed / (elapsed + typical)``, half way at the family's
    typical time and slowing after, and no time left is given."""
    elapsed_s = max(0.0, elapsed_s)
    if median_s is None or median_s <= 0:
        return Progress(min(CAP, elapsed_s / (elapsed_s + max(typical_s, 1.0))), None, False)
    if elapsed_s > median_s * LATE_AFTER:
        return Progress(CAP, None, True)
    return Progress(min(CAP, elapsed_s / median_s), max(0, math.ceil(median_s - elapsed_s)), False)


def eta(lang: str, seconds: float) -> str:
    """A wait in words: "under a minute", "about 3 min"."""
    if seconds < 60:
        return text(lang, "eta_soon")
    return text(lang, "eta_minutes", minutes=math.ceil(seconds / 60))


def bar(progress: Progress, lang: str) -> str:
    """``▓▓▓▓▓░░░░░ 50% · about 2 min left``, or ``· taking longer than usual``, or just the bar."""
    fraction = min(1.0, max(0.0, progress.fraction))
    cells = math.floor(fraction * WIDTH)
    line = f"{FILLED * cells}{EMPTY * (WIDTH - cells)} {math.floor(fraction * 100)}%"
    if progress.late:
        return f"{line} · {text(lang, 'progress_late')}"
    if progress.eta_seconds is not None:
        return f"{line} · {text(lang, 'progress_left', eta=eta(lang, progress.eta_seconds))}"
    return line
