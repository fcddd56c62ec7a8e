"""A stand-in for another bot process sending bulk messages: ``python -m tests.send_burst DSN API CHAT N``.

Each message goes through the session middleware outside any update, as a job's would, so it waits
for the shared sending budget."""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from core.telegram.limiter import SendLimiter
from core.telegram.session import TelegramResilience
from db.pool import create_pool
from tests.helpers import SECRETS


async def main(dsn: str, api_base: str, chat_id: int, count: int) -> None:
    pool = await create_pool(dsn, max_size=2)
    limiter = SendLimiter(pool)
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    session.middleware(TelegramResilience(pool, limiter))
    bot = Bot(SECRETS["BOT_TOKEN"], session=session)
    try:
        for number in range(count):
            await bot.send_message(chat_id, f"bulk {number}")
    finally:
        await limiter.close()
        await bot.session.close()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
