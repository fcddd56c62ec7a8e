"""Moving media: the user's photo out of Telegram, the finished video out of KIE.

The photo is read through the Bot API session (its URL holds the bot token, so it never leaves this
process). The video is streamed to a temporary file in 1 MiB chunks, so memory stays flat whatever
its size, and the file is gone when the block ends.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramServerError

from core.queue import Cancel, TransientError

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile serves nothing larger
VIDEO_LIMIT = 4 * 1024**3
CHUNK = 1024 * 1024


class VideoGone(Exception):
    """KIE no longer has the video (it deletes results after a while)."""


async def download_photo(bot: Bot, file_id: str) -> bytes:
    try:
        file = await bot.get_file(file_id)
        if (file.file_size or 0) > TELEGRAM_DOWNLOAD_LIMIT or not file.file_path:
            raise Cancel("the photo is larger than Telegram lets bots download (20 MB)")
        data = await bot.download_file(file.file_path, timeout=120)
    except (TelegramNetworkError, TelegramServerError) as error:
        raise TransientError(f"photo download: {error}") from error
    except TelegramAPIError as error:
        raise Cancel(f"the photo could not be fetched from Telegram: {error.message}") from error
    assert isinstance(data, io.BytesIO), "without a destination aiogram downloads into a BytesIO"
    return data.getvalue()


@contextlib.asynccontextmanager
async def downloaded_video(http: aiohttp.ClientSession, url: str) -> AsyncIterator[tuple[Path, int]]:
    """The video at ``url`` in a temporary file: (path, size in bytes)."""
    fd, name = tempfile.mkstemp(prefix="reelsmith-", suffix=".mp4")
    try:
        with os.fdopen(fd, "wb") as out:
            size = await _stream(http, url, out)
        yield Path(name), size
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(name)


async def _stream(http: aiohttp.ClientSession, url: str, out: object) -> int:
    timeout = aiohttp.ClientTimeout(total=900, sock_connect=30, sock_read=120)
    size = 0
    try:
        async with http.get(url, timeout=timeout) as response:
            if response.status in (403, 404, 410):
                raise VideoGone(f"the video URL answered {response.status}")
            if response.status >= 400:
                raise TransientError(f"video download answered {response.status}")
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > VIDEO_LIMIT:
                    raise Cancel("the video is larger than 4 GB")
                out.write(chunk)  # type: ignore[attr-defined]
    except (aiohttp.ClientError, TimeoutError) as error:
        raise TransientError(f"video download: {type(error).__name__}: {error}") from error
    return size
