"""How updates reach the bot: Telegram's webhook when PUBLIC_BASE_URL is set, long polling otherwise.

Both feed the same UpdateProcessor, and both acknowledge an update only once it is applied: the
webhook answers 200 after the commit, polling moves its offset past an update after the commit.
Polling is for local runs: only one process may poll a bot at a time.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import structlog
from aiogram import Dispatcher
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiohttp import web

from core import metrics
from core.backoff import Backoff
from core.bot.fsm import PostgresStorage
from core.bot.handlers import build_routers
from core.bot.updates import DB_UNAVAILABLE, UpdateProcessor, update_id_of
from core.exits import EXIT_CONFIG, Fatal
from core.pipeline.services import App
from core.queue.outcomes import describe
from core.tasks import Starter
from core.telegram.webhook_secret import resolve_webhook_secret
from core.web.body import BodyError, clean_object, read_json_object
from core.web.server import Check
from db import telegram as db_telegram

log = structlog.get_logger("telegram")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
POLL_TIMEOUT_S = 25
TELEGRAM_BACKOFF = Backoff(base=1.0, cap=30.0, jitter=0)  # reaching Telegram at start, and long polling
DATABASE_BACKOFF = Backoff(base=1.0, cap=10.0, jitter=0)  # a polled update waiting for the database
REPLIES_GRACE_S = 5.0  # at shutdown, for replies still going out (one may be waiting out a 429)


class RawGetUpdates(GetUpdates):
    """getUpdates answered as plain JSON, so each update is validated on its own: with aiogram's
    own method one update it cannot read fails the whole batch, and the offset never moves past it."""

    __returning__ = list[Any]


class TelegramFrontend:
    def __init__(self, app: App) -> None:
        self.app = app
        self.dispatcher = Dispatcher(storage=PostgresStorage(app.pool), app=app)
        self.dispatcher.include_routers(*build_routers())
        self.processor = UpdateProcessor(
            app.pool, self.dispatcher, app.bot, messages_per_minute=app.settings.product.user_messages_per_minute
        )
        self._secret: bytes | None = None  # resolved at start (core/telegram/webhook_secret.py)
        self._supervisor: Starter | None = None
        self._not_ready: str | None = "setting up Telegram"
        self.set_up_done = asyncio.Event()

    @property
    def allowed_updates(self) -> list[str]:
        return self.dispatcher.resolve_used_update_types()

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post(WEBHOOK_PATH, self.webhook)

    def checks(self) -> dict[str, Check]:
        return {"telegram": self._telegram_ready}

    async def _telegram_ready(self) -> bool | str:
        return self._not_ready or True

    @property
    def secret(self) -> str:
        """The webhook secret this process checks and hands to setWebhook; known once started."""
        assert self._secret is not None, "TelegramFrontend.start resolves the secret"
        return self._secret.decode()

    async def start(self, supervisor: Starter) -> None:
        """Set up in the background: the web server (health checks, webhook) is up meanwhile."""
        self._supervisor = supervisor
        configured = self.app.settings.telegram.webhook_secret
        secret = await resolve_webhook_secret(
            self.app.pool, self.app.bot.id, configured.get_secret_value() if configured else None
        )
        self._secret = secret.encode()
        adopted = await db_telegram.adopt_updates(self.app.pool, self.app.bot.id)
        if adopted:
            log.info("telegram.updates.adopted", bot_id=self.app.bot.id, updates=adopted, note="dedupe is per bot now")
        supervisor.start("telegram.setup", self.set_up)

    async def set_up(self) -> None:
        """The webhook (or polling); the command menus are core/bot/menus.py's. While Telegram cannot
        be reached: retry with backoff and say so on /readyz. A token Telegram refuses stops the
        process (78)."""
        failures = 0
        while True:
            try:
                await self._connect()
                self._not_ready = None
                self.set_up_done.set()
                return
            except TelegramUnauthorizedError as error:
                raise Fatal(f"BOT_TOKEN: Telegram refused the bot token ({error.message})", EXIT_CONFIG) from None
            except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, ClientDecodeError) as error:
                # ClientDecodeError: an HTML 502 page or a body that is no Bot API JSON; Telegram's front
                # answers so in its bad minutes, and it passes like any other outage.
                self._not_ready = f"Telegram unreachable: {error}"
                failures += 1
                delay = TELEGRAM_BACKOFF.delay(failures)
                log.warning("telegram.unreachable", error=str(error), retry_in_s=delay, note="the bot waits for it")
                await asyncio.sleep(delay)

    async def _connect(self) -> None:
        settings, bot = self.app.settings, self.app.bot
        await bot.me()  # cached by aiogram: invitation links need the username, never inside a transaction
        if settings.telegram.webhook_mode:
            url = f"{settings.telegram.public_base_url}{WEBHOOK_PATH}"
            # Never drop pending updates: whatever arrived while we were down is still owed an answer.
            await bot.set_webhook(
                url,
                secret_token=self.secret,
                allowed_updates=self.allowed_updates,
                drop_pending_updates=False,
            )
            log.info("telegram.webhook.set", url=url, allowed_updates=self.allowed_updates)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            assert self._supervisor is not None
            self._supervisor.start("telegram.polling", self.poll)
            log.info("telegram.polling.started", note="PUBLIC_BASE_URL is unset: long polling (one process only)")

    async def stop(self) -> None:
        # Safe at any point: an update is acknowledged (offset moved) only after it committed.
        if self._supervisor is not None:
            await self._supervisor.cancel(
                *[n for n in ("telegram.setup", "telegram.polling") if n in self._supervisor.tasks]
            )
        await self.processor.replies.close(REPLIES_GRACE_S)

    @metrics.timed_webhook
    async def webhook(self, request: web.Request) -> web.Response:
        if self._secret is None:  # the web server is up a moment before the frontend has started
            return web.Response(status=503, text="starting")
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self._secret):
            return web.Response(status=401, text="unauthorized")
        try:
            body = await read_json_object(request)
        except BodyError as error:
            return web.Response(status=400, text=f"not a Telegram update: {error}")
        try:
            outcome = await self.processor.process_raw(body)
        except DB_UNAVAILABLE as error:
            log.error("telegram.update.deferred", update_id=body.get("update_id"), error=describe(error))
            return web.Response(status=503, text="try again later")
        if outcome is None:
            return web.Response(status=400, text="not a Telegram update: no update_id")
        return web.Response(status=200)

    async def poll(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            method = RawGetUpdates(offset=offset, timeout=POLL_TIMEOUT_S, allowed_updates=self.allowed_updates)
            try:
                batch = await self.app.bot(method, request_timeout=POLL_TIMEOUT_S + 10)
            except TelegramRetryAfter as error:
                log.warning("telegram.polling.rate_limited", retry_after_s=error.retry_after)
                await asyncio.sleep(error.retry_after)
                continue
            except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as error:
                failures += 1
                delay = TELEGRAM_BACKOFF.delay(failures)
                log.warning("telegram.polling.unreachable", error=str(error), retry_in_s=delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for raw in batch:
                update_id = update_id_of(raw) if isinstance(raw, dict) else None
                if update_id is None:  # Telegram never sends one; nothing to record it under
                    log.error("telegram.polling.not_an_update", body=str(raw)[:200])
                    continue
                await self._apply_polled(update_id, raw)
                offset = update_id + 1

    async def _apply_polled(self, update_id: int, raw: dict[str, Any]) -> None:
        """Apply one polled update; while the database is away, wait for it (the offset stays)."""
        failures = 0
        while True:
            try:
                try:
                    body = clean_object(raw)
                except BodyError as error:
                    await self.processor.skip(update_id, raw, str(error))
                    return
                await self.processor.process_raw(body)
                return
            except DB_UNAVAILABLE as error:
                failures += 1
                delay = DATABASE_BACKOFF.delay(failures)
                log.warning("telegram.update.deferred", update_id=update_id, error=describe(error), retry_in_s=delay)
                await asyncio.sleep(delay)
