"""A generation's one status message: the words for each stage, and why it failed."""

from __future__ import annotations

from dataclasses import dataclass

from core.ui.texts import text
from db.generations import Generation


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a generation failed: a catalogue key for the user, a detail for the operator's row."""

    key: str
    detail: str = ""

    def for_operator(self) -> str:
        return f"{self.key.removeprefix('reason_')}: {self.detail}" if self.detail else self.key.removeprefix("reason_")


CONTENT, BUSY, RENDER = "reason_content", "reason_busy", "reason_render"
TIMEOUT, UNDELIVERABLE, INTERNAL = "reason_timeout", "reason_undeliverable", "reason_internal"


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_text(lang: str, generation: Generation, stage: str, *, model_title: str, **params: object) -> str:
    match stage:
        case "queued":
            return text(lang, "status_queued", position=params["position"], model=model_title, price=generation.price)
        case "rendering":
            elapsed = params.get("elapsed_s", 0)
            assert isinstance(elapsed, int | float)
            return text(lang, "status_rendering", elapsed=clock(float(elapsed)))
        case "failed":
            reason = params["reason"]
            assert isinstance(reason, Reason)
            return text(
                lang,
                "status_failed",
                reason=text(lang, reason.key, detail=reason.detail or "-"),
                price=generation.price,
                credits=params["credits"],
            )
        case _:
            return text(lang, f"status_{stage}")
