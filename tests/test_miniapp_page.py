"""The Mini App's page in Debian's chromium against the contract's API (tests/fakes/miniapp_api.py):
every screen drawn, Telegram's buttons used as its guidelines say, live progress, Russian, the dark
theme, the admins' charts. Screenshots of each screen go to tests/artifacts/ and are checked not blank.
The same page against the real bot: tests/test_miniapp_browser.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.browser import main_button, open_page, require_browser, screenshot, stub_calls
from tests.fakes.miniapp_api import FakeMiniAppApi, thumbnail_png
from tests.helpers import SECRETS, free_port
from tests.miniapp import app_user, sign_init_data

TOKEN = SECRETS["BOT_TOKEN"]
ANN = app_user(601)


@pytest.fixture
async def api() -> AsyncIterator[FakeMiniAppApi]:
    require_browser()
    fake = FakeMiniAppApi(TOKEN)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}/app"  # type: ignore[attr-defined]
    try:
        yield fake
    finally:
        await runner.cleanup()


def page_for(api: FakeMiniAppApi, **options: Any) -> Any:
    async def pay(link: str) -> str:
        api.credit(link)
        return "paid"

    return open_page(api.url, sign_init_data(TOKEN, ANN), ANN, pay=pay, **options)  # type: ignore[attr-defined]


class TestScreens:
    async def test_videos_live_progress_play_send_again_share(self, api: FakeMiniAppApi) -> None:
        async with page_for(api) as page:
            cards = page.locator("article.video")
            await cards.first.wait_for()
            assert await cards.count() == 3
            rendering = page.locator('article.video[data-state="rendering"]')
            assert await rendering.locator(".eta").inner_text() == "About 2 min left"
            assert await rendering.get_by_role("progressbar").get_attribute("aria-valuenow") == "35"
            assert await page.locator("img").first.get_attribute("src") is not None
            assert await page.locator("title").inner_text() == "Reelsmith"
            assert await stub_calls(page, "ready") == [["ready"]]
            assert await page.evaluate("Telegram.WebApp.isVerticalSwipesEnabled") is False
            await screenshot(page, "videos")

            # The page asks for the unfinished one every few seconds until it is done.
            await page.locator('article.video[data-id="3"][data-state="done"]').wait_for(timeout=20_000)
            assert [r for r in api.requests if r == ("GET", "/app/api/videos/3")]

            done = page.locator('article.video[data-id="2"]')
            await done.get_by_role("button", name="Play").click()
            player = done.locator("video")
            assert await player.get_attribute("playsinline") == "" and await player.evaluate("v => v.muted")

            await done.get_by_role("button", name="Send to chat").click()
            await page.get_by_text("Sent to your chat with the bot.").wait_for()
            assert api.sent == [2]

            await done.get_by_role("button", name="Share").click()
            assert (await stub_calls(page, "switchInlineQuery"))[0][1] == "A lighthouse in a storm, waves crashing"

            # A bot without inline mode: Telegram's script throws, and the invitation is shared instead.
            await page.evaluate(
                "() => { Telegram.WebApp.switchInlineQuery = () => { throw new Error('WebAppInlineModeDisabled'); }; }"
            )
            await done.get_by_role("button", name="Share").click()
            assert (await stub_calls(page, "openTelegramLink"))[0][1].startswith("https://t.me/share/url?")

            await done.get_by_role("button", name="Again").click()
            assert await page.locator("#idea").input_value() == "A lighthouse in a storm, waves crashing"
            assert (await main_button(page))["text"] == "Make it · 60 credits"

    async def test_older_videos_a_page_at_a_time(self, api: FakeMiniAppApi) -> None:
        api.page_size = 2
        async with page_for(api) as page:
            await page.locator("article.video").first.wait_for()
            assert await page.locator("article.video").count() == 2
            await page.get_by_role("button", name="Show older").click()
            await page.locator('article.video[data-id="1"]').wait_for()
            assert await page.locator("article.video").count() == 3
            assert await page.get_by_role("button", name="Show older").count() == 0
            assert ("GET", "/app/api/videos?before=2") in api.requests

    async def test_create_with_the_main_button_then_progress(self, api: FakeMiniAppApi) -> None:
        async with page_for(api) as page:
            await page.locator("article.video").first.wait_for()
            await page.get_by_role("button", name="Create").click()
            await page.locator("#idea").wait_for()
            assert (await main_button(page))["active"] is False, "no idea yet"

            # A photo: previewed, and the models that cannot start from one are greyed out.
            await page.locator("#photo").set_input_files(
                files=[{"name": "cat.png", "mimeType": "image/png", "buffer": thumbnail_png(7)}]
            )
            await page.get_by_role("img", name="The chosen photo").wait_for()
            assert await page.locator('input[value="seedance_2"]').is_disabled()
            await screenshot(page, "create-photo")
            await page.get_by_role("button", name="Remove").click()
            assert await page.locator('input[value="seedance_2"]').is_enabled()

            await page.locator("#idea").fill("A paper boat on a rainy street")
            await page.get_by_text("Seedance 2").click()
            await page.locator("label.choice", has_text="10 s").click()
            await page.locator("#preset").select_option("cinematic")
            assert await page.locator("#summary").inner_text() == "Price: 80 credits\nBalance: 100 credits"
            assert await main_button(page) == {
                "text": "Make it · 80 credits",
                "visible": True,
                "active": True,
                "progress": False,
            }
            await screenshot(page, "create")

            await page.evaluate("Telegram.WebApp.MainButton.press()")
            new = page.locator('article.video[data-id="13"]')
            await new.wait_for()
            assert await new.get_attribute("data-state") == "rendering"
            assert await new.get_by_role("progressbar").count() == 1
            assert (await main_button(page))["visible"] is False, "the MainButton belongs to Create only"
            assert api.balance == 20

            # Too dear now: the MainButton leads to Buy instead.
            await page.get_by_role("button", name="Create").click()
            await page.locator("#idea").fill("Another one")
            await page.get_by_text("Veo 3 Fast").click()
            assert (await main_button(page))["text"] == "Buy credits"
            await page.evaluate("Telegram.WebApp.MainButton.press()")
            await page.locator("#buy-balance").wait_for()

    async def test_create_from_a_photo_sends_it_with_the_idea(self, api: FakeMiniAppApi) -> None:
        photo = thumbnail_png(3)
        async with page_for(api) as page:
            await page.get_by_role("button", name="Create").click()
            await page.locator("#idea").fill("The cat in the photo starts to dance")
            await page.locator("#photo").set_input_files(
                files=[{"name": "cat.png", "mimeType": "image/png", "buffer": photo}]
            )
            await page.get_by_role("img", name="The chosen photo").wait_for()
            assert (await main_button(page))["text"] == "Make it · 60 credits"
            await page.evaluate("Telegram.WebApp.MainButton.press()")
            await page.locator('article.video[data-state="rendering"]', has_text="The cat in the photo").wait_for()
            assert api.photos == [len(photo)]

    async def test_buy_a_package_and_see_the_balance_change(self, api: FakeMiniAppApi) -> None:
        async with page_for(api) as page:
            await page.get_by_role("button", name="Buy").click()
            await page.locator("button.offer").first.wait_for()
            await screenshot(page, "buy")
            await page.locator('button[data-package="300"]').click()
            await page.locator("#buy-balance", has_text="400 credits").wait_for()
            assert (await stub_calls(page, "openInvoice"))[0][1] == "https://t.me/$invoice-package-300"
            assert api.paid == ["https://t.me/$invoice-package-300"]

    async def test_account_receipts_privacy_and_deleting_with_the_back_button(self, api: FakeMiniAppApi) -> None:
        async with page_for(api) as page:
            await page.get_by_role("button", name="Account").click()
            await page.locator("#invite-link").wait_for()
            assert await page.locator("#invite-link").inner_text() == "https://t.me/reelsmith_bot?start=i_601"
            await page.get_by_role("button", name="Copy link").click()
            await page.get_by_text("Link copied.").wait_for()
            await page.get_by_role("button", name="Share", exact=True).click()
            assert (await stub_calls(page, "openTelegramLink"))[0][1].startswith("https://t.me/share/url?")
            await screenshot(page, "account")
            back = "Telegram.WebApp.BackButton"
            assert await page.evaluate(f"{back}.isVisible") is False

            await page.locator("#open-receipts").click()
            await page.locator("#receipts .row").first.wait_for()
            assert await page.locator("#receipts .row").count() == 3
            assert await page.evaluate(f"{back}.isVisible") is True
            await screenshot(page, "receipts")
            await page.evaluate(f"{back}.press()")
            await page.locator("#open-privacy").click()
            await page.get_by_text("What we keep").wait_for()
            await screenshot(page, "privacy")
            await page.evaluate(f"{back}.press()")
            assert await page.evaluate(f"{back}.isVisible") is False

            await page.locator("#open-delete").click()
            await screenshot(page, "delete")
            await page.locator("#delete-confirm").click()
            await page.locator("#deleted").wait_for()
            assert (await stub_calls(page, "showConfirm"))[0][1].startswith("Delete your data for good?")
            assert api.erased

    async def test_russian_from_the_language_switch(self, api: FakeMiniAppApi) -> None:
        async with page_for(api) as page:
            await page.get_by_role("button", name="Account").click()
            await page.locator('[data-lang="ru"]').click()
            await page.get_by_role("heading", name="Профиль").wait_for()
            assert await page.locator("html").get_attribute("lang") == "ru"
            assert await page.locator("#account-balance").inner_text() == "100 кредитов"
            await page.get_by_role("button", name="Видео").click()
            await page.get_by_role("heading", name="Ваши видео").wait_for()
            await screenshot(page, "videos-ru")
            await page.get_by_role("button", name="Создать").first.click()
            await page.locator("#idea").fill("Лиса в снегу")
            assert (await main_button(page))["text"] == "Создать · 60 кредитов"

    async def test_dark_theme_and_themechanged(self, api: FakeMiniAppApi) -> None:
        async with page_for(api, scheme="dark") as page:
            await page.locator("article.video").first.wait_for()
            background = "getComputedStyle(document.body).backgroundColor"
            assert await page.evaluate(background) == "rgb(35, 46, 60)"  # secondary_bg_color of the night theme
            assert await page.locator("html").get_attribute("data-theme") == "dark"
            await screenshot(page, "videos-dark")
            await page.evaluate(
                "Telegram.WebApp.__setTheme('light', {secondary_bg_color: '#f1f1f1', bg_color: '#ffffff'})"
            )
            assert await page.evaluate(background) == "rgb(241, 241, 241)"
            assert await page.locator("html").get_attribute("data-theme") == "light"

    async def test_stats_for_admins_only(self, api: FakeMiniAppApi) -> None:
        async with page_for(api) as page:
            await page.locator("article.video").first.wait_for()
            assert await page.locator('[data-tab="stats"]').count() == 0
        api.admin = True
        async with page_for(api) as page:
            await page.locator('[data-tab="stats"]').click()
            await page.locator("#chart-failures svg").wait_for()
            for chart in ("revenue", "generations", "failures"):
                assert await page.locator(f"#chart-{chart} svg").count() == 1
            assert await page.locator("#chart-revenue rect").count() == 13  # one of the 14 days had no revenue
            assert await page.locator("#chart-failures circle").count() == 14
            assert await page.locator("#chart-generations .legend span").all_inner_texts() == [
                "seedance_2",
                "veo3_fast",
            ]
            await page.locator("#lookup").fill("@ann")
            await page.get_by_role("button", name="Find").click()
            await page.locator("#lookup-result dd").first.wait_for()
            await screenshot(page, "stats")
            await page.locator("#lookup").fill("@nobody")
            await page.get_by_role("button", name="Find").click()
            await page.get_by_text("No such user.").wait_for()

    async def test_forged_init_data_shows_the_servers_sentence(self, api: FakeMiniAppApi) -> None:
        forged = sign_init_data("654321:another-bots-token", ANN)
        async with open_page(api.url, forged, ANN) as page:  # type: ignore[attr-defined]
            await page.locator("#fatal").wait_for()
            assert "Open the app from the bot." in await page.locator("#fatal").inner_text()
