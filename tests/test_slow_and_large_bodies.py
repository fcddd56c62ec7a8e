"""Bodies that must not hold the event loop (core/web/body.py): one over 64 KB is parsed in a thread
while the loop serves everyone else, and one sent slowly is cut at the body deadline with a 408
while other requests go on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from core.settings import Settings
from core.web.body import OFF_LOOP_BYTES
from tests.fakes.telegram import FakeTelegram, message_update
from tests.helpers import BotHarness, wait_until
from tests.test_e2e_generation import propose

ANN, BOB = 741, 742


class GatedExecutor(ThreadPoolExecutor):
    """The loop's default executor (asyncio.to_thread), its one worker held until ``gate`` is set:
    what is handed to it waits there, visibly (``submitted``), while the loop goes on."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.gate = threading.Event()
        self.submitted = 0
        super().submit(self.gate.wait)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def huge_update(update_id: int) -> dict[str, Any]:
    """An update of about 200 KB, NUL escapes and all: the costly kind to clean."""
    return message_update(update_id, ANN, text="\u0000a" * 40_000)


async def test_a_body_over_64_kb_is_parsed_off_the_loop_while_others_are_served(bot: BotHarness) -> None:
    update = huge_update(bot.next_update_id())
    assert len(json.dumps(update)) > OFF_LOOP_BYTES
    executor = GatedExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    try:
        huge = asyncio.create_task(bot.send(update))
        await wait_until(lambda: executor.submitted)  # read, then handed to the thread
        # The loop is free: another user's update goes through end to end while the huge one waits.
        small = message_update(bot.next_update_id(), BOB, text="/start")
        assert await asyncio.wait_for(bot.send(small), 30) == 200
        assert bot.telegram.calls("sendMessage", chat_id=BOB), "answered"
        assert not huge.done(), "the huge body is still in the thread pool"
    finally:
        executor.gate.set()
    assert await huge == 200
    outcome = await bot.pool.fetchval("SELECT outcome FROM telegram_updates WHERE update_id = $1", update["update_id"])
    assert outcome == "handled"


async def send_slowly(bot: BotHarness, path: str, body: bytes, headers: dict[str, str]) -> None:
    """POST ``body`` (over 300 bytes: 15 s to trickle) to ``path`` a byte at a time, slowly, while
    another user's /start is applied; the bot answers 408 and closes the connection before the body
    is all sent."""
    assert len(body) > 300, "trickling it must outlast the deadline and aiohttp's 10 s of lingering"
    url = urlsplit(bot.base_url or "")
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    lines = [f"POST {path} HTTP/1.1", "Host: bot", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def trickle() -> None:
        """A whole body would take len(body) / 20 seconds."""
        with contextlib.suppress(ConnectionError):
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)  # the slow client itself, not a wait for the bot

    trickling = asyncio.create_task(trickle())
    try:
        assert await bot.send(message_update(bot.next_update_id(), BOB, text="/start")) == 200
        assert bot.telegram.calls("sendMessage", chat_id=BOB), "served meanwhile"
        status = await asyncio.wait_for(reader.readline(), 30)
        assert status.split()[1] == b"408", status
        # Connection: close. EOF once aiohttp stops lingering, or a reset when the close finds bytes of the
        # trickle still unread: either way the connection is over.
        with contextlib.suppress(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 30)
        assert not trickling.done(), "cut before the whole body was sent"
    finally:
        trickling.cancel()
        writer.close()


async def test_a_slow_body_is_cut_at_the_deadline_and_blocks_no_one(
    bot_environment: dict[str, str], fake_telegram: FakeTelegram
) -> None:
    settings = Settings.from_env(bot_environment)
    async with BotHarness.running(settings, fake_telegram, body_timeout_s=1.0) as bot:
        update_id = bot.next_update_id()
        body = json.dumps(message_update(update_id, ANN, text="a slow idea" + "." * 300)).encode()
        await send_slowly(bot, "/telegram/webhook", body, {"X-Telegram-Bot-Api-Secret-Token": bot.frontend.secret})
        assert not bot.telegram.calls("sendMessage", chat_id=ANN), "the cut update was never applied"
        applied = await bot.pool.fetchval("SELECT count(*) FROM telegram_updates WHERE update_id = $1", update_id)
        assert applied == 0

        # The KIE callback route needs no secret, only a generation's token: the same deadline.
        draft = await propose(bot, ANN, text="a kite over the dunes")
        token = (await bot.generation(draft))["callback_token"]
        callback = json.dumps({"code": 200, "msg": "." * 400, "data": {"taskId": "t-slow", "info": {}}}).encode()
        await send_slowly(bot, f"/kie/callback/{token}", callback, {})
