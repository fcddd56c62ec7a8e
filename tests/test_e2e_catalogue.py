"""Issue 14, the catalogue of today and Veo from a photo, end to end through the fakes: every default model
renders; a model priced per second is charged for the length chosen; a photo reaches KIE named and typed
after its bytes; a sound model's prompt carries an "SFX:" cue; Veo's "unable to generate audio" gets one
free new task, then a refund."""

from __future__ import annotations

import aiohttp
import pytest

from core import metrics
from core.pipeline.photos import image_type
from core.settings import Settings
from tests.fakes.kie import FakeKie, Outcome
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram, callback_update, message_update, photo_sizes
from tests.helpers import SECRETS, BotHarness, button_data
from tests.test_e2e_generation import JPEG, propose, render, videos_sent

ANN = 701
DEFAULTS = Settings.from_env(SECRETS).product.video_models


async def press(bot: BotHarness, user_id: int, data: str, message_id: int) -> None:
    assert await bot.send(callback_update(bot.next_update_id(), user_id, data, message_id=message_id)) == 200


async def start(bot: BotHarness, user_id: int = ANN) -> None:
    assert await bot.send(message_update(bot.next_update_id(), user_id, text="/start")) == 200


def recreated(model: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("reelsmith_renders_recreated_total", {"provider": "kie", "model": model}) or 0
    )


class TestDefaults:
    @pytest.mark.parametrize("model", list(DEFAULTS))
    async def test_every_default_model_renders(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram, model: str
    ) -> None:
        """No Sora (KIE refuses it) among the defaults; each one KIE accepts and delivers, charged its price."""
        assert not model.startswith("sora")
        await start(bot)
        await bot.pool.execute("UPDATE users SET credits = 1000 WHERE id = $1", ANN)  # Quality costs 250
        draft = await propose(bot, ANN, text=f"a lighthouse in a storm, on {model}")
        row = await bot.generation(draft)
        if row["model"] != model:
            await press(bot, ANN, f"model:{draft}:{model}", row["status_message_id"])
        await press(bot, ANN, f"go:{draft}", row["status_message_id"])
        (task_id,) = await render(fake_kie)
        await videos_sent(fake_telegram, ANN)
        done = await bot.wait_for_generation(draft, "done")
        price = DEFAULTS[model].price
        assert (done["model"], done["price"]) == (model, price)
        assert (await bot.ledger(ANN))[1:] == [("generation", -price)] and await bot.credits(ANN) == 1000 - price
        task = fake_kie.tasks[task_id]
        assert task.body.get("aspect_ratio", task.body.get("input", {}).get("aspect_ratio")) == "9:16"


class TestLengths:
    async def test_the_charge_follows_the_length_chosen(self, make_bot, fake_kie: FakeKie) -> None:
        models = "veo3_fast:veo:60,seedance-2-mini:seedance:9/s:5,10"
        async with make_bot(VIDEO_MODELS=models) as bot:
            await start(bot)
            draft = await propose(bot, ANN, text="a dragon kite over dunes")
            row = await bot.generation(draft)
            assert row["duration_s"] is None  # Veo: always 8 s, no length buttons
            proposal = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
            assert not any(d.startswith("len:") for d in button_data(proposal))

            await press(bot, ANN, f"model:{draft}:seedance-2-mini", row["status_message_id"])
            row = await bot.generation(draft)
            assert (row["price"], row["duration_s"]) == (45, 5)
            shown = bot.telegram.messages(ANN)[row["status_message_id"]]
            assert "Seedance 2 Mini, 5 s" in shown["text"] and "Price: 45 credits" in shown["text"]
            buttons = [b["text"] for line in shown["reply_markup"]["inline_keyboard"] for b in line]
            assert "✓ 5 s · 45" in buttons and "10 s · 90" in buttons

            await press(bot, ANN, f"len:{draft}:10", row["status_message_id"])
            row = await bot.generation(draft)
            assert (row["price"], row["duration_s"]) == (90, 10)
            assert "Price: 90 credits" in bot.telegram.messages(ANN)[row["status_message_id"]]["text"]
            await press(bot, ANN, f"len:{draft}:7", row["status_message_id"])  # not offered: nothing changes
            assert (await bot.generation(draft))["price"] == 90

            await press(bot, ANN, f"go:{draft}", row["status_message_id"])
            (task_id,) = await render(fake_kie)
            await bot.wait_for_generation(draft, "done")
            assert await bot.ledger(ANN) == [("starter", 100), ("generation", -90)]
            task = fake_kie.tasks[task_id]
            assert task.model == "bytedance/seedance-2-mini" and task.body["input"]["duration"] == 10


class TestVeoFromAPhoto:
    async def photo_generation(self, bot: BotHarness, telegram: FakeTelegram) -> int:
        await start(bot)
        file_id = telegram.add_file(JPEG)
        draft = await propose(bot, ANN, photo=photo_sizes(file_id, len(JPEG)), caption="make it rain")
        row = await bot.generation(draft)
        await press(bot, ANN, f"go:{draft}", row["status_message_id"])
        return draft

    async def test_the_upload_is_named_and_typed_after_its_bytes_and_the_prompt_has_a_sound_cue(
        self, bot: BotHarness, fake_kie: FakeKie, fake_openai: FakeOpenAI, fake_telegram: FakeTelegram
    ) -> None:
        fake_openai.reply = "A slow push-in on the photo, rain starts to fall."  # the writer forgot the cue
        draft = await self.photo_generation(bot, fake_telegram)
        (task_id,) = await render(fake_kie)
        await bot.wait_for_generation(draft, "done")
        (upload,) = [c.json for c in fake_kie.requests if c.path == "/api/file-base64-upload"]
        (url,) = fake_kie.uploads
        extension, mime = image_type(fake_kie.uploads[url])
        assert (extension, mime) == ("jpg", "image/jpeg")
        assert upload["fileName"].endswith(".jpg") and upload["base64Data"].startswith("data:image/jpeg;base64,")
        async with aiohttp.ClientSession() as http, http.get(url) as served:
            assert served.content_type == mime  # KIE's host serves it as what it is
        prompt = fake_kie.tasks[task_id].body["prompt"]
        assert prompt.startswith("A slow push-in") and prompt.splitlines()[-1].startswith("SFX:")
        assert "SFX:" in fake_openai.requests[0].body["messages"][0]["content"]

    async def test_no_audio_gets_one_free_new_task(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        metrics.enable(True)
        before = recreated("veo3_fast")
        fake_kie.script(Outcome.no_audio())
        draft = await self.photo_generation(bot, fake_telegram)
        await render(fake_kie)  # fails: no audio
        await render(fake_kie, 2)  # the free new task renders
        await videos_sent(fake_telegram, ANN)
        done = await bot.wait_for_generation(draft, "done")
        first, second = fake_kie.tasks.values()
        assert (first.state, second.state) == ("fail", "success")
        assert first.body["imageUrls"] == second.body["imageUrls"]  # the photo uploaded once, reused
        assert len([c for c in fake_kie.requests if c.path == "/api/file-base64-upload"]) == 1
        assert (done["task_id"], done["recreated"]) == (second.task_id, 1)
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)]  # charged once
        assert recreated("veo3_fast") == before + 1

    async def test_no_audio_twice_is_refunded(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        fake_kie.script(Outcome.no_audio())
        fake_kie.script(Outcome.no_audio())
        draft = await self.photo_generation(bot, fake_telegram)
        await render(fake_kie)
        await render(fake_kie, 2)
        failed = await bot.wait_for_generation(draft, "failed")
        assert len(fake_kie.tasks) == 2 and all(t.state == "fail" for t in fake_kie.tasks.values())
        assert failed["error"] == "render: KIE 501: " + Outcome.no_audio().message
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]
