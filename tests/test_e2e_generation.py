"""Idea in, vertical video out: the whole bot against fake Telegram, KIE and OpenAI servers.

Updates are POSTed to the real webhook with the secret header; the bot reaches the fakes through
TELEGRAM_API_BASE, KIE_BASE_URL/KIE_UPLOAD_BASE_URL and OPENAI_BASE_URL.
"""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from core.ui.keyboards import Confirm
from tests.fakes.kie import FakeKie, Outcome
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram, callback_update, message_update, photo_sizes
from tests.helpers import SECRETS, BotHarness, button_data

ANN = 501


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


JPEG = jpeg(720, 1280)


async def propose(bot: BotHarness, user_id: int, *, text: str | None = None, **message: object) -> int:
    """Send an idea; return the draft id offered by the confirmation message."""
    sent_before = len(bot.telegram.calls("sendMessage", chat_id=user_id))
    assert await bot.send(message_update(bot.next_update_id(), user_id, text=text, **message)) == 200
    proposal = bot.telegram.calls("sendMessage", chat_id=user_id)[sent_before]
    confirm = next(d for d in button_data(proposal) if d.startswith("go:"))
    return Confirm.unpack(confirm).draft


async def start_and_confirm(bot: BotHarness, user_id: int, **idea: object) -> int:
    assert await bot.send(message_update(bot.next_update_id(), user_id, text="/start")) == 200
    draft = await propose(bot, user_id, **idea)
    row = await bot.generation(draft)
    tap = callback_update(
        bot.next_update_id(), user_id, Confirm(draft=draft).pack(), message_id=row["status_message_id"]
    )
    assert await bot.send(tap) == 200
    return draft


async def render(kie: FakeKie, count: int = 1) -> list[str]:
    """Wait for ``count`` tasks, then finish each (KIE calls the bot back)."""
    await kie.wait_for(lambda fake: len(fake.tasks) >= count)
    task_ids = list(kie.tasks)[:count]
    for task_id in task_ids:
        if not kie.tasks[task_id].terminal:
            await kie.finish(task_id)
    return task_ids


async def videos_sent(telegram: FakeTelegram, chat_id: int, count: int = 1) -> list:
    await telegram.wait_for(
        lambda calls: len([c for c in calls if c.method == "sendVideo" and c.chat_id == chat_id]) >= count
    )
    return telegram.calls("sendVideo", chat_id=chat_id)


class TestHappyPath:
    async def test_text_idea_becomes_a_vertical_video_paid_once(
        self, bot: BotHarness, fake_kie: FakeKie, fake_openai: FakeOpenAI, fake_telegram: FakeTelegram
    ) -> None:
        draft = await start_and_confirm(bot, ANN, text="a fox jumping over a frozen river at dawn")
        assert await bot.credits(ANN) == 40, "100 starter credits, 60 for veo3_fast"
        (task_id,) = await render(fake_kie)
        (video,) = await videos_sent(fake_telegram, ANN)
        done = await bot.wait_for_generation(draft, "done")

        # OpenAI wrote the prompt; KIE got it, vertical, with our callback URL.
        assert "a fox jumping over a frozen river at dawn" in json.dumps(fake_openai.requests[0].body)
        create = fake_kie.tasks[task_id].body
        assert create["prompt"] == fake_openai.reply
        assert create["aspect_ratio"] == "9:16" and create["model"] == "veo3_fast"
        assert create["callBackUrl"] == f"{bot.base_url}/kie/callback/{done['callback_token']}"
        # The video went out once, as a streamable file with its real size and length, and a regenerate button.
        assert video.files["video"][1] == fake_kie.video_bytes
        assert (video.params["width"], video.params["height"], video.params["duration"]) == ("720", "1280", "8")
        assert video.params["supports_streaming"] == "true"
        assert button_data(video) == [f"again:{draft}", ""], "regenerate, and Share (no callback: inline mode)"
        share = video.params["reply_markup"]["inline_keyboard"][0][1]
        assert share["switch_inline_query"] == "a fox jumping over a frozen river at dawn"
        assert done["video_file_id"] and done["prompt_source"] == "openai"
        # One status message, finished: edited once the row is done, so waited for like failed_and_refunded does.
        await fake_telegram.wait_for(
            lambda _: fake_telegram.messages(ANN)[done["status_message_id"]].get("text", "").startswith("✅ Done")
        )
        # Money: starter +100, generation -60, nothing else; the ledger explains the balance.
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)]
        assert await bot.credits(ANN) == 40
        assert await bot.pool.fetch("SELECT * FROM ledger_mismatches") == []

    async def test_photo_idea_goes_through_kie_upload_never_as_a_telegram_url(
        self, bot: BotHarness, fake_kie: FakeKie, fake_openai: FakeOpenAI, fake_telegram: FakeTelegram
    ) -> None:
        file_id = fake_telegram.add_file(JPEG)
        draft = await start_and_confirm(bot, ANN, photo=photo_sizes(file_id, len(JPEG)), caption="make it snow")
        (task_id,) = await render(fake_kie)
        await videos_sent(fake_telegram, ANN)
        await bot.wait_for_generation(draft, "done")

        # KIE got the photo (made 9:16) through its upload API and renders from its own URL; OpenAI saw
        # the same picture, as data.
        (uploaded_url,) = fake_kie.uploads
        assert Image.open(io.BytesIO(fake_kie.uploads[uploaded_url])).size == (720, 1280)
        shown = json.dumps(fake_openai.requests[0].body)
        assert base64.b64encode(fake_kie.uploads[uploaded_url]).decode() in shown and "make it snow" in shown
        assert fake_kie.tasks[task_id].body["imageUrls"] == [uploaded_url]
        # No Telegram file URL (it holds the bot token) ever left the bot.
        outgoing = json.dumps([c.json for c in fake_kie.requests]) + json.dumps([c.body for c in fake_openai.requests])
        assert SECRETS["BOT_TOKEN"] not in outgoing and "/file/bot" not in outgoing


async def failed_and_refunded(bot: BotHarness, draft: int, user_id: int = ANN) -> dict:
    row = await bot.wait_for_generation(draft, "failed")
    await bot.telegram.wait_for(
        lambda calls: bot.telegram.messages(user_id)[row["status_message_id"]].get("text", "").startswith("❌")
    )
    assert await bot.ledger(user_id) == [("starter", 100), ("generation", -60), ("refund", 60)]
    assert await bot.credits(user_id) == 100
    return {"row": row, "status": bot.telegram.messages(user_id)[row["status_message_id"]]["text"]}


class TestFailures:
    async def test_render_failure_refunds_once_and_says_why(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        fake_kie.script(Outcome.failure(501, "generation failed upstream"))
        draft = await start_and_confirm(bot, ANN, text="a city made of glass")
        await render(fake_kie)
        result = await failed_and_refunded(bot, draft)
        assert result["row"]["error"] == "render: KIE 501: generation failed upstream"
        assert "could not render this one" in result["status"]
        assert "upstream" not in result["status"], "the provider's own words never reach the user"
        assert "60 credits refunded. You have 100 credits." in result["status"]
        assert bot.telegram.calls("sendVideo") == []

    async def test_content_rejection_at_create_refunds_and_asks_for_another_idea(
        self, bot: BotHarness, fake_kie: FakeKie
    ) -> None:
        fake_kie.fail_next_create(422, "Your request was rejected by Flow(prompt flagged)")
        draft = await start_and_confirm(bot, ANN, text="something the provider refuses")
        result = await failed_and_refunded(bot, draft)
        assert result["row"]["error"].startswith("content: KIE 422: Your request was rejected")
        assert "Flow" not in result["status"]
        assert "Please try describing it differently." in result["status"]
        assert fake_kie.tasks == {}

    async def test_content_rejection_while_rendering(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        fake_kie.script(Outcome.failure(400, "prompt flagged as unsafe"))
        draft = await start_and_confirm(bot, ANN, text="a risky idea")
        await render(fake_kie)
        result = await failed_and_refunded(bot, draft)
        assert "content rules turned this idea down" in result["status"] and "unsafe" not in result["status"]

    async def test_busy_provider_is_retried_in_the_queue(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        """KIE's 429 arrives inside HTTP 200; the create is retried after a backoff and then succeeds."""
        fake_kie.fail_next_create(429, "Too many requests")
        draft = await start_and_confirm(bot, ANN, text="a patient idea")
        await render(fake_kie)
        await videos_sent(bot.telegram, ANN)
        await bot.wait_for_generation(draft, "done")
        creates = [c for c in fake_kie.requests if c.path == "/api/v1/veo/generate"]
        assert len(creates) == 2
        assert await bot.credits(ANN) == 40

    async def test_openai_down_falls_back_to_the_users_words(
        self, bot: BotHarness, fake_kie: FakeKie, fake_openai: FakeOpenAI
    ) -> None:
        fake_openai.down = True
        draft = await start_and_confirm(bot, ANN, text="a lighthouse in a storm")
        (task_id,) = await render(fake_kie)
        await bot.wait_for_generation(draft, "done")
        row = await bot.generation(draft)
        assert row["prompt_source"] == "fallback"
        assert fake_kie.tasks[task_id].body["prompt"].startswith("a lighthouse in a storm.")
        assert len(fake_openai.requests) >= 3, "every attempt tried OpenAI first"


class TestCallbacks:
    async def test_duplicate_callbacks_deliver_once(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        draft = await start_and_confirm(bot, ANN, text="twice told")
        (task_id,) = await render(fake_kie)
        assert await fake_kie.send_callback(task_id) == 200
        await videos_sent(bot.telegram, ANN)
        await bot.wait_for_generation(draft, "done")
        assert await fake_kie.send_callback(task_id) == 200, "a late duplicate is acknowledged, and ignored"
        assert len(bot.telegram.calls("sendVideo", chat_id=ANN)) == 1
        assert await bot.credits(ANN) == 40

    async def test_forged_callbacks_change_nothing(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(KIE_WEBHOOK_HMAC_KEY="hmac-secret") as bot:
            fake_kie.hmac_key = "hmac-secret"
            draft = await start_and_confirm(bot, ANN, text="a guarded idea")
            await fake_kie.wait_for(lambda fake: fake.tasks)
            (task_id,) = fake_kie.tasks
            row = await bot.wait_for_generation(draft, "rendering")
            success = {
                "code": 200,
                "msg": "ok",
                "data": {"taskId": task_id, "info": {"resultUrls": ["http://evil/x.mp4"]}},
            }
            assert await bot.post("/kie/callback/not-a-token", success) == 404
            assert await fake_kie.send_callback(task_id, body=success, signature="Zm9yZ2Vk") == 401
            assert await fake_kie.send_callback(task_id, body=success, timestamp=1) == 401, "outside the replay window"
            assert await bot.post(f"/kie/callback/{row['callback_token']}", success) == 401, "unsigned"
            # Signed and fresh, but lying: KIE's record still says generating, so nothing is delivered.
            assert await fake_kie.send_callback(task_id, body=success) == 200
            assert (await bot.generation(draft))["status"] == "rendering"
            await fake_kie.finish(task_id)
            await bot.wait_for_generation(draft, "done")
        assert len(bot.telegram.calls("sendVideo", chat_id=ANN)) == 1
        assert not any("evil" in str(c.params) for c in bot.telegram.requests)

    async def test_malformed_callback_is_a_client_error(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        draft = await start_and_confirm(bot, ANN, text="x marks the spot")
        row = await bot.wait_for_generation(draft, "rendering")
        async with bot._http.post(
            f"{bot.base_url}/kie/callback/{row['callback_token']}", data=b"{not json"
        ) as response:
            assert response.status == 400

    async def test_lost_callback_is_caught_by_polling(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        fake_kie.callbacks_enabled = False
        draft = await start_and_confirm(bot, ANN, text="a quiet render")
        await render(fake_kie)
        await videos_sent(bot.telegram, ANN)
        await bot.wait_for_generation(draft, "done")
        assert fake_kie.callback_log == []
        assert any(c.path == "/api/v1/veo/record-info" for c in fake_kie.requests)


class TestModelsAndMedia:
    async def test_each_market_family_is_asked_for_9_16(self, make_bot, fake_kie: FakeKie) -> None:
        models = "veo3_fast:veo:60,kling-2.6:kling:55,kling-3.0-std:kling3:12/s:5,10,seedance-2-mini:seedance:9/s:5,10"
        expected = {"kling-2.6": "kling-2.6/text-to-video", "kling-3.0-std": "kling-3.0/video"}
        expected["seedance-2-mini"] = "bytedance/seedance-2-mini"
        async with make_bot(VIDEO_MODELS=models) as bot:
            for user_id, (model, slug) in enumerate(expected.items(), start=601):
                draft = await propose(bot, user_id, text="a paper boat in the rain")
                row = await bot.generation(draft)
                pick = callback_update(
                    bot.next_update_id(), user_id, f"model:{draft}:{model}", message_id=row["status_message_id"]
                )
                assert await bot.send(pick) == 200
                assert (await bot.generation(draft))["model"] == model
                await bot.send(message_update(bot.next_update_id(), user_id, text="/start"))
                go = callback_update(bot.next_update_id(), user_id, f"go:{draft}", message_id=row["status_message_id"])
                assert await bot.send(go) == 200
                await fake_kie.wait_for(lambda fake, s=slug: any(t.model == s for t in fake.tasks.values()))
                task = next(t for t in fake_kie.tasks.values() if t.model == slug)
                assert task.body["input"]["aspect_ratio"] == "9:16"

    async def test_result_urls_as_a_json_string(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        fake_kie.result_urls_as_string = True
        fake_kie.callbacks_enabled = False
        draft = await start_and_confirm(bot, ANN, text="quirky")
        await render(fake_kie)
        await bot.wait_for_generation(draft, "done")

    async def test_video_over_the_upload_limit_goes_as_a_link(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(TELEGRAM_UPLOAD_LIMIT="100KB") as bot:
            draft = await start_and_confirm(bot, ANN, text="a very long take")
            (task_id,) = await render(fake_kie)
            done = await bot.wait_for_generation(draft, "done")
        assert bot.telegram.calls("sendVideo") == []
        link = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
        assert f"/videos/{task_id}.mp4" in link.params["text"]
        assert button_data(link) == [f"again:{draft}"]
        assert done["video_file_id"] is None
