"""Issue 15's small promises kept: confirming is logged with its generation_id; /grant has a cap and
the other admins hear of it; admins are told when OpenAI refuses the key or the quota."""

from __future__ import annotations

import structlog

from tests.helpers import BotHarness
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
