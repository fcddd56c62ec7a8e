"""The Mini App clicked through in Debian's chromium against the whole running bot and the fakes: the
page at GET /app, its API under /app/api/, Telegram's script replaced by the stub carrying init data
signed with the bot's token. A video made end to end (the fake KIE renders it, the chat receives it),
a package bought (the stub's openInvoice has the fake Telegram deliver successful_payment), Russian,
the dark theme. Screenshots go to tests/artifacts/ and are checked not blank."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser import main_button, open_page, require_browser, screenshot, stub_calls
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, message_update, successful_payment_update
from tests.helpers import SECRETS, BotHarness, wait_until
from tests.miniapp import app_user, sign_init_data
from tests.test_e2e_generation import render, start_and_confirm, videos_sent

ANN, ADMIN = 701, 42


@pytest.fixture(autouse=True)
def _browser() -> None:
    require_browser()


async def started(bot: BotHarness, user_id: int) -> None:
    """The user has met the bot in the chat (and got the starter credits)."""
    assert await bot.send(message_update(bot.next_update_id(), user_id, text="/start")) == 200


def app_page(bot: BotHarness, user_id: int, **options: Any) -> Any:
    user = app_user(user_id)
    return open_page(f"{bot.base_url}/app", sign_init_data(SECRETS["BOT_TOKEN"], user), user, **options)


def paying(bot: BotHarness, user_id: int) -> Any:
    """The stub's openInvoice: Telegram takes the Stars and delivers successful_payment to the bot for
    the invoice behind the link (a plan's first charge as a subscription's); then the page hears "paid"."""

    async def pay(link: str) -> str:
        invoice = bot.telegram.invoice_links[link]
        charge_id = f"ch-app-{link.rsplit('$', 1)[-1]}"
        if invoice.get("subscription_period"):
            expires_at = int(time.time()) + int(invoice["subscription_period"])
            update = bot.telegram.charge_subscription(
                link, user_id, charge_id, update_id=bot.next_update_id(), expires_at=expires_at, first=True
            )
        else:
            amount = invoice["prices"][0]["amount"]
            update = successful_payment_update(
                bot.next_update_id(), user_id, payload=invoice["payload"], total_amount=amount, charge_id=charge_id
            )
        assert await bot.send(update) == 200
        return "paid"

    return pay


class TestMiniApp:
    async def test_videos_then_a_video_made_end_to_end(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        await started(bot, ANN)
        async with app_page(bot, ANN) as page:
            await page.get_by_role("heading", name="Your videos").wait_for()
            await page.get_by_text("No videos yet").wait_for()
            await screenshot(page, "e2e-videos-empty")

            await page.get_by_role("button", name="Create").first.click()
            await page.locator("#idea").fill("A paper boat sails down a rainy street")
            button = await main_button(page)
            assert button["visible"] and button["active"] and button["text"].startswith("Make it · ")
            await screenshot(page, "e2e-create")
            before = await bot.credits(ANN)
            thumbnails: list[int] = []  # fetched through the bot (getFile), authenticated in the query
            page.on("response", lambda r: thumbnails.append(r.status) if "/thumbnail?auth=" in r.url else None)
            await page.evaluate("Telegram.WebApp.MainButton.press()")

            card = page.locator("article.video").first
            await card.wait_for()
            assert await card.get_attribute("data-state") == "rendering"
            generation_id = int(await card.get_attribute("data-id"))
            row = await bot.generation(generation_id)
            assert row["user_id"] == ANN and row["idea"] == "A paper boat sails down a rainy street"
            assert await bot.credits(ANN) == before - row["price"], "charged as the chat charges"
            await screenshot(page, "e2e-rendering")

            await render(fake_kie)
            await videos_sent(fake_telegram, ANN)
            done = page.locator(f'article.video[data-id="{generation_id}"][data-state="done"]')
            await done.wait_for(timeout=30_000)  # the page asks every few seconds
            await screenshot(page, "e2e-done")
            await wait_until(lambda: thumbnails)
            assert thumbnails[0] == 200
            player = done.get_by_role("button", name="Play")
            await player.click()
            assert await done.locator("video").get_attribute("src") == await page.evaluate(
                "Reelsmith.state.videos[0].video_url"
            )

            await done.get_by_role("button", name="Send to chat").click()
            await page.get_by_text("Sent to your chat with the bot.").wait_for()
            await videos_sent(fake_telegram, ANN, 2)
            await done.get_by_role("button", name="Share").click()
            assert (await stub_calls(page, "switchInlineQuery"))[0][1] == "A paper boat sails down a rainy street"

    async def test_buy_a_package_and_see_the_balance_change(self, bot: BotHarness) -> None:
        await started(bot, ANN)
        before = await bot.credits(ANN)
        async with app_page(bot, ANN, pay=paying(bot, ANN)) as page:
            await page.get_by_role("button", name="Buy").click()
            offer = page.locator("button.offer[data-package]").first
            await offer.wait_for()
            await screenshot(page, "e2e-buy")
            await offer.click()
            await wait_until(lambda: bot.telegram.calls("createInvoiceLink"))
            await page.get_by_text("Credited.").wait_for(timeout=30_000)
            after = await bot.credits(ANN)
            assert after > before
            assert await page.locator("#buy-balance").inner_text() == f"{after:,} credits"
            assert len(await stub_calls(page, "openInvoice")) == 1
            assert await bot.pool.fetchval("SELECT count(*) FROM payments WHERE user_id = $1", ANN) == 1

    async def test_russian_and_the_dark_theme(self, bot: BotHarness) -> None:
        await started(bot, ANN)
        async with app_page(bot, ANN, scheme="dark") as page:
            await page.get_by_role("button", name="Account").click()
            await page.locator('[data-lang="ru"]').click()
            await page.get_by_role("heading", name="Профиль").wait_for()
            assert await bot.pool.fetchval("SELECT language FROM users WHERE id = $1", ANN) == "ru"
            assert await page.locator("html").get_attribute("data-theme") == "dark"
            assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(35, 46, 60)"
            await screenshot(page, "e2e-account-ru-dark")
            await page.locator("#open-receipts").click()
            await page.get_by_role("heading", name="История операций").wait_for()
            await page.locator("#receipts .row").first.wait_for()
            await screenshot(page, "e2e-receipts-ru-dark")

    async def test_an_admin_sees_the_stats_charts_and_looks_a_user_up(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await start_and_confirm(bot, ANN, text="A lighthouse in a storm")
            await render(fake_kie)
            await started(bot, ADMIN)
            async with app_page(bot, ADMIN) as page:
                await page.locator('[data-tab="stats"]').click()
                await page.locator("#chart-failures svg").wait_for()
                assert await page.locator("#chart-generations .legend span").count() == 1
                assert await page.locator("#chart-failures circle").count() == 14
                assert "Users · total" in await page.locator("#stats-summary").inner_text()
                await page.locator("#lookup").fill(str(ANN))
                await page.get_by_role("button", name="Find").click()
                await page.locator("#lookup-result dd").first.wait_for()
                facts = await page.locator("#lookup-result").inner_text()
                assert "Balance" in facts and "Ledger" in facts
                await screenshot(page, "e2e-stats")
            async with app_page(bot, ANN) as page:
                await page.locator("article.video").first.wait_for()
                assert await page.locator('[data-tab="stats"]').count() == 0

    async def test_subscribe_to_the_monthly_plan(self, make_bot) -> None:
        async with make_bot(SUBSCRIPTION_PLANS="500:200") as bot:
            await started(bot, ANN)
            before = await bot.credits(ANN)
            async with app_page(bot, ANN, pay=paying(bot, ANN)) as page:
                await page.get_by_role("button", name="Buy").click()
                plan = page.locator("button.offer[data-plan]")
                await plan.wait_for()
                assert await plan.inner_text() == "500 credits a month\n200 ⭐ a month"
                await plan.click()
                await page.locator("#subscription", has_text="Your plan renews on").wait_for(timeout=30_000)
                assert await bot.credits(ANN) == before + 500
                assert await page.locator("#buy-balance").inner_text() == f"{before + 500:,} credits"
                assert await page.locator("button.offer[data-plan]").is_disabled(), "the plan running now"
                await screenshot(page, "e2e-plan")
