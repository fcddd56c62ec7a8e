"""The real process killed mid-render: after a restart the video is delivered once, charged once."""

from __future__ import annotations

import asyncpg

from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import BotProcess, ProcessWebhook, bot_process, has_status, ledger_of, wait_until

ANN = 901


async def test_sigkill_while_rendering(
    bot_environment: dict[str, str], fake_telegram: FakeTelegram, fake_kie: FakeKie, pool: asyncpg.Pool
) -> None:
    env = {**bot_environment, "QUEUE_LEASE": "2s"}
    first = await BotProcess.start(env)
    await first.wait_for_event("runtime.started")
    async with ProcessWebhook.open(env, pool) as webhook:
        draft = await webhook.confirm_idea(fake_telegram, ANN, "a comet over a sleeping village")
    await fake_kie.wait_for(lambda fake: fake.tasks)
    await wait_until(lambda: has_status(pool, draft, "rendering"))
    await first.kill()

    async with bot_process(env):
        (task_id,) = fake_kie.tasks
        await fake_kie.finish(task_id)  # the callback reaches the new process
        await fake_telegram.wait_for(lambda calls: [c for c in calls if c.method == "sendVideo"], timeout=30)
        await wait_until(lambda: has_status(pool, draft, "done"))
    assert len(fake_telegram.calls("sendVideo", chat_id=ANN)) == 1
    assert len(fake_kie.tasks) == 1, "the render was not started twice"
    assert await ledger_of(pool, ANN) == [("starter", 100), ("generation", -60)]
    assert await pool.fetchval("SELECT credits FROM users WHERE id = $1", ANN) == 40
