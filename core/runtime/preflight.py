"""Preflight: is every outside service this bot needs ready? One line per check, with how to fix it.

``python bot.py check`` (or ``reelsmith check``) prints the lines and exits 0 only when all pass; the
start runs the same checks in the background and logs them, without waiting for them. Every check
only reads: nothing here sets or deletes the webhook, so it is safe beside the live bot.

Each check is a network call followed by a plain function that judges the answer (``judge_*``), so the
decisions are testable without a network.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
import asyncpg
import structlog
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import WebhookInfo

from core.bot.frontend import WEBHOOK_PATH
from core.providers.base import AccountProblem, ProviderError, Retryable, VideoProvider
from core.providers.kie import KieProvider
from core.settings import Settings
from core.settings.sections import OpenAISettings, StorageSettings, TelegramSettings
from core.storage import STORAGE_ERRORS, open_storage
from db.migrate import applied_versions, discover
from db.pool import connect

OPENAI_BASE_URL = "https://api.openai.com/v1"  # the SDK's default

log = structlog.get_logger("preflight")

CHECK_TIMEOUT = 15.0  # seconds; a service slower than this to answer one read is not ready either
RECENT_ERROR = 3600.0  # a webhook delivery error younger than this still matters


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""  # what to do about it, when not ok

    def line(self) -> str:
        if self.ok:
            return f"✅ {self.name}: {self.detail}"
        return f"❌ {self.name}: {self.detail}\n   fix: {self.hint}"


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, hint: str) -> Check:
    return Check(name, False, detail, hint)


# --- judging answers: plain functions ------------------------------------------------------------


def judge_migrations(server_version: str, applied: set[int] | None, known: set[int]) -> Check:
    """``applied`` is None when the database has no schema_migrations table yet."""
    name = "Database"
    if applied is None:
        applied = set()
    pending, unknown = known - applied, applied - known
    if unknown:
        return failed(
            name,
            f"PostgreSQL {server_version}; migrations {sorted(unknown)} are newer than this code",
            "the database was migrated by a newer release: deploy that release (or newer) here too",
        )
    if pending:
        return failed(
            name,
            f"PostgreSQL {server_version}; {len(pending)} migration(s) not applied: {sorted(pending)}",
            "run `reelsmith migrate` (or `python bot.py migrate`), or start the bot: it migrates at start",
        )
    return passed(name, f"PostgreSQL {server_version}, migrations current ({len(known)})")


def judge_webhook(info: WebhookInfo, settings: TelegramSettings, *, now: float) -> Check:
    name = "Webhook"
    expected = f"{settings.public_base_url}{WEBHOOK_PATH}" if settings.webhook_mode else ""
    pending = f"{info.pending_update_count} update(s) pending"
    if not settings.webhook_mode:
        if info.url:
            return failed(
                name,
                f"long-polling mode (PUBLIC_BASE_URL is empty), but this bot's webhook is set to {info.url}",
                "starting here would remove that webhook and take the updates of the bot deployed there: "
                "use a second bot token (@BotFather /newbot) for local runs, or set PUBLIC_BASE_URL",
            )
        return passed(name, f"long-polling mode (PUBLIC_BASE_URL is empty): no webhook set, {pending}")
    if not info.url:
        return failed(
            name,
            f"not set (expected {expected}); {pending}",
            "start the web process (`--role all` or `--role web`): it sets the webhook at start",
        )
    if info.url != expected:
        return failed(
            name,
            f"set to {info.url}, expected {expected}",
            "PUBLIC_BASE_URL differs from where the webhook points: fix PUBLIC_BASE_URL, or restart the web "
            "process so it sets the webhook again; if another deployment or a local run uses this token, "
            "give it a bot token of its own",
        )
    error_date = info.last_error_date.timestamp() if info.last_error_date else None
    if info.last_error_message and error_date is not None and now - error_date < RECENT_ERROR:
        minutes = max(0, int((now - error_date) // 60))
        return failed(
            name,
            f"{info.url}, {pending}; Telegram's last delivery failed {minutes} min ago: {info.last_error_message}",
            _webhook_error_hint(info.last_error_message),
        )
    return passed(name, f"{info.url}, {pending}")


def _webhook_error_hint(message: str) -> str:
    if "401" in message or "403" in message:
        return (
            "the secret Telegram sends is not this process's: another deployment set the webhook with its own "
            "WEBHOOK_SECRET (or another database's stored secret); give every process the same WEBHOOK_SECRET and "
            "restart"
        )
    if "503" in message or "502" in message or "timeout" in message.lower():
        return "the service was down or its database unreachable: check /readyz and the logs around that time"
    return "Telegram could not deliver to PUBLIC_BASE_URL: check that it is reachable over https from outside"


def judge_kie_balance(balance: float, minimum: float) -> Check:
    if balance < minimum:
        return failed(
            "KIE",
            f"key valid; {balance:g} credits, below KIE_MIN_BALANCE={minimum:g}",
            "top up at kie.ai/billing: with no credits new videos wait in line and confirms are refused",
        )
    return passed("KIE", f"key valid; {balance:g} credits (KIE_MIN_BALANCE={minimum:g})")


def judge_kie_error(error: ProviderError) -> Check:
    if isinstance(error, AccountProblem) and error.code == "401":
        return failed("KIE", f"key refused ({error})", "KIE_API_KEY is wrong: copy it again from kie.ai/api-key")
    if isinstance(error, Retryable) and "unreachable" in error.detail:
        return failed("KIE", str(error), "KIE_BASE_URL unreachable from here: check it and the outbound network")
    return failed("KIE", str(error), "KIE answered an error: see kie.ai status, then run the check again")


# --- the checks -----------------------------------------------------------------------------------


async def check_database(database_url: str, *, transaction_pooler: bool) -> Check:
    try:
        conn = await connect(database_url, transaction_pooler=transaction_pooler)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
        return failed(
            "Database",
            f"unreachable: {type(error).__name__}: {error}",
            "check DATABASE_URL (host, port, user, password, database) and that this host may connect",
        )
    try:
        version = conn.get_server_version()
        applied = await applied_versions(conn)
    finally:
        await conn.close()
    server = f"{version.major}.{version.minor}"
    return judge_migrations(server, applied, {m.version for m in discover()})


def preflight_bot(settings: TelegramSettings) -> Bot:
    """A plain Bot for reading: none of the running bot's retry or blocked-user middleware."""
    api = TelegramAPIServer.from_base(settings.api_base, is_local=settings.api_local)
    return Bot(settings.token, session=AiohttpSession(api=api))


async def check_telegram(bot: Bot) -> Check:
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        return failed("Telegram", "the token was refused", "BOT_TOKEN is wrong or revoked: @BotFather /token")
    except (TelegramAPIError, ClientDecodeError, aiohttp.ClientError, TimeoutError) as error:
        return failed(
            "Telegram", f"getMe failed: {type(error).__name__}", "TELEGRAM_API_BASE unreachable: check it and egress"
        )
    name = f"@{me.username} (id {me.id})"
    if not me.supports_inline_queries:  # optional: only sharing needs it, so it says so and still passes
        return passed("Telegram", f"{name}; inline mode off, no Share buttons: @BotFather /setinline")
    return passed("Telegram", name)


async def check_webhook(bot: Bot, settings: TelegramSettings) -> Check:
    try:
        info = await bot.get_webhook_info()
    except (TelegramAPIError, ClientDecodeError, aiohttp.ClientError, TimeoutError) as error:
        return failed("Webhook", f"getWebhookInfo failed: {type(error).__name__}", "see the Telegram line")
    return judge_webhook(info, settings, now=time.time())


async def check_kie(provider: VideoProvider, minimum: float) -> Check:
    """The balance, through the same provider interface the pipeline uses."""
    try:
        balance = await provider.balance()
    except ProviderError as error:
        return judge_kie_error(error)
    return judge_kie_balance(balance, minimum)


async def check_openai(http: aiohttp.ClientSession, settings: OpenAISettings) -> Check:
    """``GET /models/{model}``, as the SDK would ask it, over plain HTTP: importing the SDK here would load
    it into every process at start (see core/providers/prompter.py's OpenAIClient)."""
    model = settings.model
    url = f"{(settings.base_url or OPENAI_BASE_URL).rstrip('/')}/models/{quote(model, safe='')}"
    headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}
    try:
        async with http.get(url, headers=headers) as response:
            status = response.status
            reason = response.reason or ""
    except (aiohttp.ClientError, ValueError) as error:
        return failed("OpenAI", f"{type(error).__name__}", "OPENAI_BASE_URL unreachable or failing: check it")
    if status == 401:
        return failed(
            "OpenAI", "the key was refused", "OPENAI_API_KEY is wrong or revoked: platform.openai.com/api-keys"
        )
    if status == 404:
        return failed(
            "OpenAI",
            f"key valid; model {model!r} is not available to it",
            "set OPENAI_MODEL to a model this key can use (GET /v1/models lists them)",
        )
    if status >= 400:
        return failed("OpenAI", f"HTTP {status} {reason}".strip(), "OPENAI_BASE_URL unreachable or failing: check it")
    return passed("OpenAI", f"key valid; model {model} available")


STORAGE_PROBE = b"reelsmith storage check"


async def check_storage(settings: StorageSettings) -> Check:
    """With STORAGE_URL: both buckets exist, and in each a probe object can be written, read back and
    deleted (the rights the archive needs), so a wrong key or bucket shows here, not at the first video."""
    hint = "check STORAGE_URL, the access keys and their rights (write, read, delete) on both buckets"
    async with open_storage(settings) as storage:
        assert storage is not None  # only called with STORAGE_URL set
        bucket = storage.inputs
        try:
            for bucket in (storage.inputs, storage.outputs):
                if not await storage.bucket_exists(bucket):
                    return failed(
                        "Storage",
                        f"bucket {bucket!r} does not exist",
                        "create it, or set STORAGE_INPUTS_BUCKET / STORAGE_OUTPUTS_BUCKET to buckets that exist",
                    )
                key = f"reelsmith-check/{secrets.token_hex(8)}"
                await storage.put(bucket, key, STORAGE_PROBE, "text/plain")
                read = await storage.get(bucket, key)
                await storage.delete(bucket, key)
                if read != STORAGE_PROBE:
                    return failed("Storage", f"{bucket}: the probe object read back differs", hint)
        except STORAGE_ERRORS as error:
            return failed("Storage", f"{bucket}: {type(error).__name__}: {error}", hint)
    return passed("Storage", f"buckets {storage.inputs} and {storage.outputs}: write, read and delete work")


async def run_checks(settings: Settings, database_url: str) -> list[Check]:
    """Every check, at once; each bounded by CHECK_TIMEOUT. In a fixed order for reading."""
    bot = preflight_bot(settings.telegram)
    timeout = aiohttp.ClientTimeout(total=CHECK_TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            named: list[tuple[str, Awaitable[Check]]] = [
                ("Database", check_database(database_url, transaction_pooler=settings.database.transaction_pooler)),
                ("Telegram", check_telegram(bot)),
                ("Webhook", check_webhook(bot, settings.telegram)),
                (
                    "KIE",
                    check_kie(
                        KieProvider.configured(settings.kie, http, timeout_s=CHECK_TIMEOUT), settings.kie.min_balance
                    ),
                ),
                ("OpenAI", check_openai(http, settings.openai)),
            ]
            if settings.storage.url:
                named.append(("Storage", check_storage(settings.storage)))
            return list(await asyncio.gather(*(_bounded(name, check) for name, check in named)))
    finally:
        await bot.session.close()


async def _bounded(name: str, check: Awaitable[Check]) -> Check:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        return failed(name, f"no answer within {CHECK_TIMEOUT:g}s", "the service or the network is too slow or down")


async def print_checks(settings: Settings, database_url: str, out: Callable[[str], object] = print) -> bool:
    """``python bot.py check``: one line per check; True when all passed."""
    checks = await run_checks(settings, database_url)
    for check in checks:
        out(check.line())
    ok = all(c.ok for c in checks)
    out("All checks passed." if ok else f"{sum(not c.ok for c in checks)} check(s) failed.")
    return ok


async def log_checks(settings: Settings, database_url: str, *, delay: float = 0.0) -> None:
    """The same checks at start, logged: a failing one is a warning, never a reason not to start."""
    await asyncio.sleep(delay)
    for check in await run_checks(settings, database_url):
        if check.ok:
            log.info("preflight.passed", check=check.name, detail=check.detail)
        else:
            log.warning("preflight.failed", check=check.name, detail=check.detail, hint=check.hint)
