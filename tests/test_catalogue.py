"""VIDEO_MODELS with prices per second (issue 14): parsing, lengths and their prices, the proposal's buttons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.catalogue import VideoModel, parse_models
from core.ui.keyboards import PickLength, confirm_keyboard
from db.generations import Generation, Status

MIXED = "veo3_lite:veo:30, seedance-2-mini:seedance:9/s:5,10, veo3:veo:250, kling-3.0-std:kling3:12/s:5,8,10"


def test_per_second_entries_sit_beside_clip_prices() -> None:
    models = parse_models(MIXED)
    assert list(models) == ["veo3_lite", "seedance-2-mini", "veo3", "kling-3.0-std"]
    assert models["veo3_lite"] == VideoModel("veo3_lite", "veo", 30)  # old entries are unchanged
    mini = models["seedance-2-mini"]
    assert (mini.price, mini.per_second, mini.durations, mini.default_duration) == (45, 9, (5, 10), 5)
    assert [mini.price_for(s) for s in (5, 10, 7, None)] == [45, 90, None, None]
    kling = models["kling-3.0-std"]
    assert [kling.price_for(s) for s in kling.durations] == [60, 96, 120]
    veo = models["veo3"]
    assert (veo.default_duration, veo.price_for(None), veo.price_for(8)) == (None, 250, None)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("a:seedance:9/s", "needs its lengths"),
        ("a:seedance:0/s:5", "price per second"),
        ("a:veo:30:5", "only with a price per second"),
        ("a:seedance:9/s:5,5", "listed twice"),
        ("a:seedance:9/s:5,0", "a length"),
        ("a:seedance:9/s:5,90", "longer than 60 s"),
        ("veo3:veo:30,10", "is not id:family:price"),  # a bare length after a clip price
        ("a:seedance:9/s:5,a:veo:3", "listed twice"),
    ],
)
def test_mistakes_are_named(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_models(raw)


def draft(model: str, price: int, duration_s: int | None) -> Generation:
    now = datetime.now(UTC)
    values: dict[str, object] = dict.fromkeys(Generation.__dataclass_fields__)
    values |= {"id": 7, "user_id": 1, "chat_id": 1, "status": Status.DRAFT, "provider": "kie", "model": model}
    values |= {"price": price, "idea": "x", "callback_token": "t", "created_at": now, "late": False}
    values |= {"duration_s": duration_s, "recreated": 0}
    return Generation(**values)  # type: ignore[arg-type]


def test_the_proposal_offers_each_length_with_its_price() -> None:
    models = parse_models(MIXED).values()
    keyboard = confirm_keyboard("en", draft("kling-3.0-std", 96, 8), models)
    rows = [[(b.text, b.callback_data) for b in row] for row in keyboard.inline_keyboard]
    assert rows[0][0][0] == "✅ Make it (96 credits)"
    assert rows[1] == [
        ("5 s · 60", PickLength(draft=7, seconds=5).pack()),
        ("✓ 8 s · 96", PickLength(draft=7, seconds=8).pack()),
        ("10 s · 120", PickLength(draft=7, seconds=10).pack()),
    ]
    assert [label for label, _ in rows[2] + rows[3]] == [
        "Veo 3.1 Lite · 30",
        "Seedance 2 Mini · 45",
        "Veo 3.1 Quality · 250",
    ]
    # A model of one fixed length has no length buttons.
    fixed = confirm_keyboard("ru", draft("veo3", 250, None), models)
    assert not any(b.callback_data.startswith("len:") for row in fixed.inline_keyboard for b in row)
