"""Start-up: settings first and fast, Telegram unreachable or refusing the token, a refused menu, and
no optional heavy library loaded by a start that does not need it."""

from __future__ import annotations

import re
from typing import Any

from core.settings import Settings
from core.settings.sections import reveal
from core.ui.texts import LANGUAGES
from tests.fakes.telegram import FakeTelegram
from tests.helpers import BotHarness, BotProcess, bot_env, free_port, wait_until


async def readyz(bot: BotHarness) -> tuple[int, dict[str, Any]]:
    """/readyz as the operator sees it: with the metrics token, which shows the reasons."""
    token = reveal(bot.app.settings.metrics.token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with bot._http.get(f"{bot.base_url}/readyz", headers=headers) as response:
        return response.status, await response.json()


async def test_telegram_down_at_start_then_up(bot_environment: dict[str, str], fake_telegram: FakeTelegram) -> None:
    port = free_port()
    settings = Settings.from_env(
        {**bot_environment, "TELEGRAM_API_BASE": f"http://127.0.0.1:{port}", "METRICS_TOKEN": "operator-token"}
    )
    async with BotHarness.running(settings, fake_telegram, wait_for_telegram=False) as bot:
        async with bot._http.get(f"{bot.base_url}/healthz") as response:
            assert response.status == 200, "alive at once, Telegram or not"

        async def says_unreachable() -> dict[str, Any] | None:
            status, body = await readyz(bot)
            return body if status == 503 and "unreachable" in body.get("reasons", {}).get("telegram", "") else None

        body = await wait_until(says_unreachable)
        assert body["checks"]["telegram"] is False and body["checks"]["database"] is True
        late = await FakeTelegram().start(port=port)
        try:
            await late.wait_for(lambda _: late.webhook is not None, timeout=30)
            assert late.webhook is not None and late.webhook["url"] == f"{bot.base_url}/telegram/webhook"
            assert len(late.calls("setWebhook")) == 1
            await wait_until(lambda: bot.frontend.set_up_done.is_set())

            async def ready() -> bool:  # the checks' verdict is reused for a second
                return (await readyz(bot))[0] == 200

            await wait_until(ready)
        finally:
            await late.stop()


async def test_a_refused_command_menu_does_not_stop_the_start(make_bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail_next("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")
    async with make_bot() as bot:
        assert fake_telegram.webhook is not None
        status, _ = await readyz(bot)
        assert status == 200


async def test_html_502s_and_bodies_that_are_not_json_on_the_start_up_calls_are_retried(
    make_bot, fake_telegram: FakeTelegram
) -> None:
    """Telegram's front answers HTML 502 pages in its bad minutes, and an emulator answers with bodies
    that are not Bot API JSON: each start-up call retries with backoff, and the start goes on."""
    fake_telegram.garble("setWebhook", "html502", "not_json")
    fake_telegram.garble("setMyCommands", "html502", "not_json")
    async with make_bot() as bot:  # returns once the webhook and every menu were taken
        assert bot.runtime.exit_code == 0 and not bot.runtime.stop_reason
        assert fake_telegram.webhook is not None
        assert len(fake_telegram.calls("setWebhook")) == 3
        assert fake_telegram.menu_for(901, "de") and fake_telegram.menu_for(901, "ru")
        # Only the garbled calls were sent again: no menu task crashed and started over.
        assert len(fake_telegram.calls("setMyCommands")) == 1 + len(LANGUAGES) + 2
        status, _ = await readyz(bot)
        assert status == 200


async def test_a_token_telegram_refuses_exits_78_naming_bot_token(
    database_url: str, fake_telegram: FakeTelegram
) -> None:
    env = bot_env(
        database_url,
        TELEGRAM_API_BASE=fake_telegram.base_url,
        BOT_TOKEN="654321:WRONG-token-abcdefghijklmnopqrstuvwxyz",
        PUBLIC_BASE_URL="http://127.0.0.1:9",
    )
    bot = await BotProcess.start(env)
    assert await bot.wait(timeout=60) == 78, bot.output()
    assert "BOT_TOKEN" in bot.output()
    assert "WRONG-token" not in bot.output(), "the token itself never appears"


# Each loaded only where it is used: a chart (/stats), STORAGE_URL, SENTRY_DSN, the first photo, the first
# prompt or moderation (the start-up check asks OpenAI over plain HTTP).
OPTIONAL_HEAVY = ("matplotlib", "aiobotocore", "sentry_sdk", "PIL", "openai")


async def test_a_start_without_them_loads_no_optional_heavy_library(
    bot_environment: dict[str, str], fake_telegram: FakeTelegram
) -> None:
    """``PYTHONPROFILEIMPORTTIME`` (``-X importtime``) makes the process print every module it imports."""
    bot = await BotProcess.start({**bot_environment, "PYTHONPROFILEIMPORTTIME": "1"})
    await bot.wait_for_event("web.ready")
    await bot.wait_for_event("telegram.webhook.set")
    await fake_telegram.wait_for(
        lambda _: len([c for c in fake_telegram.succeeded if c.method == "setMyCommands"]) == 3
    )
    await bot.kill()
    imported = {m.group(1) for line in bot.raw if (m := re.match(r"import time:.*\|\s*(\S+)$", line))}
    assert "aiogram" in imported, "the import log was read"
    assert sorted({name.split(".")[0] for name in imported} & set(OPTIONAL_HEAVY)) == []
