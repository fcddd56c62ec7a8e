"""The archive: photos and videos into S3-compatible buckets, and presigned links that download.

Against moto in server mode on 127.0.0.1 (tests/fakes/s3.py), through the real client library.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import structlog

from core.pipeline.archive import archive_input, archive_video, video_link
from core.settings import SettingsError
from core.storage import PART_SIZE, Storage, open_storage
from tests.fakes.s3 import FakeS3
from tests.helpers import SECRETS, free_port

JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 1000


@pytest.fixture(scope="module")
def s3() -> Iterator[FakeS3]:
    fake = FakeS3().start()
    yield fake
    fake.stop()


@pytest.fixture
async def storage(s3: FakeS3) -> AsyncIterator[Storage]:
    async with open_storage(s3.settings()) as opened:
        assert opened is not None
        await opened.create_buckets()
        yield opened


async def download(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read()


async def test_a_photo_is_archived_and_found(storage: Storage) -> None:
    key = await archive_input(storage, user_id=501, generation_id=7, photo=JPEG)
    assert key == "501/7.jpg"
    assert await storage.exists(storage.inputs, key)
    assert await download(await storage.link(storage.inputs, key)) == (200, JPEG)


async def test_a_large_video_streams_in_parts_and_its_link_downloads(storage: Storage, tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    content = os.urandom(2 * PART_SIZE + 12345)  # three parts, the last a short one
    video.write_bytes(content)
    assert await video_link(storage, user_id=501, generation_id=8) is None, "not archived yet"
    with structlog.testing.capture_logs() as logs:
        assert await archive_video(storage, user_id=501, generation_id=8, path=video) == "501/8.mp4"
    assert next(e for e in logs if e["event"] == "generation.archive.video_stored")["bytes"] == len(content)
    link = await video_link(storage, user_id=501, generation_id=8)
    assert link is not None
    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Expires"] == ["604800"], "valid for 7 days"
    assert SECRETS["BOT_TOKEN"] not in link and "test-secret-key" not in link
    status, body = await download(link)
    assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(content).digest()
    again = await video_link(storage, user_id=501, generation_id=8)
    assert again is not None and await download(again) == (200, content)


async def test_without_storage_nothing_happens(tmp_path: Path) -> None:
    async with open_storage(FakeS3().settings(STORAGE_URL="")) as none:
        assert none is None
    assert await archive_input(None, user_id=1, generation_id=1, photo=JPEG) is None
    assert await archive_video(None, user_id=1, generation_id=1, path=tmp_path / "x.mp4") is None
    assert await video_link(None, user_id=1, generation_id=1) is None


async def test_a_storage_that_is_down_costs_the_copy_not_the_generation(s3: FakeS3, tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(b"\x00" * 1000)
    async with open_storage(s3.settings(STORAGE_URL=f"http://127.0.0.1:{free_port()}")) as down:
        with structlog.testing.capture_logs() as logs:
            assert await archive_video(down, user_id=1, generation_id=2, path=video) is None
            assert await archive_input(down, user_id=1, generation_id=2, photo=JPEG) is None
            assert await video_link(down, user_id=1, generation_id=2) is None
    events = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert events == [
        "generation.archive.video_failed",
        "generation.archive.input_failed",
        "generation.archive.link_failed",
    ]
    assert not any("test-secret-key" in str(e) for e in logs)


async def test_a_missing_bucket_is_an_error_logged(s3: FakeS3, tmp_path: Path) -> None:
    async with open_storage(s3.settings()) as storage:  # buckets never created
        with structlog.testing.capture_logs() as logs:
            assert await archive_input(storage, user_id=1, generation_id=3, photo=JPEG) is None
    assert "NoSuchBucket" in logs[0]["error"]


def test_settings_need_both_keys_and_at_most_seven_days() -> None:
    with pytest.raises(SettingsError, match="STORAGE_ACCESS_KEY and STORAGE_SECRET_KEY"):
        FakeS3().settings(STORAGE_URL="http://127.0.0.1:9", STORAGE_SECRET_KEY="")
    with pytest.raises(SettingsError, match="at most 7d"):
        FakeS3().settings(STORAGE_URL="http://127.0.0.1:9", STORAGE_LINK_TTL="8d")
