"""How updates reach the bot: Telegram's webhook when PUBLIC_BASE_URL is set, long polling otherwise.

Both feed the same UpdateProcessor, and both acknowledge an update only once it is applied: the
webhook answers 200 after the commit, polling moves its offset past an update after the commit.
Polling is for local runs: only one process may poll a bot at a time.
"""

from __future__ import annotations

import asyncio
import hmac

import structlog
from aiogram import Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.types import BotCommand, Update
from aiohttp import web
from pydantic import ValidationError

from core import metrics
from core.app import App
from core.bot.handlers import build_router
from core.bot.storage import PostgresStorage
from core.bot.updates import DB_UNAVAILABLE, UpdateProcessor
from core.supervisor import Supervisor

log = structlog.get_logger("telegram")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
POLL_TIMEOUT_S = 25
COMMANDS = {
    "start": "Start, and get your free credits",
    "help": "How it works",
    "balance": "Your credits",
    "history": "Your recent videos",
    "cancel": "Drop the current idea",
}


class TelegramFrontend:
    def __init__(self, app: App) -> None:
        self.app = app
        self.dispatcher = Dispatcher(storage=PostgresStorage(app.pool), app=app)
        self.dispatcher.include_router(build_router())
        self.processor = UpdateProcessor(
            app.pool, self.dispatcher, app.bot, messages_per_minute=app.settings.user_messages_per_minute
        )
        self._secret = app.settings.telegram_secret.encode()
        self._supervisor: Supervisor | None = None

    @property
    def allowed_updates(self) -> list[str]:
        return self.dispatcher.resolve_used_update_types()

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post(WEBHOOK_PATH, self.webhook)

    async def start(self, supervisor: Supervisor) -> None:
        settings, bot = self.app.settings, self.app.bot
        await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in COMMANDS.items()])
        if settings.webhook_mode:
            url = f"{settings.public_base_url}{WEBHOOK_PATH}"
            # Never drop pending updates: whatever arrived while we were down is still owed an answer.
            await bot.set_webhook(
                url,
                secret_token=settings.telegram_secret,
                allowed_updates=self.allowed_updates,
                drop_pending_updates=False,
            )
            log.info("telegram.webhook.set", url=url, allowed_updates=self.allowed_updates)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            self._supervisor = supervisor
            supervisor.start("telegram.polling", self.poll)
            log.info("telegram.polling.started", note="PUBLIC_BASE_URL is unset: long polling (one process only)")

    async def stop(self) -> None:
        # Safe at any point: an update is acknowledged (offset moved) only after it committed.
        if self._supervisor is not None:
            await self._supervisor.cancel("telegram.polling")

    @metrics.timed_webhook
    async def webhook(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self._secret):
            return web.Response(status=401, text="unauthorized")
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.app.bot})
        except (ValueError, ValidationError):
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self.processor.process(update)
        except DB_UNAVAILABLE as error:
            log.error("telegram.update.deferred", update_id=update.update_id, error=str(error) or type(error).__name__)
            return web.Response(status=503, text="try again later")
        return web.Response(status=200)

    async def poll(self) -> None:
        offset: int | None = None
        delay = 1.0
        while True:
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset,
                    timeout=POLL_TIMEOUT_S,
                    allowed_updates=self.allowed_updates,
                    request_timeout=POLL_TIMEOUT_S + 10,
                )
            except (TelegramNetworkError, TelegramServerError) as error:
                log.warning("telegram.polling.unreachable", error=str(error), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            for update in updates:
                await self.processor.process(update)
                offset = update.update_id + 1
