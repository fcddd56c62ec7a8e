"""The last step, ``generation.deliver``: the rendered video downloaded, archived and sent to the
user's chat, then the generation finished and its status message told so.

A video within Telegram's upload limit goes as a file; a larger one (or one Telegram refuses) as a
link, to our archive when there is one, since the provider's link expires. A user who blocked the
bot, or a video the provider no longer serves, fails the generation and refunds it (core/pipeline/
refunds.py); a network or server error from Telegram is transient, so the job is retried."""

from __future__ import annotations

import time

import structlog
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramServerError,
)
from aiogram.types import FSInputFile

from core import metrics
from core.pipeline.archive import archive_video, video_link
from core.pipeline.media import VideoGone, downloaded_video
from core.pipeline.mp4 import probe as probe_mp4
from core.pipeline.nudges import after_delivery
from core.pipeline.refunds import fail
from core.pipeline.services import App
from core.pipeline.status import show
from core.queue import Job, TransientError
from core.ui.keyboards import regenerate_keyboard, share_query
from core.ui.status import RENDER, UNDELIVERABLE, Reason
from core.ui.texts import text, user_language
from db import generations as db_generations
from db import miniapp as db_miniapp
from db import users as db_users
from db.generations import Generation, Status

log = structlog.get_logger("generation")

UPLOAD_TIMEOUT_S = 600


async def deliver(app: App, job: Job) -> None:
    gid = job.payload["generation_id"]
    started = time.monotonic()
    generation = await db_generations.get(app.pool, gid)
    if generation is None or generation.status != Status.UPLOADING:
        return
    user = await db_users.get(app.pool, generation.user_id)
    if user is None or user.blocked_at is not None:
        await fail(app, gid, Reason(UNDELIVERABLE, "the user blocked the bot"))
        return
    lang = user_language(user)
    await show(app, generation, "uploading")
    try:
        file_id, size = await _send_video(app, generation, lang)
    except VideoGone as error:
        await fail(app, gid, Reason(RENDER, str(error)))
        return
    except TelegramForbiddenError:
        await fail(app, gid, Reason(UNDELIVERABLE, "the user blocked the bot"))
        return
    async with app.pool.acquire() as conn, conn.transaction():
        done = await db_generations.finish(conn, gid, file_id)
        if done is not None:
            await after_delivery(conn, app, done)
    log.info(
        "generation.delivered",
        generation_id=gid,
        user_id=generation.user_id,
        bytes=size,
        as_file=file_id is not None,
        free=generation.late,
    )
    metrics.observe_step("deliver", time.monotonic() - started)
    if done is not None:
        if done.confirmed_at and done.finished_at:
            metrics.observe_delivery((done.finished_at - done.confirmed_at).total_seconds())
        await show(app, done, "done_late" if done.late else "done", force=True)


async def _share_query(app: App, generation: Generation) -> str | None:
    """What the Share button types; None (no button) while inline mode is off in @BotFather (getMe says so,
    read once and cached by aiogram): a button that opens nothing is worse than none."""
    return share_query(generation.idea) if (await app.bot.me()).supports_inline_queries else None


async def _send_video(app: App, generation: Generation, lang: str) -> tuple[str | None, int]:
    """Send the video (as a file up to the upload limit, else as a link); its file_id and size. A file has
    a Share button too (inline mode offers videos by file_id: core/bot/sharing.py); a link has not."""
    keyboard = regenerate_keyboard(lang, generation.id)
    caption = text(lang, "video_caption", idea=generation.idea or "📷")
    if generation.late:
        caption = f"{caption[:900]}\n\n{text(lang, 'video_free_note')}"
    caption = caption[:1024]
    async with downloaded_video(app.http, generation.video_url or "") as (path, size):
        archived = await archive_video(app.storage, user_id=generation.user_id, generation_id=generation.id, path=path)
        if size <= app.settings.telegram.upload_limit:
            info = probe_mp4(path)
            try:
                sent = await app.bot.send_video(
                    generation.chat_id,
                    FSInputFile(path, filename=f"reelsmith-{generation.id}.mp4"),
                    width=info.width if info else None,
                    height=info.height if info else None,
                    duration=round(info.duration_s) if info else None,
                    supports_streaming=True,
                    caption=caption,
                    reply_markup=regenerate_keyboard(lang, generation.id, await _share_query(app, generation)),
                    request_timeout=UPLOAD_TIMEOUT_S,
                )
                if sent.video and sent.video.thumbnail:  # the Mini App's gallery shows it
                    await db_miniapp.set_thumbnail(app.pool, generation.id, sent.video.thumbnail.file_id)
                return (sent.video.file_id if sent.video else None), size
            except TelegramEntityTooLarge:
                log.warning("generation.video.too_large_for_telegram", generation_id=generation.id, bytes=size)
            except (TelegramNetworkError, TelegramServerError) as error:
                raise TransientError(f"video upload: {error}") from error
            except TelegramBadRequest as error:
                log.warning("generation.video.refused", generation_id=generation.id, error=error.message)
    # Too large for Telegram: a link to our archive (it lasts) rather than the provider's (it expires).
    stored = archived and await video_link(app.storage, user_id=generation.user_id, generation_id=generation.id)
    link = text(lang, "video_link", url=stored or generation.video_url)
    if generation.late:
        link = f"{link}\n\n{text(lang, 'video_free_note')}"
    await app.bot.send_message(generation.chat_id, link, reply_markup=keyboard)
    return None, size
