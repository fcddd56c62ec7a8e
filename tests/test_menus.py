"""The command menus have one owner (core/bot/menus.py): whatever order Telegram takes them in, a user whose
language the bot does not speak sees the full English menu, with /buy, /paysupport and /terms."""

from __future__ import annotations

import asyncio
import random

import pytest

from core.bot.menus import ADMIN_COMMANDS, USER_COMMANDS
from core.settings import Settings
from core.ui.texts import LANGUAGES
from tests.fakes.telegram import FakeTelegram
from tests.helpers import BotHarness

GRETA, ADMIN = 901, 42  # Greta's Telegram speaks German, which the bot does not
ORDERS = {
    "as sent": lambda n: list(range(n)),
    "reversed": lambda n: list(reversed(range(n))),
    "shuffled": lambda n: random.Random(13).sample(range(n), n),
}


@pytest.mark.parametrize("admin_ids", ["", str(ADMIN)], ids=["no admins", "an admin"])
@pytest.mark.parametrize("order", ORDERS)
async def test_a_german_user_sees_the_full_default_menu_whatever_the_order(
    bot_environment: dict[str, str], fake_telegram: FakeTelegram, admin_ids: str, order: str
) -> None:
    fake_telegram.hold("setMyCommands")
    settings = Settings.from_env({**bot_environment, "ADMIN_IDS": admin_ids})
    async with BotHarness.running(settings, fake_telegram, wait_for_telegram=False) as bot:
        sent = 1 + len(LANGUAGES) + len(settings.admin_ids)  # no language, each language, each admin's chat
        await fake_telegram.wait_for(lambda _: len(fake_telegram.held) == sent)
        fake_telegram.release(ORDERS[order](sent))
        await asyncio.wait_for(bot.menus.set_up_done.wait(), 10)
        greta = fake_telegram.menu_for(GRETA, "de")
        assert greta == list(USER_COMMANDS)
        assert {"buy", "paysupport", "terms"} <= set(greta)
        assert len(fake_telegram.calls("setMyCommands")) == sent, "nobody else sets a menu"
        if admin_ids:
            assert fake_telegram.menu_for(ADMIN, "de") == list(USER_COMMANDS + ADMIN_COMMANDS)


async def test_a_menu_telegram_cannot_take_yet_is_retried(make_bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail_next("setMyCommands", 502, "Bad Gateway", times=2)
    async with make_bot() as bot:
        assert bot.menus.set_up_done.is_set()
        assert fake_telegram.menu_for(GRETA, "de") == list(USER_COMMANDS)
        assert fake_telegram.menu_for(GRETA, "ru") == list(USER_COMMANDS)
        assert len(fake_telegram.calls("setMyCommands")) == 1 + len(LANGUAGES) + 2
