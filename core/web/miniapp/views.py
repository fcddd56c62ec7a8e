"""What the API shows of a generation (the contract's ``Video``), as plain functions of its row."""

from __future__ import annotations

from typing import Any

from core.growth import find_preset
from core.pipeline.services import App
from core.ui.texts import preset_name, text
from db.generations import Generation, Status

STATES = {
    Status.DONE: "done",
    Status.FAILED: "failed",
    Status.CANCELLED: "canceled",
}  # every other confirmed status is still under way: "rendering"


def state(generation: Generation) -> str:
    return STATES.get(generation.status, "rendering")


def error_key(generation: Generation) -> str | None:
    """The catalogue key of why it failed: the row keeps ``reason_x: operator detail``
    (core/ui/status.py ``Reason.for_operator``); providers' own words never reach the user."""
    if generation.status != Status.FAILED:
        return None
    return "reason_" + (generation.error or "internal").split(":", 1)[0].strip()


def video(app: App, lang: str, generation: Generation, *, thumbnail: bool) -> dict[str, Any]:
    model = app.settings.product.video_models.get(generation.model)
    preset = find_preset(app.settings.growth.presets, generation.preset)
    key = error_key(generation)
    try:
        error = text(lang, key) if key else None
    except KeyError:  # an older row's wording: say it failed in general
        error = text(lang, "reason_internal")
    return {
        "id": generation.id,
        "status": str(generation.status),
        "state": state(generation),
        "status_text": text(lang, f"api_status_{generation.status}"),
        "idea": generation.idea,
        "model": generation.model,
        "model_title": model.title if model else generation.model,
        "seconds": generation.duration_s,
        "price": generation.price,
        "preset": preset_name(lang, preset) if preset else None,
        "created_at": generation.created_at.isoformat(),
        "thumbnail": f"/app/api/videos/{generation.id}/thumbnail" if thumbnail else None,
        "video_url": generation.video_url,
        "progress": None,  # while rendering: set by the caller (core.pipeline.status.render_progress)
        "error": error,
    }
