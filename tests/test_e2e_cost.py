"""Know the cost: each rendered video records what it cost at KIE (KIE's own figure from the task
record, else the price table); /stats and /metrics set that spend against Stars; KIE_DAILY_BUDGET
refuses new confirms, charging nothing, once the day's spend reaches it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.providers.costs import KIE_CREDITS, cost
from core.ui.keyboards import Confirm
from core.ui.texts import text
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import callback_update
from tests.helpers import BotHarness, wait_until
from tests.test_e2e_generation import propose, render, start_and_confirm, videos_sent
from tests.test_e2e_payments import command
from tests.test_metrics import scrape, value

ANN, BOB, ADMIN = 951, 952, 42


async def rendered(bot: BotHarness, kie: FakeKie, user_id: int, **idea: Any) -> Any:
    draft = await start_and_confirm(bot, user_id, **idea)
    await render(kie, len(kie.tasks) + 1 if kie.tasks else 1)
    await videos_sent(bot.telegram, user_id)
    return await bot.wait_for_generation(draft, "done")


async def test_the_cost_kie_reports_is_recorded_else_the_price_table(bot: BotHarness, fake_kie: FakeKie) -> None:
    fake_kie.costs["veo3_fast"] = 77  # KIE's figure, unlike the table's
    done = await rendered(bot, fake_kie, ANN, text="a fox in the snow")
    assert (done["provider_cost"], done["cost_source"]) == (77, "provider")
    assert done["cost_at"] is not None

    fake_kie.report_costs = False
    done = await rendered(bot, fake_kie, BOB, text="a fox in the rain")
    assert (done["provider_cost"], done["cost_source"]) == (KIE_CREDITS["veo3_fast"], "table")


async def test_the_budget_reached_refuses_confirms_charging_nothing_and_tells_the_admins_once(
    make_bot: Any, fake_kie: FakeKie
) -> None:
    async with make_bot(KIE_DAILY_BUDGET="60", ADMIN_IDS=str(ADMIN)) as bot:
        await command(bot, ADMIN, "/start")
        await start_and_confirm(bot, ANN, text="a fox in the snow")  # 60 credits at the table: the day's budget
        await command(bot, BOB, "/start")

        async def refused(attempt: int) -> None:
            draft = await propose(bot, BOB, text=f"a lighthouse, take {attempt}")
            row = await bot.generation(draft)
            before = len(bot.telegram.calls("answerCallbackQuery"))
            tap = callback_update(
                bot.next_update_id(), BOB, Confirm(draft=draft).pack(), message_id=row["status_message_id"]
            )
            assert await bot.send(tap) == 200
            (answer,) = bot.telegram.calls("answerCallbackQuery")[before:]
            assert answer.params["text"] == text("en", "budget_reached")
            assert (await bot.generation(draft))["status"] == "draft"

        await refused(0)  # ANN's video still renders: it counts at the price table
        await render(fake_kie)
        await videos_sent(bot.telegram, ANN)
        await refused(1)  # rendered: its recorded cost counts
        assert await bot.ledger(BOB) == [("starter", 100)] and len(fake_kie.tasks) == 1
        told = text("en", "admin_budget_reached", spent=60, budget=60)
        await bot.telegram.wait_for(lambda calls: any(c.params.get("text") == told for c in calls))
        await wait_until(
            lambda: bot.pool.fetchval(
                "SELECT count(*) = 0 FROM jobs WHERE state <> 'succeeded' AND kind = 'admin.alert'"
            )
        )
        assert [c.params["text"] for c in bot.telegram.calls("sendMessage", chat_id=ADMIN)].count(told) == 1


async def test_stats_and_metrics_show_spend_against_stars_per_day_and_model(make_bot: Any, fake_kie: FakeKie) -> None:
    async with make_bot(ADMIN_IDS=str(ADMIN), METRICS_CACHE="0s") as bot:
        await command(bot, ADMIN, "/start")
        await rendered(bot, fake_kie, ANN, text="a fox in the snow")
        await bot.pool.execute(
            "INSERT INTO payments (charge_id, user_id, credits, total_amount, payload) VALUES ('c1', $1, 100, 50, 'p')",
            ANN,
        )
        today = datetime.now(UTC).date().isoformat()
        stats = await command(bot, ADMIN, "/stats")
        assert f"{today}: 60 KIE credits (veo3_fast 60) · 50 ⭐" in stats
        samples = await scrape(f"{bot.base_url}/metrics")
        assert value(samples, "reelsmith_provider_spend_credits", day=today, model="veo3_fast") == 60
        assert value(samples, "reelsmith_stars_daily", day=today) == 50


def test_the_table_prices_a_per_second_model_by_the_length_chosen() -> None:
    assert cost("seedance-2-mini", None, 10) == (82.0, "table")
    assert cost("kling-3.0-std", None, 5) == (90.0, "table"), "as the per-clip entry it replaces"
    assert cost("seedance-2-mini", None) == (41.0, "table"), "no length: the first one proposed"
    assert cost("seedance-2-mini", 12.5, 10) == (12.5, "provider")
    assert cost("unknown-model", None, 5) is None
