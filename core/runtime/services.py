"""Building the long-lived services one process shares (``App``, core/pipeline/services.py): once at
start, closed once at the end."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

import aiohttp
import asyncpg
import openai
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from core.pipeline.services import App
from core.providers import Providers
from core.providers.base import VideoProvider
from core.providers.kie import KieProvider
from core.providers.prompter import Prompter
from core.settings import Settings
from core.storage import open_storage
from core.telegram.limiter import SendLimiter
from core.telegram.session import TelegramResilience


def build_bot(settings: Settings, pool: asyncpg.Pool, limiter: SendLimiter | None = None) -> Bot:
    api = TelegramAPIServer.from_base(settings.telegram_api_base, is_local=settings.telegram_api_local)
    session = AiohttpSession(api=api)
    session.middleware(TelegramResilience(pool, limiter))
    return Bot(settings.bot_token, session=session)


@contextlib.asynccontextmanager
async def services(
    settings: Settings, pool: asyncpg.Pool, *, extra_providers: Iterable[VideoProvider] = ()
) -> AsyncIterator[App]:
    """The process's services. ``extra_providers`` serve families KIE does not (a test's provider)."""
    http = aiohttp.ClientSession()
    limiter = SendLimiter(pool)
    bot = build_bot(settings, pool, limiter)
    openai_client = openai.AsyncOpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,  # None: the SDK's default (it reads no environment here)
        timeout=settings.openai_timeout,
        max_retries=1,
    )
    kie = KieProvider(
        http,
        api_key=settings.kie_api_key,
        base_url=settings.kie_base_url,
        upload_base_url=settings.kie_upload_base_url,
        hmac_key=settings.kie_webhook_hmac_key,
        creates_per_10s=settings.kie_creates_per_10s,
        min_balance=settings.kie_min_balance,
        timeout_s=settings.kie_timeout,
    )
    providers = Providers([*extra_providers, kie])
    try:
        async with open_storage(settings) as storage:
            prompter = Prompter(openai_client, settings.openai_model)
            yield App(settings, pool, bot, providers, prompter, http, limiter, storage)
    finally:
        await limiter.close()
        await bot.session.close()
        await openai_client.close()
        await http.close()
