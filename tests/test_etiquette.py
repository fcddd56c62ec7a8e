"""Telegram etiquette: the shared sending budget, 429s in jobs and in replies."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import asyncpg
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage

from core.queue import JobSpec, Registry
from core.queue.jobs import Job
from core.queue.outcomes import Verdict, decide
from core.runtime.jobs import job_error
from core.telegram.limiter import SendLimiter
from core.telegram.session import TelegramResilience, is_message
from core.ui.keyboards import Confirm
from tests.fakes.telegram import FakeTelegram, callback_update, message_update
from tests.helpers import REPO, SECRETS, BotHarness, wait_until
from tests.test_e2e_generation import ANN, propose, render

BOB = 777


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TestSharedBudget:
    async def test_two_processes_share_one_window(self, database_url: str, pool: asyncpg.Pool) -> None:
        """Leases from two pools (two processes) never hand out more than a window holds."""
        clock = Clock(1000.0)
        other = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            one, two = SendLimiter(pool, clock=clock), SendLimiter(other, clock=clock)
            for limiter in (one, two, one, two, one):  # 5 slots per 0.2 s window at 25/s
                await asyncio.wait_for(limiter.wait(), 1)
            blocked = asyncio.create_task(two.wait())
            await asyncio.sleep(0)
            assert not blocked.done(), "the window is full"
            clock.now += 0.2  # the next window
            await asyncio.wait_for(blocked, 1)
        finally:
            await other.close()

    async def test_replies_count_but_never_wait(self, pool: asyncpg.Pool) -> None:
        clock = Clock(2000.0)
        limiter = SendLimiter(pool, clock=clock)
        for _ in range(20):
            limiter.note_reply()  # returns at once, whatever the budget
        await limiter.close()
        taken = await pool.fetchval("SELECT taken FROM send_windows WHERE window_no = $1", int(2000.0 / 0.2))
        assert taken == 20
        blocked = asyncio.create_task(limiter.wait())
        await asyncio.sleep(0.05)
        assert not blocked.done(), "replies used up the window: bulk work waits"
        clock.now += 0.2
        await asyncio.wait_for(blocked, 1)

    async def test_a_429_pauses_bulk_sends(self, pool: asyncpg.Pool) -> None:
        limiter = SendLimiter(pool)
        limiter.pause(60)  # what the session middleware does on a 429
        blocked = asyncio.create_task(limiter.wait())
        await asyncio.sleep(0.05)
        assert not blocked.done(), "nothing bulk leaves before retry_after"
        blocked.cancel()

    async def test_a_slot_taken_by_the_caller_is_not_charged_twice(
        self, pool: asyncpg.Pool, fake_telegram: FakeTelegram
    ) -> None:
        """A broadcast takes its slot, then sends: that send must not wait for a second slot."""
        limiter = SendLimiter(pool, clock=Clock(3000.0))  # one window of 5 slots, frozen
        session = AiohttpSession(api=TelegramAPIServer.from_base(fake_telegram.base_url))
        session.middleware(TelegramResilience(pool, limiter))
        bot = Bot(SECRETS["BOT_TOKEN"], session=session)
        try:
            async with asyncio.timeout(10):  # not wait_for: it would run wait() in a task of its own
                for number in range(5):
                    await limiter.wait()
                    await bot.send_message(ANN, f"bulk {number}")
        finally:
            await limiter.close()
            await bot.session.close()
        assert len(fake_telegram.calls("sendMessage")) == 5

    async def test_holds_25_per_second_across_two_processes(
        self, database_url: str, fake_telegram: FakeTelegram
    ) -> None:
        per_process = 60
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.send_burst",
                database_url,
                fake_telegram.base_url,
                str(chat),
                str(per_process),
                cwd=REPO,
            )
            for chat in (ANN, BOB)
        ]
        assert [await asyncio.wait_for(p.wait(), 60) for p in procs] == [0, 0]
        times = sorted(c.at for c in fake_telegram.calls("sendMessage"))
        assert len(times) == 2 * per_process
        assert {c.chat_id for c in fake_telegram.calls("sendMessage")} == {ANN, BOB}, "both processes sent"
        # What the limiter granted, across both processes: no 0.2 s window more than its 5 slots, so any
        # second holds at most 25 + one window's 5, under Telegram's 30. Counted where the limiter
        # decides, not from arrival times, which a loaded machine bunches up.
        conn = await asyncpg.connect(database_url)
        try:
            most, total = await conn.fetchrow("SELECT max(taken), sum(taken) FROM send_windows")
        finally:
            await conn.close()
        assert most <= 5 and total >= 2 * per_process, (most, total)
        # 120 messages at 25/s take at least 120/25 - 1 s (the first second is free).
        assert times[-1] - times[0] >= 2 * per_process / 25 - 1.2


class TestRetryAfter:
    def test_a_429_in_a_job_is_a_retry_at_exactly_retry_after(self) -> None:
        now = datetime.now(UTC)  # its last attempt: a plain failure would fail it
        job = Job(
            id=1, kind="k", payload={}, priority=0, attempt=5, max_attempts=5, snoozes=0, run_at=now, created_at=now
        )
        error = TelegramRetryAfter(method=SendMessage(chat_id=1, text="x"), message="Too Many Requests", retry_after=90)
        outcome = decide(job, JobSpec("k", handler=None), error=job_error(error))  # type: ignore[arg-type]
        assert (outcome.verdict, outcome.delay, outcome.curable, outcome.refund) == (Verdict.SNOOZED, 90, False, 1)

    def test_copies_of_the_registry_keep_the_classifier(self) -> None:
        """bot.py builds the registry, then copies it with limits and log fields: the copies must
        still turn a 429 into a RetryAfter (a lost classifier made 429s plain failures)."""
        assert Registry(classify=job_error).with_limits({}).with_log_fields("user_id").classify is job_error

    def test_what_counts_as_a_message(self) -> None:
        assert is_message("sendMessage") and is_message("editMessageText") and is_message("sendVideo")
        assert not is_message("sendChatAction") and not is_message("getUpdates") and not is_message("getFile")

    async def test_sendvideo_429_waits_retry_after_and_never_trips_the_breaker(
        self, make_bot, fake_kie, fake_telegram: FakeTelegram
    ) -> None:
        async with make_bot(BREAKER_THRESHOLD="2") as bot:
            fake_telegram.fail_next("sendVideo", 429, "Too Many Requests: retry after 8", retry_after=8, times=3)
            draft = await start_and_confirm_quick(bot)
            await render(fake_kie)
            for round_ in range(3):  # three 429s in a row: more than the breaker's threshold
                job = await wait_until(lambda: deliver_job_waiting(bot, draft), timeout=30)
                assert job["wait_s"] > 5, "retried at retry_after, not after a short backoff (about 2 s)"
                assert job["attempt"] == 0 and "retry after 8" in job["last_error"], round_
                await wait_until(lambda r=round_: sent_video_calls(fake_telegram) > r + 1, timeout=30)
            await bot.wait_for_generation(draft, "done")
            assert not bot.runtime._stopping.is_set(), bot.runtime.stop_reason
            assert bot.runtime.worker is not None and bot.runtime.worker.breaker.consecutive == 0
            assert sent_video_calls(fake_telegram) == 4


async def start_and_confirm_quick(bot: BotHarness) -> int:
    assert await bot.send(message_update(bot.next_update_id(), ANN, text="/start")) == 200
    draft = await propose(bot, ANN, text="a heron in the rain")
    row = await bot.generation(draft)
    tap = callback_update(bot.next_update_id(), ANN, Confirm(draft=draft).pack(), message_id=row["status_message_id"])
    assert await bot.send(tap) == 200
    return draft


async def deliver_job_waiting(bot: BotHarness, draft: int) -> asyncpg.Record | None:
    return await bot.pool.fetchrow(
        "SELECT id, attempt, last_error, extract(epoch FROM run_at - now()) AS wait_s FROM jobs"
        " WHERE kind = 'generation.deliver' AND payload->>'generation_id' = $1 AND state = 'queued'"
        " AND run_at > now() + interval '5 seconds'",
        str(draft),
    )


def sent_video_calls(telegram: FakeTelegram) -> int:
    return len(telegram.calls("sendVideo"))


class TestRepliesInTheBackground:
    async def test_a_429_on_a_reply_does_not_hold_the_next_update_of_the_same_user(
        self, bot: BotHarness, fake_telegram: FakeTelegram
    ) -> None:
        assert await bot.send(message_update(bot.next_update_id(), ANN, text="/start")) == 200
        draft = await propose(bot, ANN, text="a lighthouse at night")
        row = await bot.generation(draft)
        secret = {"X-Telegram-Bot-Api-Secret-Token": bot.frontend.secret}
        fake_telegram.fail_next("answerCallbackQuery", 429, "Too Many Requests: retry after 2", retry_after=2)
        tap = callback_update(
            bot.next_update_id(), ANN, Confirm(draft=draft).pack(), message_id=row["status_message_id"]
        )
        # Answered once committed, while its reply waits out the 429 in the background.
        assert await bot.post("/telegram/webhook", tap, secret) == 200
        assert (await bot.generation(draft))["status"] != "draft", "confirmed: the charge committed"
        balance = message_update(bot.next_update_id(), ANN, text="/balance")
        assert await bot.post("/telegram/webhook", balance, secret) == 200
        applied = "SELECT outcome FROM telegram_updates WHERE update_id = $1"
        assert await bot.pool.fetchval(applied, balance["update_id"]) == "handled", "applied without waiting"
        await bot.replies_sent()
        calls = [c.method for c in fake_telegram.requests if c.method in ("answerCallbackQuery", "sendMessage")]
        answers = [i for i, method in enumerate(calls) if method == "answerCallbackQuery"]
        assert len(answers) == 2, "refused once with a 429, then sent after retry_after"
        assert calls[-1] == "sendMessage" and answers[-1] < len(calls) - 1, "one chat's replies keep their order"
        assert fake_telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"].startswith("💳")
