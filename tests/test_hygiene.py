"""Issue 15's small promises kept: confirming is logged with its generation_id; /grant has a cap and
the other admins hear of it; admins are told when OpenAI refuses the key or the quota."""

from __future__ import annotations

import structlog

from tests.fakes.openai import FakeOpenAI
from tests.helpers import BotHarness, wait_until
from tests.test_e2e_generation import ANN, start_and_confirm
from tests.test_e2e_payments import command


async def test_confirming_logs_an_event_with_the_generation_id(bot: BotHarness) -> None:
    with structlog.testing.capture_logs() as logs:
        draft = await start_and_confirm(bot, ANN, text="a lighthouse in a storm")
    confirmed = [entry for entry in logs if entry["event"] == "generation.confirmed"]
    assert len(confirmed) == 1
    assert confirmed[0]["generation_id"] == draft
    assert (confirmed[0]["user_id"], confirmed[0]["price"], confirmed[0]["balance"]) == (ANN, 60, 40)


async def test_a_grant_is_capped_and_told_to_the_other_admins(make_bot) -> None:
    admin, other = 42, 43
    async with make_bot(ADMIN_IDS=f"{admin},{other}", GRANT_LIMIT="500") as bot:
        await command(bot, ANN, "/start")
        assert "At most 500 credits per grant" in await command(bot, admin, f"/grant {ANN} 501 gift")
        assert "At most 500" in await command(bot, admin, f"/grant {ANN} -501 oops")
        assert await bot.credits(ANN) == 100
        assert not bot.telegram.calls("sendMessage", chat_id=other), "nothing done, nothing told"

        assert "Balance: 600 credits" in await command(bot, admin, f"/grant {ANN} 500 gift")
        (notice,) = [c.params["text"] for c in bot.telegram.calls("sendMessage", chat_id=other)]
        assert notice == f"ℹ️ Admin {admin} changed {ANN}'s credits by +500 (gift). Balance: 600 credits."
        assert len(bot.telegram.calls("sendMessage", chat_id=admin)) == 3, "the granting admin gets no notice"


async def test_admins_are_told_once_when_openai_refuses_the_key(make_bot, fake_openai: FakeOpenAI) -> None:
    """A dead key turns every prompt into the user's own words: the admins hear of it, once per
    ACCOUNT_ALERT_FOLD_S, however many prompts fall back."""
    admin = 42
    fake_openai.api_key = "sk-revoked-key"
    async with make_bot(ADMIN_IDS=str(admin)) as bot:
        first = await start_and_confirm(bot, ANN, text="a fox in the snow")
        await wait_until(lambda: _prompt_source(bot, first), timeout=30)
        second = await start_and_confirm(bot, 702, text="a kite over the sea")
        await wait_until(lambda: _prompt_source(bot, second), timeout=30)
        assert await _prompt_source(bot, first) == await _prompt_source(bot, second) == "fallback"
        await bot.telegram.wait_for(lambda _: _alerts(bot, admin), timeout=30)
        alerts = _alerts(bot, admin)
        assert len(alerts) == 1, alerts
        assert "OpenAI refused the account (OpenAI 401" in alerts[0] and "own words" in alerts[0]


async def _prompt_source(bot: BotHarness, generation_id: int) -> str | None:
    return (await bot.generation(generation_id))["prompt_source"]


def _alerts(bot: BotHarness, admin: int) -> list[str]:
    texts = [c.params.get("text", "") for c in bot.telegram.calls("sendMessage", chat_id=admin)]
    return [t for t in texts if "OpenAI refused" in t]
