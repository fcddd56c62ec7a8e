"""Privacy through the real webhook: /privacy in both languages, and /deletemydata, which erases
every word, photo and name of the user and keeps the money's records and the tombstone."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from PIL import Image

from core.pipeline.retention import RETENTION
from core.queue import enqueue
from core.ui.keyboards import EraseData
from tests.fakes.kie import FakeKie
from tests.fakes.s3 import FakeS3
from tests.fakes.telegram import callback_update, message_update, photo_sizes
from tests.helpers import BotHarness, button_data, wait_until
from tests.test_e2e_generation import propose, render, start_and_confirm, videos_sent
from tests.test_e2e_payments import command
from tests.test_e2e_providers import OUTAGE, down, status_says

ANN = 801
NAME, USERNAME = "Zebulonia", "zebulonia_films"
IDEA = "a marzipan lighthouse under a violet aurora"


async def found_anywhere(db: asyncpg.Pool, *words: str) -> list[str]:
    """Every text column of every table (information_schema) that holds one of ``words``."""
    columns = await db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY')"
        " AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        " AND table_schema = 'public')"
    )
    hits = []
    for row in columns:
        table, column = row["table_name"], row["column_name"]
        for word in words:
            query = f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE $1'
            if await db.fetchval(query, f"%{word}%"):
                hits.append(f"{table}.{column}: {word}")
    return hits


def as_zebulonia(update: dict[str, Any]) -> dict[str, Any]:
    event = update.get("message") or update["callback_query"]
    event["from"] |= {"first_name": NAME, "username": USERNAME}
    return update


async def tap_erase(bot: BotHarness) -> None:
    await bot.send(as_zebulonia(message_update(bot.next_update_id(), ANN, text="/deletemydata")))
    confirm = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
    assert EraseData().pack() in button_data(confirm)
    tap = callback_update(bot.next_update_id(), ANN, EraseData().pack(), message_id=1)
    assert await bot.send(as_zebulonia(tap)) == 200


class TestPrivacy:
    async def test_privacy_in_english_and_russian(self, bot: BotHarness) -> None:
        english = await command(bot, ANN, "/privacy")
        assert "90 days" in english and "/deletemydata" in english
        russian = await command(bot, ANN + 1, "/privacy", language_code="ru")
        assert "90 дн" in russian and "Конфиденциальность" in russian

    async def test_deletemydata_erases_words_and_names_keeps_money_and_grants_no_second_start(
        self, bot: BotHarness, fake_kie: FakeKie
    ) -> None:
        await bot.send(as_zebulonia(message_update(bot.next_update_id(), ANN, text="/start")))
        draft = await start_and_confirm(bot, ANN, text=IDEA)
        await bot.wait_for_generation(draft, "rendering")
        await tap_erase(bot)
        assert "being made" in str(bot.telegram.calls("answerCallbackQuery")[-1].params.get("text"))
        assert await found_anywhere(bot.pool, IDEA), "nothing erased while a video is at the provider"

        await render(fake_kie)
        await videos_sent(bot.telegram, ANN)
        await bot.wait_for_generation(draft, "done")
        await propose(bot, ANN, text=f"{IDEA}, again")  # a proposal on screen: a draft and its state
        assert await found_anywhere(bot.pool, IDEA, NAME, USERNAME)

        await tap_erase(bot)
        assert "deleted" in bot.telegram.calls(chat_id=ANN)[-1].params["text"]
        assert await found_anywhere(bot.pool, IDEA, NAME, USERNAME) == []
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)], "the accounting stays"
        row = await bot.pool.fetchrow("SELECT erased_at, credits FROM users WHERE id = $1", ANN)
        assert row["erased_at"] is not None and row["credits"] == 40

        assert "40 credits" in await command(bot, ANN, "/start")
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)], "no second starter grant"


@pytest.fixture(scope="module")
def s3() -> Iterator[FakeS3]:
    fake = FakeS3().start()
    yield fake
    fake.stop()


def archive_env(s3: FakeS3) -> dict[str, str]:
    storage = s3.settings()
    return {
        "STORAGE_URL": storage.url,
        "STORAGE_ACCESS_KEY": "test-access-key",
        "STORAGE_SECRET_KEY": "test-secret-key-0123456789",
        "STORAGE_INPUTS_BUCKET": storage.inputs_bucket,
        "STORAGE_OUTPUTS_BUCKET": storage.outputs_bucket,
    }


async def archived_video(bot: BotHarness, fake_kie: FakeKie, user_id: int, idea: str) -> int:
    """A delivered generation whose photo and video are in the archive."""
    buffer = io.BytesIO()
    Image.new("RGB", (720, 1280), (200, 10, 90)).save(buffer, "JPEG")
    file_id = bot.telegram.add_file(buffer.getvalue())
    draft = await start_and_confirm(bot, user_id, photo=photo_sizes(file_id, len(buffer.getvalue())), caption=idea)
    await render(fake_kie, len(fake_kie.tasks) + 1)
    await bot.wait_for_generation(draft, "done")
    return draft


async def in_archive(bot: BotHarness, user_id: int, generation_id: int) -> tuple[bool, bool]:
    storage = bot.app.storage
    assert storage is not None
    return (
        await storage.exists(storage.inputs, f"{user_id}/{generation_id}.jpg"),
        await storage.exists(storage.outputs, f"{user_id}/{generation_id}.mp4"),
    )


class TestRetention:
    async def test_deletemydata_deletes_the_archived_photo_and_video(self, make_bot, s3: FakeS3, fake_kie) -> None:
        async with make_bot(**archive_env(s3)) as bot:
            assert bot.app.storage is not None
            await bot.app.storage.create_buckets()
            done = await archived_video(bot, fake_kie, ANN, IDEA)
            assert await in_archive(bot, ANN, done) == (True, True)
            await tap_erase(bot)
            await wait_until(lambda: _gone(bot, ANN, done))

    async def test_the_daily_job_clears_what_is_older_than_retention_days(self, make_bot, s3: FakeS3, fake_kie) -> None:
        async with make_bot(**archive_env(s3), RETENTION_DAYS="30", STARTER_CREDITS="200") as bot:
            assert bot.app.storage is not None
            await bot.app.storage.create_buckets()
            old = await archived_video(bot, fake_kie, ANN, "an old idea of a paper city")
            recent = await archived_video(bot, fake_kie, ANN, "a recent idea of a glass forest")
            # Forty days pass for the first one.
            await bot.pool.execute("UPDATE generations SET created_at = now() - interval '40 days' WHERE id = $1", old)
            await enqueue(bot.pool, bot.app.registry, RETENTION, unique_key="retention")
            # The job deletes the objects first and commits the rows after: wait for both.
            await wait_until(lambda: _cleared(bot, ANN, old))
            cleared = await bot.generation(old)
            assert (cleared["idea"], cleared["prompt"], cleared["photo_file_id"]) == ("", None, None)
            kept = await bot.generation(recent)
            assert "glass forest" in kept["idea"] and kept["prompt"]
            assert await in_archive(bot, ANN, recent) == (True, True)
            job = await bot.pool.fetchrow("SELECT state, run_at FROM jobs WHERE kind = $1", RETENTION)
            assert job["state"] == "queued", "again tomorrow"
            assert await bot.ledger(ANN) == [("starter", 200), ("generation", -60), ("generation", -60)]


async def _gone(bot: BotHarness, user_id: int, generation_id: int) -> bool:
    return await in_archive(bot, user_id, generation_id) == (False, False)


async def _cleared(bot: BotHarness, user_id: int, generation_id: int) -> bool:
    return await _gone(bot, user_id, generation_id) and (await bot.generation(generation_id))["idea"] == ""


async def test_a_failed_generations_photo_is_not_kept(bot: BotHarness, fake_kie: FakeKie) -> None:
    """Refused at create, before the provider took the photo: it goes with the failure."""
    buffer = io.BytesIO()
    Image.new("RGB", (720, 1280), (20, 20, 200)).save(buffer, "JPEG")
    file_id = bot.telegram.add_file(buffer.getvalue())
    fake_kie.fail_next_create(422, "Your request was rejected by Flow(prompt flagged)")
    draft = await start_and_confirm(bot, ANN, photo=photo_sizes(file_id, len(buffer.getvalue())), caption="refused")
    await bot.wait_for_generation(draft, "failed")
    assert await bot.pool.fetchval("SELECT count(*) FROM generation_inputs") == 0


async def test_deletemydata_cancels_and_refunds_a_video_still_waiting(make_bot, fake_kie: FakeKie) -> None:
    """KIE is down: the confirmed video waits for it, so it can still be called back, and is."""
    async with make_bot(**OUTAGE) as bot:
        fake_kie.outage("http5xx")
        draft = await start_and_confirm(bot, ANN, text=IDEA)
        await wait_until(lambda: down(bot), timeout=60)
        await status_says(bot, ANN, draft, "down right now")
        await tap_erase(bot)
        assert "Cancelled and refunded: 1" in bot.telegram.calls(chat_id=ANN)[-1].params["text"]
        row = await bot.generation(draft)
        assert (row["status"], row["idea"]) == ("cancelled", "")
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]
        assert await found_anywhere(bot.pool, IDEA) == []
