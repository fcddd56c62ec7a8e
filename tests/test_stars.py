"""The decisions around a Stars payment, without network or database."""

from __future__ import annotations

import pytest

from core.growth import Plan
from core.settings import Settings, SettingsError
from core.stars import (
    Package,
    RefundTake,
    check_pre_checkout,
    covering,
    make_payload,
    parse_packages,
    payload_key,
    read_payload,
    refund_take,
)
from tests.helpers import SECRETS

KEY = payload_key(SECRETS["BOT_TOKEN"])
PACKAGES = (Package(100, 50), Package(300, 140), Package(1000, 400))


def check(payload: str, *, amount: int = 50, user_id: int = 7, currency: str = "XTR", banned: bool = False):
    return check_pre_checkout(
        KEY, PACKAGES, payload=payload, currency=currency, total_amount=amount, user_id=user_id, banned=banned
    )


class TestPackages:
    def test_parsed_sorted_and_checked(self) -> None:
        assert parse_packages("300:140, 100:50") == (Package(100, 50), Package(300, 140))
        for bad in ("", "100", "100:0", "0:5", "a:b", "100:50,100:60", "100:20000"):
            with pytest.raises(ValueError, match=r"credits|package|stars"):
                parse_packages(bad)

    def test_a_bad_setting_stops_the_start_with_its_name(self) -> None:
        with pytest.raises(SettingsError, match="CREDIT_PACKAGES"):
            Settings.from_env({**SECRETS, "CREDIT_PACKAGES": "lots"})
        assert Settings.from_env(SECRETS).product.credit_packages == PACKAGES

    def test_the_packages_that_cover_what_is_missing(self) -> None:
        assert covering(PACKAGES, 20) == PACKAGES
        assert covering(PACKAGES, 250) == PACKAGES[1:]
        assert covering(PACKAGES, 5000) == PACKAGES[-1:], "the biggest, when none covers it all"


class TestPayload:
    def test_signed_short_and_unique(self) -> None:
        first, second = make_payload(KEY, PACKAGES[0], 7), make_payload(KEY, PACKAGES[0], 7)
        assert first != second and len(first.encode()) <= 128
        signed = read_payload(KEY, first)
        assert signed is not None and (signed.package, signed.user_id) == (PACKAGES[0], 7)

    def test_forgeries_are_not_ours(self) -> None:
        payload = make_payload(KEY, PACKAGES[0], 7)
        assert read_payload(KEY, payload.replace("v1:100:50", "v1:1000:50")) is None
        assert read_payload(KEY, payload.replace(":7:", ":8:")) is None
        assert read_payload(payload_key("999:" + "x" * 30), payload) is None, "another bot's key"
        assert read_payload(KEY, "") is None and read_payload(KEY, "garbage") is None

    def test_pre_checkout_decisions(self) -> None:
        payload = make_payload(KEY, PACKAGES[0], 7)
        assert check(payload) is None
        assert check(payload, amount=49) == "precheckout_invalid"
        assert check(payload, currency="EUR") == "precheckout_invalid"
        assert check(payload, user_id=8) == "precheckout_invalid"
        assert check(payload, banned=True) == "precheckout_banned"
        assert check(make_payload(KEY, Package(100, 45), 7), amount=45) == "package_gone"

    def test_a_plan_payload_is_its_own_kind(self) -> None:
        plan = Plan(500, 200)
        payload = make_payload(KEY, plan, 7, monthly=True)
        assert payload.startswith("m1:500:200:7:") and len(payload.encode()) <= 128
        signed = read_payload(KEY, payload)
        assert signed is not None and signed.monthly and (signed.package.credits, signed.package.stars) == (500, 200)
        old = read_payload(KEY, make_payload(KEY, PACKAGES[0], 7))
        assert old is not None and not old.monthly, "v1 payloads stay packages"
        # A package's payload relabelled as a plan (or back) no longer matches its signature.
        assert read_payload(KEY, payload.replace("m1:", "v1:", 1)) is None
        assert read_payload(KEY, make_payload(KEY, PACKAGES[0], 7).replace("v1:", "m1:", 1)) is None

    def test_pre_checkout_of_a_plan(self) -> None:
        plans = (Plan(500, 200),)

        def plan_check(payload: str, amount: int = 200) -> str | None:
            fields = {"currency": "XTR", "total_amount": amount, "user_id": 7, "banned": False}
            return check_pre_checkout(KEY, PACKAGES, plans=plans, payload=payload, **fields)

        assert plan_check(make_payload(KEY, plans[0], 7, monthly=True)) is None
        assert plan_check(make_payload(KEY, plans[0], 7, monthly=True), amount=199) == "precheckout_invalid"
        assert plan_check(make_payload(KEY, Plan(500, 150), 7, monthly=True), 150) == "plan_gone"
        # A plan with a package's numbers is not that package, nor the reverse.
        assert plan_check(make_payload(KEY, Plan(100, 50), 7, monthly=True), 50) == "plan_gone"
        assert plan_check(make_payload(KEY, Package(500, 200), 7)) == "package_gone"


class TestRefundPolicy:
    def test_spent_credits_stop_the_balance_at_zero(self) -> None:
        assert (refund_take(300, 1000).removed, refund_take(300, 1000).shortfall) == (300, 0)
        taken = refund_take(300, 120)
        assert (taken.removed, taken.shortfall) == (120, 180)
        assert (refund_take(300, 0).removed, refund_take(300, 0).shortfall) == (0, 300)

    def test_what_unfinished_generations_owe_is_claimed_from_their_refunds(self) -> None:
        """Buy 100, confirm 60, refund: 40 taken now, 60 claimed from the video's refund if it comes."""
        assert refund_take(100, 40, unfinished=60) == RefundTake(40, 60, 60)
        assert refund_take(100, 10, unfinished=200) == RefundTake(10, 90, 90), "never more than the shortfall"
        assert refund_take(100, 0, unfinished=30) == RefundTake(0, 100, 30), "the rest was spent on finished work"
        assert refund_take(100, 500, unfinished=60) == RefundTake(100, 0, 0)
