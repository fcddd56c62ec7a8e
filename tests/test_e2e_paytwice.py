"""Never pay KIE twice (issue 14): a create that may have reached KIE is never sent again blindly.

Its answer lost (the connection dropped after KIE made the task, a timeout, or the bot killed while KIE held
the answer), the generation waits for the task's callback on its own URL, reads the record and adopts the
task: one KIE task, one video, one charge. Only when no callback comes within CREATE_ADOPT_WAIT does it
create again, logged and counted as a possible duplicate.
"""

from __future__ import annotations

import asyncpg
import pytest

from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import BotProcess, ProcessWebhook, bot_process, has_status, ledger_of, wait_until
from tests.test_e2e_generation import ANN, start_and_confirm, videos_sent
from tests.test_e2e_payments import command

ADMIN = 9001
ONE_CHARGE = [("starter", 100), ("generation", -60)]


@pytest.mark.parametrize("loss", ["dropped", "timed out"])
async def test_a_lost_create_answer_is_adopted_from_the_callback(
    make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram, loss: str
) -> None:
    if loss == "dropped":
        fake_kie.lose_create_answers(1)  # KIE makes the task, then the connection drops
    else:
        fake_kie.hold_answers = True  # KIE makes the task and answers after the bot gave up waiting
    async with make_bot(KIE_TIMEOUT="1s") as bot:
        draft = await start_and_confirm(bot, ANN, text="a lighthouse in a storm")
        await fake_kie.wait_for(lambda fake: fake.tasks)
        await wait_until(lambda: _waiting_for_callback(bot.pool, draft), timeout=30)
        fake_kie.release_create_answers()
        (task_id,) = fake_kie.tasks
        await fake_kie.finish(task_id)  # its callback names the task on the generation's own URL
        await videos_sent(fake_telegram, ANN)
        row = await bot.wait_for_generation(draft, "done")
        assert await bot.ledger(ANN) == ONE_CHARGE
    assert row["task_id"] == task_id and row["possible_duplicates"] == 0
    assert len(fake_kie.tasks) == 1, "KIE was asked once"
    assert len(fake_telegram.calls("sendVideo", chat_id=ANN)) == 1


async def test_no_callback_within_the_wait_creates_again_counted(
    make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram
) -> None:
    """The callback never comes (KIE gave up on it): after CREATE_ADOPT_WAIT a second create, counted."""
    fake_kie.callbacks_enabled = False
    fake_kie.lose_create_answers(1)
    async with make_bot(CREATE_ADOPT_WAIT="2s", ADMIN_IDS=str(ADMIN)) as bot:
        draft = await start_and_confirm(bot, ANN, text="a fox in the snow")
        await fake_kie.wait_for(lambda fake: len(fake.tasks) == 2, timeout=30)
        second = list(fake_kie.tasks)[1]
        await wait_until(lambda: _rendering(bot.pool, draft), timeout=30)
        await fake_kie.finish(second)
        await videos_sent(fake_telegram, ANN)
        row = await bot.wait_for_generation(draft, "done")
        assert await bot.ledger(ANN) == ONE_CHARGE
        shown = await command(bot, ADMIN, f"/gen {draft}")
    assert row["task_id"] == second and row["possible_duplicates"] == 1
    assert "Created again after a lost answer: 1 time(s)" in shown


async def test_sigkill_while_kie_holds_the_create_answer(
    bot_environment: dict[str, str], fake_telegram: FakeTelegram, fake_kie: FakeKie, pool: asyncpg.Pool
) -> None:
    """The real process killed after KIE made the task and before its answer came back: the next process
    adopts the task from its callback instead of creating (and paying for) another."""
    env = {**bot_environment, "QUEUE_LEASE": "2s"}
    fake_kie.hold_answers = True
    first = await BotProcess.start(env)
    await first.wait_for_event("runtime.started")
    async with ProcessWebhook.open(env, pool) as webhook:
        draft = await webhook.confirm_idea(fake_telegram, ANN, "a comet over a sleeping village")
    await fake_kie.wait_for(lambda fake: fake.tasks and fake.held == 1, timeout=30)
    await first.kill()
    fake_kie.release_create_answers()  # to nobody: the bot that asked is gone

    async with bot_process(env) as second:
        (task_id,) = fake_kie.tasks
        await fake_kie.finish(task_id)  # the callback reaches the new process
        await second.wait_for_event("generation.submit.adopted", timeout=30)
        await fake_telegram.wait_for(lambda calls: [c for c in calls if c.method == "sendVideo"], timeout=30)
        await wait_until(lambda: has_status(pool, draft, "done"))
    assert len(fake_telegram.calls("sendVideo", chat_id=ANN)) == 1
    assert len(fake_kie.tasks) == 1, "the render was not created twice"
    assert await ledger_of(pool, ANN) == ONE_CHARGE
    row = await pool.fetchrow("SELECT task_id, possible_duplicates FROM generations WHERE id = $1", draft)
    assert (row["task_id"], row["possible_duplicates"]) == (task_id, 0)


async def _waiting_for_callback(pool: asyncpg.Pool, draft: int) -> bool:
    """The bot saw the answer lost: the create stays begun, and the submit sleeps until CREATE_ADOPT_WAIT."""
    row = await pool.fetchrow(
        "SELECT g.status, g.creating_since, j.run_at > now() + interval '1 minute' AS asleep"
        " FROM generations g JOIN jobs j ON j.unique_key = 'generation.submit:' || g.id"
        " WHERE g.id = $1 AND j.state = 'queued'",
        draft,
    )
    return row is not None and row["status"] == "submitting" and row["creating_since"] is not None and row["asleep"]


async def _rendering(pool: asyncpg.Pool, draft: int) -> bool:
    return await has_status(pool, draft, "rendering")
