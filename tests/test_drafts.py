"""Proposals never confirmed are deleted by the daily housekeeping (core/pipeline/retention.py):
each "Again" tap, replaced or dropped proposal left a row nothing removed."""

from __future__ import annotations

from core.pipeline.retention import DRAFT_DAYS, RETENTION
from core.queue import enqueue
from core.ui.keyboards import Confirm, PickModel
from core.ui.texts import text
from tests.fakes.telegram import callback_update
from tests.helpers import BotHarness, wait_until
from tests.test_e2e_generation import propose, start_and_confirm

ANN = 811


async def test_drafts_older_than_two_days_are_deleted_in_the_daily_run(bot: BotHarness) -> None:
    confirmed = await start_and_confirm(bot, ANN, text="a confirmed idea of a tin moon")
    replaced = await propose(bot, ANN, text="a proposal replaced by the next one")
    abandoned = await propose(bot, ANN, text="a proposal left on screen")
    recent = await propose(bot, ANN, text="a proposal from today")
    old = [confirmed, replaced, abandoned]
    await bot.pool.execute(
        "UPDATE generations SET created_at = now() - make_interval(days => $2) WHERE id = ANY($1)", old, DRAFT_DAYS + 1
    )
    assert (await bot.generation(replaced))["status"] == "discarded"

    await enqueue(bot.pool, bot.app.registry, RETENTION, unique_key="retention")

    async def drafts_gone() -> bool:
        return await bot.pool.fetchval("SELECT count(*) FROM generations WHERE id = ANY($1)", old) == 1

    await wait_until(drafts_gone)
    assert (await bot.generation(confirmed))["status"] != "draft", "a confirmed generation is kept"
    assert (await bot.generation(recent))["status"] == "draft", "a recent proposal is kept"
    assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)]

    # The old proposal's buttons still on screen: answered, nothing charged.
    model = next(iter(bot.app.settings.product.video_models))
    for data in (PickModel(draft=abandoned, model=model).pack(), Confirm(draft=abandoned).pack()):
        assert await bot.send(callback_update(bot.next_update_id(), ANN, data, message_id=1)) == 200
    answers = bot.telegram.calls("answerCallbackQuery")[-2:]
    assert [answer.params["text"] for answer in answers] == [text("en", "draft_gone")] * 2
    assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)]
