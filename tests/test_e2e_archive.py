"""Keep what users made (issue 9): with STORAGE_URL set, a generation's photo and video land in the
archive's buckets, and a video too large for Telegram is linked from the archive (a presigned link
that downloads), also when /history sends it again. A local S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import aiohttp
import pytest
from PIL import Image

from tests.fakes.kie import FakeKie
from tests.fakes.s3 import FakeS3
from tests.fakes.telegram import FakeTelegram, callback_update, message_update, photo_sizes
from tests.helpers import button_data
from tests.test_e2e_generation import ANN, render, start_and_confirm


@pytest.fixture(scope="module")
def s3() -> Iterator[FakeS3]:
    fake = FakeS3().start()
    yield fake
    fake.stop()


async def test_photo_and_video_are_archived_and_a_large_video_is_linked_from_there(
    make_bot, s3: FakeS3, fake_kie: FakeKie, fake_telegram: FakeTelegram
) -> None:
    storage = s3.settings()
    archive = {
        "STORAGE_URL": storage.url,
        "STORAGE_ACCESS_KEY": "test-access-key",
        "STORAGE_SECRET_KEY": "test-secret-key-0123456789",
        "STORAGE_INPUTS_BUCKET": storage.inputs_bucket,
        "STORAGE_OUTPUTS_BUCKET": storage.outputs_bucket,
        "TELEGRAM_UPLOAD_LIMIT": "100KB",
    }
    buffer = io.BytesIO()
    Image.new("RGB", (720, 1280), (10, 200, 90)).save(buffer, "JPEG")
    async with make_bot(**archive) as bot:
        assert bot.app.storage is not None
        await bot.app.storage.create_buckets()
        file_id = fake_telegram.add_file(buffer.getvalue())
        draft = await start_and_confirm(bot, ANN, photo=photo_sizes(file_id, len(buffer.getvalue())), caption="keep")
        (task_id,) = await render(fake_kie)
        done = await bot.wait_for_generation(draft, "done")
        storage_ = bot.app.storage
        assert await storage_.exists(storage_.inputs, f"{ANN}/{draft}.jpg")
        assert await storage_.exists(storage_.outputs, f"{ANN}/{draft}.mp4")
        link_message = fake_telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"]
        (link,) = re.findall(r"https?://\S+", link_message)
        assert link.startswith(storage.url) and task_id not in link, "the archive's link, not KIE's"
        assert done["video_file_id"] is None
        # /history sends a fresh link to the same archived video.
        await bot.send(message_update(bot.next_update_id(), ANN, text="/history"))
        listing = fake_telegram.calls("sendMessage", chat_id=ANN)[-1]
        assert button_data(listing) == [f"send:{draft}"]
        sent_before = len(fake_telegram.calls("sendMessage", chat_id=ANN))
        tap = callback_update(bot.next_update_id(), ANN, f"send:{draft}", message_id=max(fake_telegram.messages(ANN)))
        assert await bot.send(tap) == 200
        await fake_telegram.wait_for(lambda _: len(fake_telegram.calls("sendMessage", chat_id=ANN)) > sent_before)
        (again,) = re.findall(r"https?://\S+", fake_telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"])
    async with aiohttp.ClientSession() as http:
        for url in (link, again):
            async with http.get(url) as response:
                assert response.status == 200
                assert len(await response.read()) == fake_kie.video_bytes
