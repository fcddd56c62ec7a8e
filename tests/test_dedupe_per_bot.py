"""Update dedupe is per bot (issue 15): a test token and the production token sharing one database
each apply their own update_id 1, and rows recorded before migration 0011 are kept and adopted."""

from __future__ import annotations

import asyncpg
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update

from core.bot.fsm import PostgresStorage
from core.bot.updates import UpdateProcessor
from db import telegram as db_telegram
from db.migrate import discover, migrate
from tests.fakes.telegram import FakeTelegram, message_update

TOKENS = ("111111:TEST-first-bot-abcdefghijklmnopqrstuv", "222222:TEST-second-bot-abcdefghijklmnopqrs")


async def test_two_bots_on_one_database_both_apply_their_update_1(
    pool: asyncpg.Pool, fake_telegram: FakeTelegram
) -> None:
    seen: list[tuple[int, str | None]] = []
    router = Router()

    @router.message()
    async def note(message: Message, bot: Bot) -> None:
        seen.append((bot.id, message.text))

    dispatcher = Dispatcher(storage=PostgresStorage(pool))
    dispatcher.include_router(router)
    api = TelegramAPIServer.from_base(fake_telegram.base_url)
    bots = [Bot(token, session=AiohttpSession(api=api)) for token in TOKENS]
    try:
        processors = [UpdateProcessor(pool, dispatcher, bot, messages_per_minute=20) for bot in bots]
        for bot, processor in zip(bots, processors, strict=True):
            update = Update.model_validate(message_update(1, 777, text=f"to {bot.id}"), context={"bot": bot})
            assert await processor.process(update) == "handled"
        for bot, processor in zip(bots, processors, strict=True):  # Telegram redelivers: each is a duplicate
            update = Update.model_validate(message_update(1, 777, text="again"), context={"bot": bot})
            assert await processor.process(update) == "duplicate"
    finally:
        for bot in bots:
            await bot.session.close()
    assert seen == [(111111, "to 111111"), (222222, "to 222222")]
    rows = await pool.fetch("SELECT bot_id, update_id FROM telegram_updates ORDER BY bot_id")
    assert [tuple(row) for row in rows] == [(111111, 1), (222222, 1)]


async def test_the_migration_keeps_applied_updates_and_the_start_adopts_them(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate(conn, [m for m in discover() if m.version < 11])
        await conn.execute("INSERT INTO telegram_updates (update_id, user_id, kind) VALUES (41, 7, 'message')")
        await migrate(conn)
        assert await conn.fetchval("SELECT bot_id FROM telegram_updates WHERE update_id = 41") == 0
        assert await db_telegram.adopt_updates(conn, 111111) == 1
        assert await db_telegram.adopt_updates(conn, 222222) == 0  # the first start took them
        async with conn.transaction():
            again = await db_telegram.begin_update(
                conn, 41, 7, "message", None, "Ann", "en", "fsm:41", "en", bot_id=111111
            )
        assert not again.first  # a redelivery of an update applied before the migration
    finally:
        await conn.close()
