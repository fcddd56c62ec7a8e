"""The real process killed mid-render: after a restart the video is delivered once, charged once."""

from __future__ import annotations

import signal

import aiohttp
import asyncpg

from core.settings import Settings
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, callback_update, message_update
from tests.helpers import BotProcess, button_data, wait_until

ANN = 901


async def test_sigkill_while_rendering(
    bot_environment: dict[str, str], fake_telegram: FakeTelegram, fake_kie: FakeKie, pool: asyncpg.Pool
) -> None:
    env = {**bot_environment, "QUEUE_LEASE": "2s"}
    secret = Settings.from_env(env).telegram.secret
    webhook = f"{env['PUBLIC_BASE_URL']}/telegram/webhook"

    async def send(http: aiohttp.ClientSession, update: dict) -> None:
        async with http.post(webhook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as response:
            assert response.status == 200

    first = await BotProcess.start(env)
    await first.wait_for_event("runtime.started")
    async with aiohttp.ClientSession() as http:
        await send(http, message_update(1, ANN, text="/start"))
        await send(http, message_update(2, ANN, text="a comet over a sleeping village"))
        # Replies go out just after the webhook's answer.
        await fake_telegram.wait_for(lambda calls: any(button_data(c) for c in calls if c.method == "sendMessage"))
        proposal = fake_telegram.calls("sendMessage", chat_id=ANN)[-1]
        confirm = next(d for d in button_data(proposal) if d.startswith("go:"))
        draft = int(confirm.split(":")[1])
        message_id = max(fake_telegram.messages(ANN))
        await send(http, callback_update(3, ANN, confirm, message_id=message_id))
    await fake_kie.wait_for(lambda fake: fake.tasks)
    await wait_until(lambda: _status(pool, draft, "rendering"))
    await first.kill()

    second = await BotProcess.start(env)
    try:
        await second.wait_for_event("runtime.started")
        (task_id,) = fake_kie.tasks
        await fake_kie.finish(task_id)  # the callback reaches the new process
        await fake_telegram.wait_for(lambda calls: [c for c in calls if c.method == "sendVideo"], timeout=30)
        await wait_until(lambda: _status(pool, draft, "done"))
    finally:
        second.signal(signal.SIGTERM)
        assert await second.wait() == 0
    assert len(fake_telegram.calls("sendVideo", chat_id=ANN)) == 1
    assert len(fake_kie.tasks) == 1, "the render was not started twice"
    ledger = await pool.fetch("SELECT reason, delta FROM ledger WHERE user_id = $1 ORDER BY id", ANN)
    assert [(r["reason"], r["delta"]) for r in ledger] == [("starter", 100), ("generation", -60)]
    assert await pool.fetchval("SELECT credits FROM users WHERE id = $1", ANN) == 40


async def _status(pool: asyncpg.Pool, generation_id: int, status: str) -> bool:
    return await pool.fetchval("SELECT status FROM generations WHERE id = $1", generation_id) == status
