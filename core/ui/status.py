"""A generation's one status message: the words and buttons for each stage, and why it failed."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import InlineKeyboardMarkup

from core.ui.keyboards import cancel_generation_keyboard, support_keyboard
from core.ui.progress import Progress, bar, eta
from core.ui.texts import text
from db.generations import Generation


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a generation failed: a catalogue key for the user, a detail for the operator's row only
    (providers' and OpenAI's own words never reach users)."""

    key: str
    detail: str = ""

    def for_operator(self) -> str:
        return f"{self.key.removeprefix('reason_')}: {self.detail}" if self.detail else self.key.removeprefix("reason_")


CONTENT, BUSY, RENDER, PHOTO = "reason_content", "reason_busy", "reason_render", "reason_photo"
TIMEOUT, WAITED, UNDELIVERABLE, INTERNAL = "reason_timeout", "reason_waited", "reason_undeliverable", "reason_internal"
MODEL = "reason_model"  # the model went away (paused by the provider) while others work


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True, slots=True)
class Shown:
    text: str
    keyboard: InlineKeyboardMarkup | None = None


def status_view(lang: str, generation: Generation, stage: str, *, model_title: str, **params: object) -> Shown:
    """What the status message says at ``stage``; stages still waiting to start carry a cancel button."""
    cancel = cancel_generation_keyboard(lang, generation.id)
    match stage:
        case "queued":
            words = text(
                lang,
                "status_queued",
                position=params["position"],
                eta=eta(lang, float(params.get("eta_s", 0))),  # type: ignore[arg-type]
                model=model_title,
                price=generation.price,
            )
            return Shown(words, cancel)
        case "waiting":
            return Shown(text(lang, "status_waiting", model=model_title, price=generation.price), cancel)
        case "rendering":
            elapsed = params.get("elapsed_s", 0)
            assert isinstance(elapsed, int | float)
            words = text(lang, "status_rendering", elapsed=clock(float(elapsed)))
            progress = params.get("progress")
            return Shown(f"{words}\n{bar(progress, lang)}" if isinstance(progress, Progress) else words)
        case "failed":
            reason = params["reason"]
            assert isinstance(reason, Reason)
            if generation.refund_claim:
                words = text(
                    lang,
                    "status_failed_claimed",
                    reason=text(lang, reason.key),
                    refund=claimed(lang, generation, params["credits"]),
                )
            else:
                words = text(
                    lang,
                    "status_failed",
                    reason=text(lang, reason.key),
                    price=generation.price,
                    credits=params["credits"],
                )
            return Shown(words, support_keyboard(lang))
        case "overdue":
            minutes = params["minutes"]
            if generation.refund_claim:
                refund = claimed(lang, generation, params["credits"])
                return Shown(text(lang, "status_overdue_claimed", refund=refund, minutes=minutes))
            return Shown(
                text(lang, "status_overdue", price=generation.price, credits=params["credits"], minutes=minutes)
            )
        case "cancelled":
            if generation.refund_claim:
                return Shown(
                    text(lang, "status_cancelled_claimed", refund=claimed(lang, generation, params["credits"]))
                )
            return Shown(text(lang, "status_cancelled", price=generation.price, credits=params["credits"]))
        case _:
            return Shown(text(lang, f"status_{stage}"))


def claimed(lang: str, generation: Generation, credits: object) -> str:
    """The refund line of a generation whose purchase was refunded in Stars while it was under way:
    the claimed part went to that refund (core/pipeline/refunds.py), so it did not come back."""
    back = generation.price - generation.refund_claim
    if back <= 0:
        return text(lang, "refund_claimed_all", claimed=generation.refund_claim, credits=credits)
    return text(lang, "refund_claimed_part", back=back, claimed=generation.refund_claim, credits=credits)


def status_text(lang: str, generation: Generation, stage: str, *, model_title: str, **params: object) -> str:
    return status_view(lang, generation, stage, model_title=model_title, **params).text
