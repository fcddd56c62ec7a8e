"""The webhook secret when WEBHOOK_SECRET is unset: generated once, stored per bot, the same for
every process (core/telegram/webhook_secret.py); WEBHOOK_SECRET, when set, wins."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re

from core.logging import scrubber
from core.telegram.webhook_secret import resolve_webhook_secret
from db.pool import create_pool
from tests.fakes.telegram import FakeTelegram, message_update
from tests.helpers import SECRETS

BOT_ID = int(SECRETS["BOT_TOKEN"].split(":")[0])
CHOSEN = "chosen_secret-" * 3
TELEGRAMS_SET = re.compile(r"[A-Za-z0-9_-]{32,256}")


async def test_processes_starting_together_agree_on_one_stored_secret(database_url: str) -> None:
    """Each start on a pool of its own, as separate processes: one generated secret wins for all."""
    pools = [await create_pool(database_url, max_size=2) for _ in range(4)]
    try:
        resolved = await asyncio.gather(*(resolve_webhook_secret(pool, BOT_ID, None) for pool in pools))
        again = await resolve_webhook_secret(pools[0], BOT_ID, None)  # a restart
        rows = await pools[0].fetch("SELECT bot_id, webhook_secret FROM bot_secrets")
    finally:
        for pool in pools:
            await pool.close()
    assert len(set(resolved)) == 1 and again == resolved[0]
    assert [(row["bot_id"], row["webhook_secret"]) for row in rows] == [(BOT_ID, again)]
    assert TELEGRAMS_SET.fullmatch(again)
    assert again in scrubber.secrets, "never printed"


async def test_another_bot_gets_a_secret_of_its_own(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=2)
    try:
        assert await resolve_webhook_secret(pool, BOT_ID, None) != await resolve_webhook_secret(pool, 654321, None)
    finally:
        await pool.close()


async def test_the_stored_secret_is_the_webhooks_and_the_old_derived_one_is_refused(
    bot, fake_telegram: FakeTelegram
) -> None:
    stored = await bot.pool.fetchval("SELECT webhook_secret FROM bot_secrets WHERE bot_id = $1", BOT_ID)
    assert bot.frontend.secret == stored
    (webhook,) = fake_telegram.calls("setWebhook")
    assert webhook.params["secret_token"] == stored
    derived = hmac.new(SECRETS["BOT_TOKEN"].encode(), b"reelsmith-webhook", hashlib.sha256).hexdigest()
    assert await bot.send(message_update(bot.next_update_id(), 5, text="/start"), secret=derived) == 401
    assert await bot.send(message_update(bot.next_update_id(), 5, text="/start"), secret=stored) == 200


async def test_webhook_secret_when_set_wins(make_bot, fake_telegram: FakeTelegram) -> None:
    async with make_bot(WEBHOOK_SECRET=CHOSEN) as bot:
        assert bot.frontend.secret == CHOSEN
        assert fake_telegram.calls("setWebhook")[-1].params["secret_token"] == CHOSEN
        assert await bot.send(message_update(bot.next_update_id(), 5, text="/start"), secret=CHOSEN) == 200
        assert await bot.send(message_update(bot.next_update_id(), 5, text="/start"), secret="x" * 40) == 401
        assert await bot.pool.fetchval("SELECT count(*) FROM bot_secrets") == 0, "nothing generated"
