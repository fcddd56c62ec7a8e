"""The growth values: invitation payloads, plans and presets, read as the environment writes them."""

from __future__ import annotations

import pytest

from core.growth import (
    DEFAULT_PRESETS,
    Plan,
    invite_link,
    invite_payload,
    inviter_of,
    parse_plans,
    parse_presets,
    promo_code,
    promo_code_of,
    promo_link,
    share_link,
)


@pytest.mark.parametrize("user_id", [1, 35, 36, 777000, 7_123_456_789, 2**52])
def test_an_invitation_payload_names_its_inviter_and_fits_telegram(user_id: int) -> None:
    payload = invite_payload(user_id)
    assert inviter_of(payload) == user_id
    assert len(payload) <= 64 and payload.isalnum()
    assert promo_code_of(payload) is None


@pytest.mark.parametrize(
    "payload", ["", "r", "R12", "r-1", "rZZ", "promo_X", "ref_12", "r" + "1" * 14, "r" + "z" * 13, "r0"]
)
def test_anything_else_names_no_inviter(payload: str) -> None:
    assert inviter_of(payload) is None


def test_promo_payloads_carry_their_code_in_capitals() -> None:
    assert promo_code_of("promo_spring-26") == "SPRING-26"
    assert promo_code_of("promo_") is None
    assert promo_code_of("promo_a b") is None


def test_a_typed_promo_code_is_read_in_capitals() -> None:
    assert promo_code(" gift-50 ") == "GIFT-50"
    assert [promo_code(raw) for raw in ("", "a b", "x" * 33, "ü", "GIFT!")] == [None] * 5
    assert promo_link("reelsmith_bot", "GIFT") == "https://t.me/reelsmith_bot?start=promo_GIFT"
    assert promo_code_of("r12") is None


def test_links() -> None:
    assert invite_link("ReelsmithBot", 36) == "https://t.me/ReelsmithBot?start=r10"
    assert share_link("https://t.me/b?start=r1", "Make videos & more") == (
        "https://t.me/share/url?url=https%3A%2F%2Ft.me%2Fb%3Fstart%3Dr1&text=Make%20videos%20%26%20more"
    )


def test_plans() -> None:
    assert parse_plans("") == ()
    assert parse_plans("1000:350, 500:200") == (Plan(500, 200), Plan(1000, 350))
    for bad in ["500", "500:0", "x:1", "500:20000", "500:200,500:200"]:
        with pytest.raises(ValueError, match=r"stars|plans"):
            parse_plans(bad)


def test_presets() -> None:
    presets = parse_presets(DEFAULT_PRESETS)
    assert [p.id for p in presets][:3] == ["cinematic", "anime", "product-ad"]
    assert all(p.prompt for p in presets)
    assert parse_presets("none") == ()
    for bad in ["Cinematic", "|x", "A|x;a|y", "!!!|x"]:
        with pytest.raises(ValueError, match=r"name|preset"):
            parse_presets(bad)
