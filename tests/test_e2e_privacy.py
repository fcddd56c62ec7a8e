"""Privacy through the real webhook: /privacy in both languages, and /deletemydata, which erases
every word, photo and name of the user and keeps the money's records and the tombstone."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.ui.keyboards import EraseData
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import callback_update, message_update
from tests.helpers import BotHarness, button_data
from tests.test_e2e_generation import propose, render, start_and_confirm, videos_sent
from tests.test_e2e_payments import command

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
