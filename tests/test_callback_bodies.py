"""Unauthenticated routes cannot stall the loop (issue 15): a provider callback looks its token up
before it reads a byte, refuses compressed bodies (415) and bodies over 64 KB (413)."""

from __future__ import annotations

import gzip
import io

import aiohttp

from core.web.callbacks import MAX_CALLBACK_BYTES
from tests.fakes.kie import FakeKie
from tests.helpers import BotHarness
from tests.test_e2e_generation import ANN, render, start_and_confirm, videos_sent
from tests.test_junk import post_chunked

# 1 KB of gzip that inflates to about a megabyte of JSON full of NUL escapes.
BOMB = gzip.compress(b'{"data": "' + b"\\u0000" * 200_000 + b'"}', compresslevel=9)


async def post(bot: BotHarness, path: str, body: bytes, **headers: str) -> int:
    """On a connection of its own: a body refused unread closes the connection after the answer."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.base_url}{path}", data=io.BytesIO(body), headers=headers) as response,
    ):
        await response.read()
        return response.status


async def test_callback_bodies_are_looked_up_first_small_and_plain(bot: BotHarness, fake_kie: FakeKie) -> None:
    draft = await start_and_confirm(bot, ANN, text="a kite over the dunes")
    await fake_kie.wait_for(lambda fake: len(fake.tasks) >= 1)
    path = f"/kie/callback/{(await bot.generation(draft))['callback_token']}"
    deep = b"[" * 10_000 + b"]" * 10_000  # read, it would be a 400
    assert await post(bot, "/kie/callback/no-such-token", deep) == 404, "the token is looked up first"
    for encoding in ("gzip", "deflate", "GZIP "):  # br: aiohttp without brotli answers 400 itself
        assert await post(bot, path, BOMB, **{"Content-Encoding": encoding}) == 415, encoding
    assert await post(bot, path, b"{" + b" " * MAX_CALLBACK_BYTES + b"}") == 413
    half = b" " * (MAX_CALLBACK_BYTES // 2)
    assert await post_chunked(bot, path, b"{", half, half, b"}") == 413
    # The real callback still gets through, and the video goes out.
    await render(fake_kie)
    await videos_sent(bot.telegram, ANN)
