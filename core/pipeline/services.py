"""The long-lived services one process shares, as the pipeline and the handlers see them; built and
closed by the runtime (core/runtime/services.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import asyncpg
from aiogram import Bot

from core.catalogue import VideoModel
from core.pipeline.medians import RenderMedians
from core.providers import Providers
from core.providers.base import VideoProvider
from core.providers.moderation import Moderator
from core.providers.prompter import Prompter
from core.queue import Registry
from core.settings import Settings
from core.storage import Storage
from core.telegram.limiter import SendLimiter


@dataclass
class App:
    settings: Settings
    pool: asyncpg.Pool
    bot: Bot
    providers: Providers
    prompter: Prompter
    http: aiohttp.ClientSession  # downloads of videos and photos
    limiter: SendLimiter  # bot-wide pace for bulk sends (broadcasts), shared by every process
    storage: Storage | None = None  # the archive of photos and videos, when STORAGE_URL is set
    moderator: Moderator | None = None  # checks ideas before their proposal; None with MODERATION=false
    registry: Registry = field(default_factory=Registry)
    render_medians: RenderMedians = field(default_factory=RenderMedians)  # the progress bars' estimates

    async def bot_username(self) -> str:
        """The bot's @username (for invitation links): learned by getMe during Telegram set-up
        (core/bot/frontend.py), then aiogram's cache, so no network call once the bot is up."""
        return (await self.bot.me()).username or ""

    def model(self, model_id: str) -> VideoModel:
        return self.settings.product.video_models[model_id]

    def provider(self, model: VideoModel) -> VideoProvider:
        return self.providers.for_model(model)
