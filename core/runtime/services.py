"""Building the long-lived services one process shares (``App``, core/pipeline/services.py): once at
start, closed once at the end."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

import aiohttp
import asyncpg
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from core.pipeline.services import App
from core.providers import Providers
from core.providers.base import VideoProvider
from core.providers.kie import KieProvider
from core.providers.moderation import Moderator
from core.providers.prompter import OpenAIClient, Prompter
from core.settings import Settings
from core.settings.sections import TelegramSettings
from core.storage import open_storage
from core.telegram.limiter import SendLimiter
from core.telegram.session import TelegramResilience


def build_bot(settings: TelegramSettings, pool: asyncpg.Pool, limiter: SendLimiter | None = None) -> Bot:
    api = TelegramAPIServer.from_base(settings.api_base, is_local=settings.api_local)
    session = AiohttpSession(api=api)
    session.middleware(TelegramResilience(pool, limiter))
    return Bot(settings.token, session=session)


@contextlib.asynccontextmanager
async def services(
    settings: Settings, pool: asyncpg.Pool, *, extra_providers: Iterable[VideoProvider] = ()
) -> AsyncIterator[App]:
    """The process's services. ``extra_providers`` serve families KIE does not (a test's provider)."""
    http = aiohttp.ClientSession()
    limiter = SendLimiter(pool)
    bot = build_bot(settings.telegram, pool, limiter)
    prompter_client = OpenAIClient(settings.openai)
    providers = Providers(
        [*extra_providers, KieProvider.configured(settings.kie, http, shutdown_grace_s=settings.runtime.shutdown_grace)]
    )
    try:
        async with open_storage(settings.storage) as storage:
            prompter = Prompter(prompter_client, settings.openai.model)
            moderator = (
                Moderator(prompter_client, timeout=settings.product.moderation_timeout)
                if settings.product.moderation
                else None
            )
            yield App(settings, pool, bot, providers, prompter, http, limiter, storage, moderator)
    finally:
        await limiter.close()
        await bot.session.close()
        await prompter_client.close()
        await http.close()
