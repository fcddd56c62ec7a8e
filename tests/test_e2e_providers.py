"""The provider layer end to end (issue 6): outages wait instead of refunding, account problems stop
new charges, final verdicts refund at once, deadlines count from the provider's acceptance and a late
video is delivered free, photos go once and vertical, and a second provider runs the same pipeline.

Everything goes through real HTTP: the webhook, the fake KIE (tests/fakes/kie.py) with its outage
modes, and a test-only second provider (tests/fakes/echo_provider.py).
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from core.pipeline.mp4 import probe as probe_mp4
from core.ui.keyboards import CancelGeneration, Confirm
from tests.fakes.echo_provider import EchoProvider
from tests.fakes.kie import FakeKie, Outcome
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram, callback_update, message_update, photo_sizes
from tests.helpers import BotHarness, button_data, wait_until
from tests.test_e2e_generation import ANN, propose, render, start_and_confirm, videos_sent

ADMIN = 9001
OUTAGE = {"ADMIN_IDS": str(ADMIN), "KIE_TIMEOUT": "1s", "PROVIDER_FAILURE_THRESHOLD": "3"}


def admin_texts(telegram: FakeTelegram) -> list[str]:
    return [c.params.get("text", "") for c in telegram.calls("sendMessage", chat_id=ADMIN)]


def status_of(bot: BotHarness, user_id: int, row: object) -> str:
    return bot.telegram.messages(user_id)[row["status_message_id"]].get("text", "")  # type: ignore[index]


async def status_says(bot: BotHarness, user_id: int, draft: int, words: str, timeout: float = 30.0) -> str:
    row = await bot.generation(draft)
    await wait_until(lambda: words in status_of(bot, user_id, row), timeout=timeout)
    return status_of(bot, user_id, row)


async def health(bot: BotHarness) -> object:
    return await bot.pool.fetchrow("SELECT * FROM provider_health WHERE provider = 'kie'")


async def down(bot: BotHarness) -> bool:
    return not (await health(bot))["available"]


class TestOutages:
    async def test_an_outage_makes_work_wait_and_everything_is_delivered_after_it(
        self, make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        """Generations confirmed before and during an outage (5xx pages, error envelopes in HTTP 200, hung
        connections): none refunded, each charged once, all delivered after recovery; the admins are told
        once that KIE is down and once that it is back."""
        users = [701, 702, 703]
        async with make_bot(**OUTAGE) as bot:
            before = await start_and_confirm(bot, users[0], text="confirmed before the outage")
            await fake_kie.wait_for(lambda fake: len(fake.tasks) == 1)
            fake_kie.outage("http5xx")
            during = [await start_and_confirm(bot, u, text=f"confirmed during the outage {u}") for u in users[1:]]
            await wait_until(lambda: down(bot), timeout=60)
            fake_kie.outage("envelope")
            assert "down right now" in await status_says(bot, users[1], during[0], "down right now")
            row = await bot.generation(during[0])
            status_call = fake_telegram.calls("editMessageText", chat_id=users[1])[-1]
            assert f"stop:{during[0]}" in button_data(status_call), "a waiting video can be cancelled"
            # A proposal made now says so.
            await bot.send(message_update(bot.next_update_id(), 704, text="/start"))
            await propose(bot, 704, text="an idea while KIE is down")
            assert "down right now" in fake_telegram.calls("sendMessage", chat_id=704)[-1].params["text"]
            fake_kie.outage("hang")
            await fake_kie.wait_for(lambda fake: any(c.path == "/api/v1/chat/credit" for c in fake.refused), 30)
            fake_kie.recover()
            await probe_now(bot)
            await wait_until(lambda: not_down(bot), timeout=60)
            await fake_kie.wait_for(lambda fake: len(fake.tasks) == 3, timeout=60)
            for task_id in list(fake_kie.tasks):
                await fake_kie.finish(task_id)
            for user_id, draft in zip(users, [before, *during], strict=True):
                await videos_sent(fake_telegram, user_id)
                await bot.wait_for_generation(draft, "done")
                assert await bot.ledger(user_id) == [("starter", 100), ("generation", -60)]
            assert row["status"] == "submitting"
            assert await bot.pool.fetch("SELECT * FROM ledger_mismatches") == []
        alerts = admin_texts(fake_telegram)
        assert len([a for a in alerts if "is down" in a]) == 1, alerts
        assert len([a for a in alerts if "is back after" in a]) == 1, alerts

    async def test_waiting_longer_than_the_limit_refunds_once(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(**OUTAGE, QUEUE_WAIT_LIMIT="3s") as bot:
            fake_kie.outage("envelope")
            draft = await start_and_confirm(bot, ANN, text="an idea that waits too long")
            row = await bot.wait_for_generation(draft, "failed", timeout=30)
            text = await status_says(bot, ANN, draft, "❌")
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]
        assert "stayed down for too long" in text and "60 credits refunded" in text
        assert row["error"].startswith("waited: not started within 3s")
        assert fake_kie.tasks == {}

    async def test_cancel_while_waiting_refunds_once(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(**OUTAGE) as bot:
            fake_kie.outage("http5xx")
            draft = await start_and_confirm(bot, ANN, text="never mind")
            await wait_until(lambda: down(bot), timeout=60)
            row = await bot.generation(draft)
            cancel = CancelGeneration(generation=draft).pack()
            for _ in range(2):  # a double tap
                tap = callback_update(bot.next_update_id(), ANN, cancel, message_id=row["status_message_id"])
                assert await bot.send(tap) == 200
            assert "Cancelled" in await status_says(bot, ANN, draft, "60 credits refunded")
            fake_kie.recover()
            await probe_now(bot)
            await wait_until(lambda: not_down(bot), timeout=60)
            assert (await bot.generation(draft))["status"] == "cancelled"
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]
        assert fake_kie.tasks == {}, "a cancelled generation never reaches the provider"

    async def test_an_account_problem_stops_new_charges_and_paid_work_waits(
        self, make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        fake_kie.credits = 30  # less than a Veo Fast render: creates answer 402 "Insufficient credits"
        async with make_bot(**OUTAGE, KIE_MIN_BALANCE="100") as bot:
            paid = await start_and_confirm(bot, ANN, text="an idea on an empty account")
            await fake_telegram.wait_for(
                lambda calls: any("account problem (402)" in c.params.get("text", "") for c in calls), timeout=30
            )
            await wait_until(lambda: down(bot))
            # The next confirm is refused and charges nothing.
            await bot.send(message_update(bot.next_update_id(), 702, text="/start"))
            draft = await propose(bot, 702, text="another idea")
            row = await bot.generation(draft)
            before = len(fake_telegram.calls("answerCallbackQuery"))
            tap = callback_update(bot.next_update_id(), 702, f"go:{draft}", message_id=row["status_message_id"])
            assert await bot.send(tap) == 200
            answer = fake_telegram.calls("answerCallbackQuery")[before]
            assert "nothing was charged" in answer.params["text"]
            assert await bot.ledger(702) == [("starter", 100)]
            # 30 credits are not enough to come back; the operator tops up: the probe notices, the paid
            # generation goes on, nothing was refunded.
            assert await down(bot)
            fake_kie.credits = 10_000
            await probe_now(bot)
            await fake_kie.wait_for(lambda fake: fake.tasks, timeout=90)
            await render(fake_kie)
            await bot.wait_for_generation(paid, "done")
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)]


async def not_down(bot: BotHarness) -> bool:
    return not await down(bot)


async def probe_now(bot: BotHarness) -> None:
    """The probe backs off up to a minute; a test does not wait for that: it runs the probe now."""
    await bot.pool.execute("UPDATE jobs SET run_at = now() WHERE kind = 'provider.probe' AND state = 'queued'")
    await bot.pool.execute("NOTIFY reelsmith_jobs")


class TestVerdictsAndDeadlines:
    async def test_a_final_failure_refunds_within_one_poll(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        """Veo successFlag 3 with errorCode 500 is KIE's verdict: read once, refunded, never retried."""
        fake_kie.script(Outcome.upstream_failure())
        draft = await start_and_confirm(bot, ANN, text="a doomed render")
        (task_id,) = await render(fake_kie)
        row = await bot.wait_for_generation(draft, "failed")
        text = await status_says(bot, ANN, draft, "❌")
        reads = [c for c in fake_kie.requests if c.path.endswith("record-info") and c.query.get("taskId") == task_id]
        assert len(reads) == 1
        assert "could not render this one" in text and row["error"].startswith("render: KIE 500")
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]

    async def test_asynchronous_moderation_asks_for_another_idea(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        fake_kie.script(Outcome.moderated())
        draft = await start_and_confirm(bot, ANN, text="accepted, then refused")
        await render(fake_kie)
        await bot.wait_for_generation(draft, "failed")
        assert "try describing it differently" in await status_says(bot, ANN, draft, "❌")

    async def test_a_render_after_the_deadline_is_refunded_then_delivered_free(
        self, make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        async with make_bot(GENERATION_TIMEOUT="2s", LATE_RENDER_LIMIT="5m") as bot:
            draft = await start_and_confirm(bot, ANN, text="a slow render")
            await fake_kie.wait_for(lambda fake: fake.tasks)
            overdue = await status_says(bot, ANN, draft, "taking longer")
            assert "60 credits are back (you have 100 credits)" in overdue
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]
            assert (await bot.generation(draft))["status"] == "rendering", "still awaited"
            await render(fake_kie)
            (video,) = await videos_sent(fake_telegram, ANN)
            done = await bot.wait_for_generation(draft, "done")
            assert "free" in await status_says(bot, ANN, draft, "Done")
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]
        assert done["late"] is True and "arrived late, so it is free" in video.params["caption"]

    async def test_a_render_that_never_arrives_is_refunded_once(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(GENERATION_TIMEOUT="1s", LATE_RENDER_LIMIT="8s") as bot:
            draft = await start_and_confirm(bot, ANN, text="a render that never ends")
            await fake_kie.wait_for(lambda fake: fake.tasks)
            await bot.wait_for_generation(draft, "failed", timeout=30)
            assert "never arrived" in await status_says(bot, ANN, draft, "❌")
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]

    async def test_waiting_for_a_create_slot_does_not_spend_render_time(
        self, make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        """With one create per 10 s, the second user waits in line (told their place and wait), and the
        deadline counts from KIE's acceptance, so neither is refunded."""
        async with make_bot(KIE_CREATES_PER_10S="1", GENERATION_TIMEOUT="8s") as bot:
            first = await start_and_confirm(bot, 701, text="first in line")
            second = await start_and_confirm(bot, 702, text="second in line")
            await render(fake_kie)  # the first renders at once
            line = await status_says(bot, 702, second, "In line")
            assert re.search(r"number [12], starting in under a minute", line), line
            await fake_kie.wait_for(lambda fake: len(fake.tasks) == 2, timeout=40)  # a slot frees after 10 s
            await render(fake_kie, 2)
            for user_id, draft in ((701, first), (702, second)):
                await bot.wait_for_generation(draft, "done")
                assert await bot.ledger(user_id) == [("starter", 100), ("generation", -60)]
        starts = sorted(t.created_at for t in fake_kie.tasks.values())
        assert starts[1] - starts[0] >= 9.0, "the create limit held"


class TestBalance:
    async def test_a_low_balance_is_told_once_and_zero_makes_kie_unavailable(
        self, make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN), KIE_MIN_BALANCE="50000") as bot:
            await fake_telegram.wait_for(lambda calls: any(c.chat_id == ADMIN for c in calls))
            assert "balance is 10000, under 50000" in admin_texts(fake_telegram)[0]
            assert (await health(bot))["balance"] == 10000
        fake_kie.credits = 0
        async with make_bot(ADMIN_IDS=str(ADMIN), KIE_MIN_BALANCE="50000") as bot:
            # A restart reads the balance again, but the low-balance alert is at most hourly.
            await bot.pool.execute("UPDATE jobs SET run_at = now() WHERE kind = 'provider.balance'")
            await wait_until(lambda: down(bot))
            assert (await health(bot))["account_problem"] is True
        assert len([t for t in admin_texts(fake_telegram) if "balance is 10000" in t]) == 1


class TestMedia:
    async def test_a_landscape_photo_reaches_kie_vertical_and_is_fetched_once(
        self, bot: BotHarness, fake_kie: FakeKie, fake_openai: FakeOpenAI, fake_telegram: FakeTelegram
    ) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (1280, 720), (200, 40, 40)).save(buffer, "JPEG")
        file_id = fake_telegram.add_file(buffer.getvalue())
        fake_openai.fail_next(500, times=2)  # the prompt step runs three times; the photo is fetched once
        photo = photo_sizes(file_id, len(buffer.getvalue()))
        assert await bot.send(message_update(bot.next_update_id(), ANN, text="/start")) == 200
        draft = await propose(bot, ANN, photo=photo, caption="go")
        assert len(fake_telegram.calls("getFile")) == 1, "moderation saw it before the proposal"
        moderated = fake_telegram.calls("getFile")
        row = await bot.generation(draft)
        tap = callback_update(
            bot.next_update_id(), ANN, Confirm(draft=draft).pack(), message_id=row["status_message_id"]
        )
        assert await bot.send(tap) == 200
        (task_id,) = await render(fake_kie)
        await bot.wait_for_generation(draft, "done")
        assert len(fake_telegram.calls("getFile")) - len(moderated) == 1, "the pipeline's fetch, once"
        (uploaded,) = fake_kie.uploads.values()
        width, height = Image.open(io.BytesIO(uploaded)).size
        assert abs(width / height - 9 / 16) < 0.01 and height <= 1920
        assert await bot.pool.fetchval("SELECT count(*) FROM generation_inputs") == 0, "dropped once KIE has it"
        assert fake_kie.tasks[task_id].body["imageUrls"] == [next(iter(fake_kie.uploads))]

    async def test_the_sent_video_carries_its_real_dimensions(
        self, make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram, tmp_path
    ) -> None:
        fake_kie.video_size, fake_kie.video_duration_s = (1080, 1920), 5.0
        async with make_bot() as bot:
            draft = await start_and_confirm(bot, ANN, text="measure me")
            await render(fake_kie)
            (video,) = await videos_sent(fake_telegram, ANN)
            await bot.wait_for_generation(draft, "done")
        assert (video.params["width"], video.params["height"], video.params["duration"]) == ("1080", "1920", "5")
        assert probe_mp4(tmp_path / "missing.mp4") is None


@pytest.fixture
async def echo() -> AsyncIterator[EchoProvider]:
    provider = await EchoProvider().start()
    yield provider
    await provider.stop()


class TestSecondProvider:
    async def test_a_second_provider_runs_the_whole_pipeline(
        self, make_bot, echo: EchoProvider, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        models = {"VIDEO_MODELS": "veo3_fast:veo:60,echo-1:echo:10", "DEFAULT_MODEL": "echo-1"}
        async with make_bot(extra_providers=(echo,), **models) as bot:
            buffer = io.BytesIO()
            Image.new("RGB", (600, 600), (0, 90, 200)).save(buffer, "JPEG")
            file_id = fake_telegram.add_file(buffer.getvalue())
            draft = await start_and_confirm(
                bot, ANN, photo=photo_sizes(file_id, len(buffer.getvalue())), caption="a blue square, alive"
            )
            (video,) = await videos_sent(fake_telegram, ANN)
            done = await bot.wait_for_generation(draft, "done")
            # Its callback route is its own.
            assert await bot.post(f"/echo/callback/{done['callback_token']}", {"task": done["task_id"]}) == 200
            assert await bot.post(f"/kie/callback/{done['callback_token']}", {}) == 404
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -10)]
        assert (done["provider"], done["task_id"]) == ("echo", "echo-1")
        (task,) = echo.tasks.values()
        assert task.image_url in echo.images and task.callback_url.endswith(f"/echo/callback/{done['callback_token']}")
        assert (video.params["width"], video.params["height"], video.params["duration"]) == ("1080", "1920", "6")
        assert fake_kie.tasks == {}

    async def test_a_model_no_provider_renders_is_a_settings_error(self, make_bot) -> None:
        with pytest.raises(ValueError, match="no provider renders"):
            async with make_bot(VIDEO_MODELS="veo3_fast:veo:60,mystery:runway:5"):
                pass
