"""A lost database: up to the limit the process waits for it (503s, quiet restarts), recovers by
itself and loses nothing; past the limit it exits non-zero."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from core.exits import EXIT_SUPERVISOR
from core.settings import Settings
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, message_update
from tests.helpers import BotHarness, DatabaseProxy, wait_until
from tests.test_e2e_generation import ANN, start_and_confirm

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("outage_s", [20, 45])
async def test_the_bot_rides_out_a_database_outage(
    outage_s: int,
    bot_environment: dict[str, str],
    database_url: str,
    pool: asyncpg.Pool,
    fake_telegram: FakeTelegram,
    fake_kie: FakeKie,
) -> None:
    proxy = await DatabaseProxy(database_url).start()
    settings = Settings.from_env({**bot_environment, "DATABASE_URL": proxy.dsn, "QUEUE_LEASE": "10s"})
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(proxy.stop)
        bot = await stack.enter_async_context(BotHarness.running(settings, fake_telegram))
        draft = await start_and_confirm(bot, ANN, text="a kite over the dunes")
        await bot.wait_for_generation(draft, "rendering")  # in flight: submitted to KIE, and recorded
        secret = {SECRET_HEADER: bot.frontend.secret}
        balance = message_update(bot.next_update_id(), ANN, text="/balance")

        await proxy.cut()
        assert await bot.post("/telegram/webhook", balance, secret) == 503, "Telegram will redeliver it"
        (task_id,) = list(fake_kie.tasks)
        await fake_kie.finish(task_id)  # rendered while the database is away
        assert await fake_kie.send_callback(task_id) == 503, "KIE retries its callback; the poll finds it anyway"
        async with bot._http.get(f"{bot.base_url}/readyz") as response:
            assert response.status == 503
            assert (await response.json())["checks"]["database"] is False
        await asyncio.sleep(outage_s)  # the outage itself: nothing to wait for but time
        assert not bot.runtime._stopping.is_set(), bot.runtime.stop_reason
        await proxy.restore()

        async def redelivered() -> bool:  # Telegram retries until it gets a 200
            return await bot.post("/telegram/webhook", balance, secret) == 200

        await wait_until(redelivered, timeout=30, interval=0.5)
        assert await bot.send(balance) == 200, "a second redelivery is skipped"
        await bot.replies_sent()
        await bot.wait_for_generation(draft, "done", timeout=60)
        await fake_telegram.wait_for(lambda calls: any(c.method == "sendVideo" for c in calls))
        assert len(fake_telegram.calls("sendVideo", chat_id=ANN)) == 1, "delivered once"
        assert len(fake_kie.tasks) == 1, "rendered once"
        balances = [c for c in fake_telegram.calls("sendMessage", chat_id=ANN) if c.params["text"].startswith("💳")]
        assert len(balances) == 1, "the update sent during the outage was applied once"
        assert not bot.runtime._stopping.is_set(), bot.runtime.stop_reason
        assert bot.runtime.worker is not None and bot.runtime.worker.alive()
        assert await pool.fetch("SELECT * FROM ledger_mismatches") == []
        assert await pool.fetchval("SELECT credits FROM users WHERE id = $1", ANN) == 40
    assert bot.runtime.exit_code == 0, "stopped on request"


async def test_a_longer_outage_exits_non_zero(
    bot_environment: dict[str, str], database_url: str, fake_telegram: FakeTelegram
) -> None:
    proxy = await DatabaseProxy(database_url).start()
    settings = Settings.from_env({**bot_environment, "DATABASE_URL": proxy.dsn})
    try:
        async with BotHarness.running(settings, fake_telegram, outage_limit_s=3.0) as bot:  # the limit, shortened
            await proxy.cut()
            await wait_until(lambda: bot.runtime._stopping.is_set(), timeout=30)
            assert bot.runtime.exit_code == EXIT_SUPERVISOR
            assert "database" in bot.runtime.stop_reason
            await proxy.restore()  # so the harness can close its pool
    finally:
        await proxy.stop()
