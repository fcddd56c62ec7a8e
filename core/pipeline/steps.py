"""The pipeline's job handlers. Each loads its generation, does nothing unless the generation is at
its step (so a retried or duplicated job is harmless), does the step, and moves the generation on
and enqueues the next job in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramServerError,
)
from aiogram.types import FSInputFile

from core.app import App
from core.kie import ErrorKind, KieError
from core.pipeline import ALERT, DELIVER, HOUSEKEEPING, POLL, PROMPT, SUBMIT, WATCHDOG
from core.pipeline.media import VideoGone, download_photo, downloaded_video
from core.pipeline.progress import elapsed, fail, show
from core.prompter import PromptError, fallback_prompt
from core.queue import Backoff, Cancel, Job, JobSpec, Registry, Snooze, TransientError, enqueue
from core.queue.outcomes import describe
from core.ui.keyboards import regenerate_keyboard
from core.ui.status import BUSY, CONTENT, INTERNAL, RENDER, TIMEOUT, UNDELIVERABLE, Reason
from core.ui.texts import language, text
from db import generations as db_generations
from db import telegram as db_telegram
from db import users as db_users
from db.generations import Generation

log = structlog.get_logger("generation")

KIE_CREATE_WINDOW_S = 10.0
UPLOAD_TIMEOUT_S = 600
UPDATES_KEPT_S = 3 * 86400  # Telegram redelivers for 24 h; keep a margin for the dedupe


def poll_delay(rendering_s: float) -> float:
    """KIE's advice: every 2-3 s in the first 30 s, 5-10 s until 2 min, 15-30 s after."""
    if rendering_s < 30:
        return 3.0
    if rendering_s < 120:
        return 8.0
    return 20.0


class Pipeline:
    def __init__(self, app: App) -> None:
        self.app = app

    def register(self, registry: Registry) -> Registry:
        guarded = self._refund_on_last_attempt
        registry.add(JobSpec(PROMPT, guarded(self.prompt), timeout=150, max_attempts=3, backoff=Backoff(base=1)))
        registry.add(JobSpec(SUBMIT, guarded(self.submit), timeout=180, max_attempts=5, concurrency=8))
        registry.add(JobSpec(POLL, guarded(self.poll), timeout=60, max_attempts=5, backoff=Backoff(base=2)))
        registry.add(
            JobSpec(DELIVER, guarded(self.deliver), timeout=UPLOAD_TIMEOUT_S + 300, max_attempts=4, concurrency=8)
        )
        registry.add(JobSpec(WATCHDOG, self.watchdog, timeout=60, max_attempts=10, priority=1))
        registry.add(JobSpec(ALERT, self.alert, timeout=60, max_attempts=3))
        registry.add(JobSpec(HOUSEKEEPING, self.housekeeping, timeout=300, max_attempts=3))
        return registry

    # --- steps ------------------------------------------------------------------------------------

    async def prompt(self, job: Job) -> None:
        app, gid = self.app, job.payload["generation_id"]
        generation = await db_generations.start_prompting(app.pool, gid)
        if generation is None:
            return  # past this step, or finished
        if await self._past_deadline(generation):
            return
        await show(app, generation, "prompting", force=True)
        photo = await download_photo(app.bot, generation.photo_file_id) if generation.photo_file_id else None
        try:
            prompt, source = await app.prompter.write(generation.idea, photo), "openai"
        except PromptError as error:
            if error.retryable and not job.last_attempt:
                raise TransientError(str(error)) from error
            log.warning(
                "generation.prompt.fallback",
                generation_id=gid,
                error=str(error),
                note="the prompt writer is unavailable: the user's own words go to the video model",
            )
            prompt, source = fallback_prompt(generation.idea, with_photo=photo is not None), "fallback"
        async with app.pool.acquire() as conn, conn.transaction():
            if await db_generations.save_prompt(conn, gid, prompt, source):
                await enqueue(conn, app.registry, SUBMIT, {"generation_id": gid}, unique_key=f"submit:{gid}")
        log.info("generation.prompt.written", generation_id=gid, source=source, length=len(prompt))

    async def submit(self, job: Job) -> Snooze | None:
        app, gid = self.app, job.payload["generation_id"]
        generation = await db_generations.get(app.pool, gid)
        if generation is None or generation.status != "submitting" or await self._past_deadline(generation):
            return None
        async with app.pool.acquire() as conn:
            wait_s = await db_telegram.take_rate_slot(
                conn, "kie.create", app.settings.kie_creates_per_10s, KIE_CREATE_WINDOW_S
            )
        if wait_s > 0:
            log.info("generation.submit.waiting_for_rate_limit", generation_id=gid, wait_s=round(wait_s, 2))
            return Snooze(wait_s)
        model = app.model(generation.model)
        try:
            image_url = None
            if generation.photo_file_id:
                photo = await download_photo(app.bot, generation.photo_file_id)
                image_url = await app.kie.upload_photo(photo, f"{gid}-{generation.callback_token[:12]}.jpg")
            task_id = await app.kie.create(
                model, generation.prompt or generation.idea, image_url, self._callback_url(generation)
            )
        except KieError as error:
            await self._kie_trouble(job, generation, error)
            return None
        async with app.pool.acquire() as conn, conn.transaction():
            rendering = await db_generations.save_task(conn, gid, task_id)
            if rendering is not None:
                await enqueue(
                    conn, app.registry, POLL, {"generation_id": gid}, delay=poll_delay(0), unique_key=f"poll:{gid}"
                )
        log.info(
            "generation.submitted", generation_id=gid, task_id=task_id, model=model.id, photo=image_url is not None
        )
        if rendering is not None:
            await show(app, rendering, "rendering", force=True, elapsed_s=0)
        return None

    async def poll(self, job: Job) -> Snooze | None:
        app, gid = self.app, job.payload["generation_id"]
        generation = await db_generations.get(app.pool, gid)
        if generation is None or generation.status != "rendering" or await self._past_deadline(generation):
            return None
        rendering_s = elapsed(generation.rendering_at)
        try:
            state = await app.kie.state(app.model(generation.model), generation.kie_task_id or "")
        except KieError as error:
            if error.kind is ErrorKind.RETRYABLE or error.code == 422:  # 422: "record is null" right after create
                log.info("generation.poll.unanswered", generation_id=gid, error=str(error))
                return Snooze(poll_delay(rendering_s))
            await self._kie_trouble(job, generation, error)
            return None
        if not state.finished:
            await show(app, generation, "rendering", elapsed_s=rendering_s)
            return Snooze(poll_delay(rendering_s))
        if not state.succeeded:
            await self._kie_trouble(job, generation, state.failure())
            return None
        async with app.pool.acquire() as conn, conn.transaction():
            if await db_generations.save_video(conn, gid, state.video_url or ""):
                await enqueue(conn, app.registry, DELIVER, {"generation_id": gid}, unique_key=f"deliver:{gid}")
        log.info(
            "generation.rendered", generation_id=gid, task_id=generation.kie_task_id, rendering_s=round(rendering_s, 1)
        )
        return None

    async def deliver(self, job: Job) -> None:
        app, gid = self.app, job.payload["generation_id"]
        generation = await db_generations.get(app.pool, gid)
        if generation is None or generation.status != "uploading":
            return
        user = await db_users.get(app.pool, generation.user_id)
        if user is None or user["blocked_at"] is not None:
            await fail(app, gid, Reason(UNDELIVERABLE, "the user blocked the bot"))
            return
        lang = language(user["language_code"])
        await show(app, generation, "uploading", force=True)
        try:
            file_id, size = await self._send_video(generation, lang)
        except VideoGone as error:
            await fail(app, gid, Reason(RENDER, str(error)))
            return
        except TelegramForbiddenError:
            await fail(app, gid, Reason(UNDELIVERABLE, "the user blocked the bot"))
            return
        async with app.pool.acquire() as conn, conn.transaction():
            done = await db_generations.finish(conn, gid, file_id)
        log.info("generation.delivered", generation_id=gid, bytes=size, as_file=file_id is not None)
        if done is not None:
            await show(app, done, "done", force=True)

    async def watchdog(self, job: Job) -> Snooze | None:
        """Runs at the deadline: whatever is not rendered by then fails and is refunded."""
        generation = await db_generations.get(self.app.pool, job.payload["generation_id"])
        if generation is None or not generation.unfinished:
            return None
        if generation.status == "uploading" and job.snoozes < 20:
            return Snooze(30)  # rendered in time; the delivery is under way
        await fail(
            self.app, generation.id, Reason(TIMEOUT, f"not rendered within {self.app.settings.generation_timeout:g}s")
        )
        return None

    async def alert(self, job: Job) -> Snooze | None:
        """Tell the admins once; the job then holds its unique key for 10 minutes, folding repeats."""
        if job.snoozes:
            return None
        message = text("en", "admin_alert", code=job.payload["code"], message=job.payload["message"])
        for admin in self.app.settings.admin_ids:
            try:
                await self.app.bot.send_message(admin, message)
            except TelegramAPIError as error:
                log.warning("admin.alert.not_sent", admin_id=admin, error=str(error))
        return Snooze(600)

    async def housekeeping(self, _job: Job) -> Snooze:
        """Forget old update ids; then again in an hour (one such job exists across all processes)."""
        pruned = await db_telegram.prune_updates(self.app.pool, UPDATES_KEPT_S, 10_000)
        if pruned:
            log.info("bot.housekeeping.pruned", telegram_updates=pruned)
        return Snooze(3600)

    # --- helpers ----------------------------------------------------------------------------------

    async def _send_video(self, generation: Generation, lang: str) -> tuple[str | None, int]:
        """Send the video (as a file up to the upload limit, else as a link); its file_id and size."""
        bot, settings = self.app.bot, self.app.settings
        keyboard = regenerate_keyboard(lang, generation.id)
        caption = text(lang, "video_caption", idea=generation.idea or "📷")[:1024]
        async with downloaded_video(self.app.http, generation.video_url or "") as (path, size):
            if size <= settings.telegram_upload_limit:
                try:
                    sent = await bot.send_video(
                        generation.chat_id,
                        FSInputFile(path, filename=f"reelsmith-{generation.id}.mp4"),
                        width=1080,
                        height=1920,
                        supports_streaming=True,
                        caption=caption,
                        reply_markup=keyboard,
                        request_timeout=UPLOAD_TIMEOUT_S,
                    )
                    return (sent.video.file_id if sent.video else None), size
                except TelegramEntityTooLarge:
                    log.warning("generation.video.too_large_for_telegram", generation_id=generation.id, bytes=size)
                except (TelegramNetworkError, TelegramServerError) as error:
                    raise TransientError(f"video upload: {error}") from error
                except TelegramBadRequest as error:
                    log.warning("generation.video.refused", generation_id=generation.id, error=error.message)
        await bot.send_message(
            generation.chat_id, text(lang, "video_link", url=generation.video_url), reply_markup=keyboard
        )
        return None, size

    def _callback_url(self, generation: Generation) -> str | None:
        base = self.app.settings.public_base_url
        return f"{base}/kie/callback/{generation.callback_token}" if base else None

    async def _past_deadline(self, generation: Generation) -> bool:
        if generation.deadline_at is None or datetime.now(UTC) < generation.deadline_at:
            return False
        await fail(
            self.app, generation.id, Reason(TIMEOUT, f"not rendered within {self.app.settings.generation_timeout:g}s")
        )
        return True

    async def _kie_trouble(self, job: Job, generation: Generation, error: KieError) -> None:
        """What a KIE error means for this generation: retry later, or fail (and refund) now."""
        match error.kind:
            case ErrorKind.RETRYABLE if not job.last_attempt:
                raise TransientError(str(error), retry_after=30 if error.code == 455 else None) from error
            case ErrorKind.RETRYABLE:
                await fail(self.app, generation.id, Reason(BUSY, error.message))
            case ErrorKind.ACCOUNT:
                log.critical("kie.account_problem", code=error.code, error=error.message, generation_id=generation.id)
                await enqueue(
                    self.app.pool,
                    self.app.registry,
                    ALERT,
                    {"code": error.code, "message": error.message},
                    unique_key=f"alert:kie:{error.code}",
                )
                await fail(self.app, generation.id, Reason(BUSY, f"KIE {error.code}"))
            case ErrorKind.CONTENT:
                await fail(self.app, generation.id, Reason(CONTENT, error.message))
            case _:
                await fail(self.app, generation.id, Reason(RENDER, error.message))

    def _refund_on_last_attempt(
        self, step: Callable[[Job], Awaitable[Snooze | None]]
    ) -> Callable[[Job], Awaitable[Snooze | None]]:
        """A step out of attempts fails its generation (and refunds it) before the job gives up."""

        async def run(job: Job) -> Snooze | None:
            try:
                return await step(job)
            except Exception as error:
                if job.last_attempt or isinstance(error, Cancel):
                    key = BUSY if isinstance(error, TransientError) else INTERNAL
                    await fail(self.app, job.payload["generation_id"], Reason(key, describe(error)))
                raise

        return run
