"""The pipeline's job handlers. Each loads its generation, does nothing unless the generation is at
its step (so a retried or duplicated job is harmless), does the step, and moves the generation on
and enqueues the next job in one transaction. Providers are seen only through their interface
(core/providers/base.py): the steps hold no vendor codes. What a provider's answer means for the
generation (wait, retry, refund, deliver) is core/pipeline/verdict.py's to say, once per step; the
refunds themselves are core/pipeline/refunds.py, and the delivery of the video core/pipeline/delivery.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import assert_never

import asyncpg
import structlog
from aiogram.exceptions import TelegramAPIError

from core import metrics
from core.catalogue import VideoModel
from core.growth import find_preset
from core.pipeline import (
    ADOPT,
    ALERT,
    BALANCE,
    DELIVER,
    HOUSEKEEPING,
    MODEL_PROBE,
    POLL,
    PROBE,
    PROMPT,
    SUBMIT,
    WATCHDOG,
    health,
    job_key,
    models,
)
from core.pipeline.archive import archive_input
from core.pipeline.delivery import UPLOAD_TIMEOUT_S, deliver
from core.pipeline.media import download_photo
from core.pipeline.photos import PhotoUnreadable, image_type, to_vertical
from core.pipeline.refunds import fail, overdue
from core.pipeline.services import App
from core.pipeline.status import elapsed, show
from core.pipeline.verdict import (
    CREATING,
    WAITING_RECHECK_S,
    Adopting,
    CreateAgain,
    Deliver,
    Hold,
    Lost,
    Outcome,
    Overdue,
    Polled,
    Record,
    Recreate,
    Refund,
    Rendering,
    Retry,
    Wait,
    Withdraw,
    given_up,
    poll_delay,
    too_late,
    unanswered,
    verdict,
)
from core.providers import costs
from core.providers.base import AccountProblem, ProviderError, Retryable, TaskState, VideoProvider
from core.providers.prompter import PromptError, fallback_prompt
from core.queue import Backoff, Cancel, Job, JobSpec, Registry, Snooze, TransientError, enqueue
from core.ui.status import PHOTO, WAITED, Reason
from core.ui.texts import text, user_language
from db import generations as db_generations
from db import jobs as db_jobs
from db import providers as db_providers
from db import telegram as db_telegram
from db import users as db_users
from db.generations import WAITING, Generation, Status

log = structlog.get_logger("generation")

UPDATES_KEPT_S = 3 * 86400  # Telegram redelivers for 24 h; keep a margin for the dedupe
# The watchdog looks a little after each limit, so a step finishing right at it is not raced.
WATCHDOG_GRACE = timedelta(seconds=3)
ADOPT_RECHECK_S = 2.0  # an adoption waiting for a submit still running (its create's answer may yet come)


def queue_edit_interval(position: int) -> float:
    """Place-in-line updates of the waiting generations together stay around 5 edits a second."""
    return max(15.0, position / 5.0)


class Pipeline:
    def __init__(self, app: App) -> None:
        self.app = app

    def register(self, registry: Registry) -> Registry:
        guarded = self._refund_on_last_attempt
        registry.add(JobSpec(PROMPT, guarded(self.prompt), timeout=150, max_attempts=3, backoff=Backoff(base=1)))
        registry.add(JobSpec(SUBMIT, guarded(self.submit), timeout=180, max_attempts=5, concurrency=8))
        registry.add(JobSpec(POLL, guarded(self.poll), timeout=60, max_attempts=5, backoff=Backoff(base=2)))
        delivery = guarded(lambda job: deliver(self.app, job))
        registry.add(JobSpec(DELIVER, delivery, timeout=UPLOAD_TIMEOUT_S + 300, max_attempts=4, concurrency=8))
        registry.add(JobSpec(ADOPT, self.adopt, timeout=60, max_attempts=5, backoff=Backoff(base=2)))
        registry.add(JobSpec(WATCHDOG, self.watchdog, timeout=60, max_attempts=10, priority=1))
        registry.add(JobSpec(PROBE, lambda job: health.probe(self.app, job), timeout=90, max_attempts=100))
        registry.add(JobSpec(MODEL_PROBE, lambda job: models.probe(self.app, job), timeout=60, max_attempts=10))
        registry.add(JobSpec(BALANCE, lambda job: health.watch_balance(self.app, job), timeout=90, max_attempts=100))
        registry.add(JobSpec(ALERT, self.alert, timeout=60, max_attempts=3))
        registry.add(JobSpec(HOUSEKEEPING, self.housekeeping, timeout=300, max_attempts=3))
        return registry

    # --- steps ------------------------------------------------------------------------------------

    async def prompt(self, job: Job) -> None:
        app, gid = self.app, job.payload["generation_id"]
        started = time.monotonic()
        generation = await db_generations.start_prompting(app.pool, gid)
        if generation is None:
            return  # past this step, or finished
        await show(app, generation, "prompting")  # a new stage: shown unless the generation ended
        photo = None
        if generation.photo_file_id:
            photo = await self._input_photo(generation)
            if photo is None:
                return
        sound = app.model(generation.model).sound
        style = self._style(generation)
        try:
            prompt, source = await app.prompter.write(generation.idea, photo, sound=sound, style=style), "openai"
        except PromptError as error:
            if error.retryable and not job.last_attempt:
                raise TransientError(str(error)) from error
            if error.account:
                await health.prompt_writer_refused(app, error)
            log.warning(
                "generation.prompt.fallback",
                generation_id=gid,
                error=str(error),
                note="the prompt writer is unavailable: the user's own words go to the video model",
            )
            fallback = fallback_prompt(generation.idea, with_photo=photo is not None, sound=sound, style=style)
            prompt, source = fallback, "fallback"
        async with app.pool.acquire() as conn, conn.transaction():
            if await db_generations.save_prompt(conn, gid, prompt, source):
                await enqueue(conn, app.registry, SUBMIT, _payload(generation), unique_key=job_key(SUBMIT, gid))
        metrics.observe_step("prompt", time.monotonic() - started)
        log.info("generation.prompt.written", generation_id=gid, source=source, length=len(prompt))

    async def submit(self, job: Job) -> Snooze | None:
        """Create the provider's task: in confirmation order within the create rate, waiting (not failing,
        not spending attempts) while the provider is down. Take a slot, create, then act on the verdict."""
        app, gid = self.app, job.payload["generation_id"]
        generation = await db_generations.get(app.pool, gid)
        if generation is None or generation.status != Status.SUBMITTING:
            return None
        model = app.model(generation.model)
        provider = app.provider(model)
        earlier = generation.creating_since  # set: an earlier create may have reached the provider
        if earlier is not None and isinstance(waiting := self._unanswered(generation), Snooze):
            return waiting
        slot = await self._take_slot(generation, provider)
        if isinstance(slot, Snooze):
            return slot
        if await db_generations.begin_create(app.pool, gid) is None:
            return None  # cancelled meanwhile
        if earlier is not None:
            await self._possible_duplicate(generation, provider, earlier)
        match verdict(await self._create(generation, provider, model, slot), CREATING):
            case Record(task_id=task_id):
                await self._record(generation, provider, model, task_id)
                await models.rendered(app, model)
            case Withdraw() as withdrawal:
                await db_generations.end_create(app.pool, gid)  # refused: no task, nothing billed
                await models.withdraw(app, provider, model, gid, withdrawal)
            case Lost(error=error):
                delay = await health.failed(app, provider, error)  # still a provider that did not answer
                log.warning(
                    "generation.submit.answer_lost",
                    generation_id=gid,
                    error=error.detail,
                    note="the task may exist: its callback adopts it; no blind second create",
                )
                # With callbacks, the task's own callback adopts it; else the next run creates again (counted).
                return Snooze(app.settings.product.create_adopt_wait if self._callback(generation) else delay)
            case Retry(error=error):
                await db_generations.end_create(app.pool, gid)
                delay = await health.failed(app, provider, error)
                log.warning(
                    "generation.submit.retry", generation_id=gid, error=error.detail, retry_in_s=round(delay, 1)
                )
                return Snooze(delay)
            case Hold(error=error, seconds=seconds):
                await db_generations.end_create(app.pool, gid)
                await health.account_problem(app, provider, error)
                return Snooze(seconds)
            case Refund(reason=reason):
                await fail(app, gid, reason)
            case unexpected:
                assert_never(unexpected)
        return None

    async def adopt(self, job: Job) -> Snooze | None:
        """A callback named a task for a generation whose create answer was lost: once the provider's record
        shows the task exists, the generation renders it (as if the create had answered), never a second one.
        The record read is the check: a callback's body is not trusted. While the submit still runs in a live
        process, the create's answer may yet come (a callback can beat it): wait for that instead."""
        app, gid, task_id = self.app, job.payload["generation_id"], str(job.payload["task_id"])
        generation = await db_generations.get(app.pool, gid)
        if generation is None or generation.status != Status.SUBMITTING or generation.creating_since is None:
            return None  # answered meanwhile (or finished): nothing to adopt
        if await db_jobs.in_flight(app.pool, job_key(SUBMIT, gid)):
            return Snooze(ADOPT_RECHECK_S)
        model = app.model(generation.model)
        provider = app.provider(model)
        try:
            await provider.state(model, task_id)
        except Retryable as error:
            raise TransientError(f"adopting {task_id}: {error.detail}") from error
        except ProviderError as error:
            raise Cancel(f"not adopted, the record of {task_id} says {error.detail}") from error
        log.info("generation.submit.adopted", generation_id=gid, task_id=task_id, provider=provider.name)
        metrics.adopted_create(provider.name)
        await self._record(generation, provider, model, task_id)
        return None

    async def poll(self, job: Job) -> Snooze | None:
        """Read the task's state (a callback only wakes this early), then act on the verdict."""
        app, gid = self.app, job.payload["generation_id"]
        generation = await db_generations.get(app.pool, gid)
        if generation is None or generation.status != Status.RENDERING:
            return None
        situation = Rendering(
            elapsed(generation.rendering_at),
            app.settings.product.generation_timeout,
            app.settings.product.late_render_limit,
            refunded=generation.refunded_at is not None,
            recreated=generation.recreated > 0,
        )
        outcome = None if situation.expired else await self._state(generation)
        return await self._polled(generation, situation, outcome, verdict(outcome, situation))

    async def watchdog(self, job: Job) -> Snooze | None:
        """The limits, whatever else went wrong: waiting too long to reach the provider refunds; so does
        rendering past the deadline (the poll keeps going until LATE_RENDER_LIMIT, then gives up)."""
        app = self.app
        generation = await db_generations.get(app.pool, job.payload["generation_id"])
        if generation is None or not generation.unfinished:
            return None
        now = datetime.now(UTC)
        if generation.status in WAITING:
            assert generation.confirmed_at is not None
            limit = generation.confirmed_at + timedelta(seconds=app.settings.product.queue_wait_limit)
            if now < limit:
                return Snooze((limit - now).total_seconds())
            await fail(
                app, generation.id, Reason(WAITED, f"not started within {app.settings.product.queue_wait_limit:g}s")
            )
            return None
        if generation.status == Status.UPLOADING:
            return Snooze(30) if job.snoozes < 40 else None  # rendered; the delivery (and its retries) decides
        assert generation.rendering_at is not None and generation.deadline_at is not None
        late_limit = generation.rendering_at + timedelta(seconds=app.settings.product.late_render_limit)
        if now >= late_limit:
            await fail(app, generation.id, too_late(app.settings.product.late_render_limit))
            return None
        if now >= generation.deadline_at:
            await overdue(app, generation)
            return Snooze((late_limit - now).total_seconds() + WATCHDOG_GRACE.total_seconds())
        return Snooze((generation.deadline_at - now).total_seconds())

    async def alert(self, job: Job) -> Snooze | None:
        """Tell the admins. A folded alert then holds its unique key for a while, absorbing repeats."""
        if job.snoozes:
            return None
        params = job.payload.get("params") or {}
        for admin in self.app.settings.telegram.admin_ids:
            lang = user_language(await db_users.get(self.app.pool, admin))  # English for one who never wrote
            try:
                await self.app.bot.send_message(admin, text(lang, job.payload["key"], **params))
            except TelegramAPIError as error:
                log.warning("admin.alert.not_sent", admin_id=admin, error=str(error))
        return Snooze(health.ACCOUNT_ALERT_FOLD_S) if job.payload.get("fold") else None

    async def housekeeping(self, _job: Job) -> Snooze:
        """Forget old update ids; then again in an hour (one such job exists across all processes)."""
        pruned = await db_telegram.prune_updates(self.app.pool, UPDATES_KEPT_S, 10_000)
        if pruned:
            log.info("bot.housekeeping.pruned", telegram_updates=pruned)
        return Snooze(3600)

    # --- helpers ----------------------------------------------------------------------------------

    async def _take_slot(self, generation: Generation, provider: VideoProvider) -> datetime | Snooze:
        """A create slot of the provider, in confirmation order; or how long to wait for one (the provider
        is down, or its create rate is spent), the status message saying which."""
        app = self.app
        if not (await db_providers.get(app.pool, provider.name)).available:
            await show(app, generation, "waiting", interval=WAITING_RECHECK_S)
            return Snooze(WAITING_RECHECK_S)
        limit, window = provider.create_rate
        async with app.pool.acquire() as conn:
            wait_s, slot = await db_telegram.take_rate_slot_stamped(conn, _create_bucket(provider), limit, window)
        if wait_s > 0 or slot is None:
            position = await db_generations.queue_position(app.pool, generation.id)
            eta_s = position * window / limit
            await show(
                app, generation, "queued", interval=queue_edit_interval(position), position=position, eta_s=eta_s
            )
            return Snooze(wait_s)
        return slot

    def _unanswered(self, generation: Generation) -> Snooze | CreateAgain:
        """An earlier create of this generation may have made a task (its answer was lost): how long to keep
        waiting for the task's callback, or to create again."""
        assert generation.creating_since is not None
        waited = (datetime.now(UTC) - generation.creating_since).total_seconds()
        callbacks = self._callback(generation) is not None
        match unanswered(waited, self.app.settings.product.create_adopt_wait, callbacks=callbacks):
            case Adopting(seconds=seconds):
                return Snooze(seconds)
            case CreateAgain() as again:
                return again
            case unexpected:
                assert_never(unexpected)

    async def _possible_duplicate(self, generation: Generation, provider: VideoProvider, earlier: datetime) -> None:
        """Creating again after a lost answer no callback adopted: logged, counted, shown in /gen."""
        count = await db_generations.count_possible_duplicate(self.app.pool, generation.id)
        metrics.possible_duplicate_create(provider.name)
        log.warning(
            "generation.submit.possible_duplicate",
            generation_id=generation.id,
            provider=provider.name,
            waited_s=round((datetime.now(UTC) - earlier).total_seconds(), 1),
            callbacks=self._callback(generation) is not None,
            possible_duplicates=count,
            note="an earlier create's answer was lost and no callback named its task: creating again",
        )

    async def _create(
        self, generation: Generation, provider: VideoProvider, model: VideoModel, slot: datetime
    ) -> str | ProviderError:
        """Start the render (the photo uploaded first, once): the provider's task id, or its error."""
        try:
            image_url = await self._image_url(generation, provider) if generation.photo_file_id else None
            try:
                prompt, callback = generation.prompt or generation.idea, self._callback(generation)
                return await provider.create(model, prompt, image_url, callback, generation.duration_s)
            finally:
                await self._settle_slot(_create_bucket(provider), slot)
        except ProviderError as error:
            _count(provider.name, error)
            return error

    async def _record(self, generation: Generation, provider: VideoProvider, model: VideoModel, task_id: str) -> None:
        """The provider has the task: in one transaction save its id, enqueue the poll, move the watchdog to
        the deadline and drop the input photo, so a restart polls instead of creating (and paying) again."""
        app, gid = self.app, generation.id
        await health.succeeded(app, provider)
        async with app.pool.acquire() as conn, conn.transaction():
            rendering = await db_generations.save_task(conn, gid, task_id, app.settings.product.generation_timeout)
            if rendering is not None:
                await enqueue(
                    conn, app.registry, POLL, _payload(generation), delay=poll_delay(0), unique_key=job_key(POLL, gid)
                )
                assert rendering.deadline_at is not None
                await db_jobs.reschedule(conn, job_key(WATCHDOG, gid), rendering.deadline_at + WATCHDOG_GRACE)
                await db_generations.delete_input(conn, gid)
        log.info(
            "generation.submitted",
            generation_id=gid,
            user_id=generation.user_id,
            provider=provider.name,
            task_id=task_id,
            model=model.id,
            photo=bool(generation.photo_file_id),
        )
        if rendering is not None:
            if rendering.confirmed_at and rendering.rendering_at:  # confirmation to acceptance: prompt and line
                metrics.observe_step("submit", (rendering.rendering_at - rendering.confirmed_at).total_seconds())
            await show(app, rendering, "rendering", elapsed_s=0)

    async def _state(self, generation: Generation) -> TaskState | ProviderError:
        """The task as the provider reports it now, or its error."""
        model = self.app.model(generation.model)
        try:
            return await self.app.provider(model).state(model, generation.task_id or "")
        except ProviderError as error:
            _count(generation.provider, error)
            return error

    async def _polled(
        self, generation: Generation, situation: Rendering, outcome: Outcome, decision: Polled
    ) -> Snooze | None:
        """Do what the poll's verdict says."""
        app, gid = self.app, generation.id
        match decision:
            case Overdue(then=then):
                await overdue(app, generation)
                return await self._polled(generation, situation, outcome, then)
            case Wait(seconds=seconds, tick=tick):
                if isinstance(outcome, ProviderError):
                    log.info("generation.poll.unanswered", generation_id=gid, error=outcome.detail)
                if tick:
                    await show(app, generation, "rendering", elapsed_s=situation.elapsed_s)
                return Snooze(seconds)
            case Refund(reason=reason):
                await fail(app, gid, reason)
            case Deliver(url=url, late=late):
                reported = outcome.cost if isinstance(outcome, TaskState) else None
                await self._rendered(generation, situation.elapsed_s, url, late, reported)
            case Recreate(reason=reason):
                await self._recreate(generation, reason)
            case unexpected:
                assert_never(unexpected)
        return None

    async def _recreate(self, generation: Generation, reason: Reason) -> None:
        """One more task for the same generation, free (the charge stands, once): back to submitting with
        the submit enqueued, in one transaction; the uploaded photo (image_url) is reused."""
        app, gid = self.app, generation.id
        async with app.pool.acquire() as conn, conn.transaction():
            again = await db_generations.recreate(conn, gid, generation.task_id or "")
            if again is not None:
                await enqueue(conn, app.registry, SUBMIT, _payload(generation), unique_key=job_key(SUBMIT, gid))
        if again is None:
            return  # moved on meanwhile (cancelled, refunded, or already recreated by another poll)
        metrics.render_recreated(generation.provider, generation.model)
        log.warning(
            "generation.recreated",
            generation_id=gid,
            failed_task_id=generation.task_id,
            error=reason.detail,
            note="one free new task; refunded if it fails too",
        )

    async def _rendered(
        self, generation: Generation, rendering_s: float, url: str, late: bool, reported_cost: float | None = None
    ) -> None:
        """The video is there: keep its URL and what it cost, and enqueue the delivery, in one transaction."""
        app, gid = self.app, generation.id
        spent = costs.cost(generation.model, reported_cost, generation.duration_s)
        async with app.pool.acquire() as conn, conn.transaction():
            if await db_generations.save_video(conn, gid, url):
                await enqueue(conn, app.registry, DELIVER, _payload(generation), unique_key=job_key(DELIVER, gid))
                if spent is not None:
                    await db_generations.set_cost(conn, gid, *spent)
        metrics.observe_step("render", rendering_s)
        log.info(
            "generation.rendered",
            generation_id=gid,
            user_id=generation.user_id,
            task_id=generation.task_id,
            rendering_s=round(rendering_s, 1),
            late=late,
        )

    def _style(self, generation: Generation) -> str | None:
        """The prompt addition of the generation's preset; None without one, or when PRESETS dropped it since
        the confirm (the video is made without a style rather than failed: the price was the same)."""
        preset = find_preset(self.app.settings.growth.presets, generation.preset)
        if generation.preset and preset is None:
            log.warning("generation.preset.gone", generation_id=generation.id, preset=generation.preset)
        return preset.prompt if preset else None

    async def _input_photo(self, generation: Generation) -> bytes | None:
        """The user's photo made 9:16: downloaded from Telegram once per generation, then kept until the
        provider has it. None when it cannot be read (the generation failed and was refunded)."""
        stored = await db_generations.get_input(self.app.pool, generation.id)
        if stored is not None:
            return stored[0]
        assert generation.photo_file_id is not None
        raw = await download_photo(self.app.bot, generation.photo_file_id)
        try:
            photo = await asyncio.to_thread(to_vertical, raw, fit=self.app.settings.product.photo_fit)  # CPU: a second
        except PhotoUnreadable as error:
            await fail(self.app, generation.id, Reason(PHOTO, str(error)))
            return None
        await db_generations.save_input(self.app.pool, generation.id, photo, "image/jpeg")
        await archive_input(self.app.storage, user_id=generation.user_id, generation_id=generation.id, photo=photo)
        return photo

    async def _image_url(self, generation: Generation, provider: VideoProvider) -> str:
        """Where the provider reads the photo: uploaded once, reused by every create attempt."""
        if generation.image_url:
            return generation.image_url
        stored = await db_generations.get_input(self.app.pool, generation.id)
        if stored is None:
            raise Cancel("the input photo is gone before it reached the provider")
        data = stored[0]
        extension, mime = image_type(data)  # named and typed after its bytes, not after what it was stored as
        url = await provider.upload_image(data, f"{generation.id}-{generation.callback_token[:12]}.{extension}", mime)
        await db_generations.set_image_url(self.app.pool, generation.id, url)
        return url

    async def _settle_slot(self, bucket: str, slot: datetime) -> None:
        """The provider counts a create when it arrives, after we took its slot: restamped once answered,
        the slot keeps later creates out until the provider's own window has moved past it too. A failure
        here must not lose the create's answer (a task the provider bills): the slot then counts as taken."""
        try:
            await db_telegram.settle_rate_slot(self.app.pool, bucket, slot)
        except (asyncpg.PostgresError, OSError) as error:
            log.warning("generation.submit.slot_unsettled", bucket=bucket, error=str(error))

    def _callback(self, generation: Generation) -> str | None:
        base = self.app.settings.telegram.public_base_url
        return f"{base}/{generation.provider}/callback/{generation.callback_token}" if base else None

    def _refund_on_last_attempt(
        self, step: Callable[[Job], Awaitable[Snooze | None]]
    ) -> Callable[[Job], Awaitable[Snooze | None]]:
        """A step out of attempts fails its generation (and refunds it) before the job gives up."""

        async def run(job: Job) -> Snooze | None:
            try:
                return await step(job)
            except Exception as error:
                refund = given_up(error, job.last_attempt)
                if refund is not None:
                    await fail(self.app, job.payload["generation_id"], refund.reason)
                raise

        return run


def _payload(generation: Generation) -> dict[str, int]:
    """A pipeline job's payload: the generation, and its user so every log line of the job names both."""
    return {"generation_id": generation.id, "user_id": generation.user_id}


def _create_bucket(provider: VideoProvider) -> str:
    """The rate bucket that spaces the provider's creates across every process."""
    return f"{provider.name}.create"


def _count(provider: str, error: ProviderError) -> None:
    """Every provider error counts in the metrics, by the provider's code when it gave one."""
    metrics.provider_error(
        provider, error.code or ("retryable" if isinstance(error, Retryable | AccountProblem) else type(error).__name__)
    )
