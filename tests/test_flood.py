"""No one slows everyone (issue 15): button taps count against the per-user budget, and a 429 on a
reply backs off that chat alone, while everyone else's deliveries keep their pace."""

from __future__ import annotations

import asyncio

from core.ui.keyboards import SetLanguage
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, callback_update
from tests.test_e2e_generation import ANN, render, start_and_confirm, videos_sent

MALLORY = 666
RETRY_AFTER = 40  # what Telegram tells us about Mallory's chat: far longer than the test waits


async def test_a_button_flood_drawing_429s_backs_off_that_chat_and_delays_no_one_else(
    make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram
) -> None:
    async with make_bot(USER_MESSAGES_PER_MINUTE="5") as bot:
        draft = await start_and_confirm(bot, ANN, text="a heron in the rain")
        for method in ("sendMessage", "editMessageText"):
            fake_telegram.fail_next(
                method,
                429,
                f"Too Many Requests: retry after {RETRY_AFTER}",
                retry_after=RETRY_AFTER,
                times=1000,
                chat_id=MALLORY,
            )
        secret = {"X-Telegram-Bot-Api-Secret-Token": bot.frontend.secret}
        for _ in range(12):  # posted as Telegram does; the replies wait in the background
            tap = callback_update(bot.next_update_id(), MALLORY, SetLanguage(language="en").pack(), message_id=1)
            assert await bot.post("/telegram/webhook", tap, secret) == 200
        flooded = ("sendMessage", "editMessageText")
        await fake_telegram.wait_for(lambda calls: any(c.method in flooded and c.chat_id == MALLORY for c in calls))
        assert bot.app.limiter.chats.remaining(MALLORY) > RETRY_AFTER - 10, "the flooded chat is backed off"
        assert bot.app.limiter.chats.remaining(ANN) == 0

        loop = asyncio.get_running_loop()
        started = loop.time()
        await render(fake_kie)
        await videos_sent(fake_telegram, ANN)
        assert loop.time() - started < RETRY_AFTER / 2, "Ann's video did not wait for Mallory's 429"
        await bot.wait_for_generation(draft, "done")

        outcomes = await bot.pool.fetch(
            "SELECT outcome, count(*) FROM telegram_updates WHERE user_id = $1 GROUP BY 1", MALLORY
        )
        assert dict(outcomes) == {"handled": 5, "rate_limited": 7}, "taps count like messages"
        to_mallory = [c for c in fake_telegram.requests if c.chat_id == MALLORY and c.method in flooded]
        assert len(to_mallory) == 1, "nothing more goes to the chat before Telegram's retry_after"
