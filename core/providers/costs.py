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
    # Priced per second (below): a 5 s clip, the length proposed first, for the daily budget's estimate of
    # what is confirmed and not yet rendered.
    "seedance-2": 125.0,
    "seedance-2-fast": 100.0,
    "seedance-2-mini": 41.0,
}
# KIE credits per second at 720p with sound, for models whose length the user picks (§13.2).
KIE_CREDITS_PER_SECOND = {
    "kling-3.0-std": 18.0,
    "kling-3.0-pro": 27.0,
    "seedance-2": 25.0,
    "seedance-2-fast": 20.0,
    "seedance-2-mini": 8.2,
}


def cost(model_id: str, reported: float | None, seconds: int | None = None) -> tuple[float, str] | None:
    """The cost to record and where it came from (``provider`` or ``table``); None when neither knows.
    ``seconds``: the clip's length, for a model priced per second."""
    if reported is not None:
        return reported, "provider"
    rate = KIE_CREDITS_PER_SECOND.get(model_id)
    if rate is not None and seconds:
        return round(rate * seconds, 1), "table"
    price = KIE_CREDITS.get(model_id)
    return (price, "table") if price is not None else None
