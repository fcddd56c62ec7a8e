"""Error reports reach Sentry (a fake one on 127.0.0.1) with their tags, and without secrets."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import asyncpg
import pytest
import sentry_sdk
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update

from core import errors
from core.bot.fsm import PostgresStorage
from core.bot.updates import UpdateProcessor
from core.logging import scrubber
from core.queue import Registry, enqueue
from core.queue.diag import register_diagnostics
from core.settings import Settings
from tests.fakes.sentry import FakeSentry, parse_envelope
from tests.fakes.telegram import FakeTelegram, message_update
from tests.helpers import SECRETS, BotProcess, bot_env, running

LEAK = f"kie key {SECRETS['KIE_API_KEY']} and bot token {SECRETS['BOT_TOKEN']}"


@pytest.fixture
async def sentry() -> AsyncIterator[FakeSentry]:
    fake = await FakeSentry().start()
    scrubber.update(SECRETS.values())
    assert errors.init(fake.dsn, environment="test")
    yield fake
    await asyncio.to_thread(sentry_sdk.get_client().close, 2.0)
    sentry_sdk.init()  # no DSN: reporting off for the tests that follow
    await fake.stop()


def no_secrets_in(fake: FakeSentry) -> None:
    for envelope in fake.raw:
        for secret in SECRETS.values():
            assert secret.encode() not in envelope


async def test_a_failed_job_is_reported_with_its_tags(
    sentry: FakeSentry, pool: asyncpg.Pool, settings: Settings
) -> None:
    registry = register_diagnostics(Registry())
    async with running(settings, pool, registry):
        job_id = await enqueue(pool, registry, "diag.fail", {"error": LEAK})
        await sentry.wait_for(lambda events: events)
    (event,) = sentry.events
    assert event["tags"]["job_id"] == str(job_id)
    assert event["tags"]["kind"] == "diag.fail"
    assert event["environment"] == "test"
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "kie key *** and bot token ***"
    no_secrets_in(sentry)


async def test_a_job_that_times_out_is_reported_by_its_message(
    sentry: FakeSentry, pool: asyncpg.Pool, settings: Settings
) -> None:
    from core.queue import JobSpec

    async def hangs(_job: object) -> None:
        await asyncio.Event().wait()

    registry = Registry()
    registry.add(JobSpec("t.hangs", hangs, timeout=0.1, max_attempts=1))
    async with running(settings, pool, registry):
        await enqueue(pool, registry, "t.hangs", {"generation_id": 42})
        await sentry.wait_for(lambda events: events)
    (event,) = sentry.events
    assert event["message"] == "timed out after 0.1s" or event["logentry"]["message"] == "timed out after 0.1s"
    assert event["tags"]["kind"] == "t.hangs"


async def test_a_handler_exception_is_reported_scrubbed(
    sentry: FakeSentry, pool: asyncpg.Pool, fake_telegram: FakeTelegram
) -> None:
    router = Router()

    @router.message()
    async def explodes(_message: Message) -> None:
        raise RuntimeError(f"handler bug near {LEAK}")

    dispatcher = Dispatcher(storage=PostgresStorage(pool))
    dispatcher.include_router(router)
    bot = Bot(SECRETS["BOT_TOKEN"], session=AiohttpSession(api=TelegramAPIServer.from_base(fake_telegram.base_url)))
    try:
        processor = UpdateProcessor(pool, dispatcher, bot, messages_per_minute=20)
        update = Update.model_validate(message_update(4242, 777, text="hello"), context={"bot": bot})
        assert await processor.process(update) == "failed"
        await sentry.wait_for(lambda events: events)
    finally:
        await bot.session.close()
    (event,) = sentry.events
    assert event["tags"]["update_id"] == "4242"
    assert event["tags"]["user_id"] == "777"
    assert event["tags"]["update_type"] == "message"
    assert event["exception"]["values"][-1]["value"] == "handler bug near kie key *** and bot token ***"
    no_secrets_in(sentry)


def test_envelope_parser_reads_items_with_and_without_length() -> None:
    body = b'{"event_id":"x"}\n{"type":"event","length":7}\n{"a":1}\n{"type":"client_report"}\n{"b":2}\n'
    assert parse_envelope(body) == [
        ({"type": "event", "length": 7}, b'{"a":1}'),
        ({"type": "client_report"}, b'{"b":2}'),
    ]


def test_without_a_dsn_nothing_is_set_up() -> None:
    assert errors.init(None, environment="test") is False
    errors.report(RuntimeError("nowhere to go"))  # a no-op, not an error


async def test_a_worker_process_reports_with_sentry_dsn_set(database_url: str, pool: asyncpg.Pool) -> None:
    """bot.py sets reporting up from SENTRY_DSN; the report leaves before the process exits."""
    fake = await FakeSentry().start()
    try:
        worker = await BotProcess.start(bot_env(database_url, SENTRY_DSN=fake.dsn), "--role", "worker")
        await worker.wait_for_event("runtime.started")
        await pool.execute(
            "INSERT INTO jobs (kind, payload, max_attempts) VALUES ('diag.fail', $1, 1)", {"error": LEAK}
        )
        await fake.wait_for(lambda events: events, timeout=30)
        worker.signal(signal.SIGTERM)
        assert await worker.wait() == 0
        (event,) = fake.events
        assert event["tags"]["kind"] == "diag.fail"
        assert event["environment"] == "production"
        no_secrets_in(fake)
        assert fake.dsn.split("@")[0].split("//")[1] in fake.auth[0], "the DSN's public key authenticates"
    finally:
        await fake.stop()
