"""What a video costs the operator at the provider, when the provider's task record does not say.

KIE's record gives its own figure for most tasks (``creditsConsumed``, ``consumeCredits``; read in
core/providers/kie.py); this table is the fallback, per model id, in KIE credits for the clip the
bot orders (1 credit is about US$0.005). The figures are /work/shared/reference/kie_api.md §9 and
§13.2 as of late 2026: they drift, which is why the record's figure wins when there is one."""

from __future__ import annotations

KIE_CREDITS = {
    "veo3_lite": 30.0,
    "veo3_fast": 60.0,
    "veo3": 250.0,
    "kling-2.6": 55.0,  # about 10 credits a second, 5 s
    "kling-3.0-std": 90.0,
    "kling-3.0-pro": 135.0,
    "sora-2": 30.0,
    "sora-2-pro": 90.0,
}


def cost(model_id: str, reported: float | None) -> tuple[float, str] | None:
    """The cost to record and where it came from (``provider`` or ``table``); None when neither knows."""
    if reported is not None:
        return reported, "provider"
    price = KIE_CREDITS.get(model_id)
    return (price, "table") if price is not None else None
