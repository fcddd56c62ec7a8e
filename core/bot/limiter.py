"""Bot-wide sending pace shared by every process: Telegram allows about 30 messages a second in
total, so bulk work (broadcasts, notifications) waits for a slot of SEND_RATE per second."""

from __future__ import annotations

import asyncio

import asyncpg

from db import telegram as db_telegram

SEND_RATE = 25  # per second, bot-wide; Telegram's own limit is about 30
BUCKET = "telegram.send"


class SendLimiter:
    def __init__(self, pool: asyncpg.Pool, *, rate: int = SEND_RATE) -> None:
        self._pool = pool
        self._rate = rate

    async def wait(self) -> None:
        """Return once this process may send one message."""
        while True:
            async with self._pool.acquire() as conn:
                wait_s = await db_telegram.take_rate_slot(conn, BUCKET, self._rate, 1.0)
            if wait_s <= 0:
                return
            await asyncio.sleep(wait_s)
