"""Issue 15's small promises kept: confirming is logged with its generation_id; /grant has a cap and
the other admins hear of it; admins are told when OpenAI refuses the key or the quota."""

from __future__ import annotations

import structlog

from tests.helpers import BotHarness
from tests.test_e2e_generation import ANN, start_and_confirm


async def test_confirming_logs_an_event_with_the_generation_id(bot: BotHarness) -> None:
    with structlog.testing.capture_logs() as logs:
        draft = await start_and_confirm(bot, ANN, text="a lighthouse in a storm")
    confirmed = [entry for entry in logs if entry["event"] == "generation.confirmed"]
    assert len(confirmed) == 1
    assert confirmed[0]["generation_id"] == draft
    assert (confirmed[0]["user_id"], confirmed[0]["price"], confirmed[0]["balance"]) == (ANN, 60, 40)
