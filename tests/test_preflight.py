"""Preflight (core/runtime/preflight.py, ``python bot.py check``): each check passes against the fakes, and fails
with its fix hint when its fake answers wrong. The check only reads."""

from __future__ import annotations

import signal
import time

import pytest

from core.runtime.preflight import Check, judge_migrations, print_checks, run_checks
from core.settings import Settings
from core.storage import open_storage
from tests.fakes.kie import FakeKie
from tests.fakes.openai import FakeOpenAI
from tests.fakes.s3 import FakeS3
from tests.fakes.telegram import FakeTelegram
from tests.helpers import BotProcess

WRITES = ("setWebhook", "deleteWebhook", "sendMessage", "setMyCommands")


def set_webhook(telegram: FakeTelegram, url: str) -> None:
    """The webhook as the live web process left it (set through the fake's state, not by the check)."""
    telegram.webhook = {
        "url": url,
        "secret_token": None,
        "allowed_updates": None,
        "drop_pending_updates": False,
        "max_connections": None,
    }


@pytest.fixture
def env(bot_environment: dict[str, str], fake_telegram: FakeTelegram) -> dict[str, str]:
    """Webhook mode against the fakes, with the webhook set where PUBLIC_BASE_URL says."""
    set_webhook(fake_telegram, f"{bot_environment['PUBLIC_BASE_URL']}/telegram/webhook")
    return bot_environment


async def checks(env: dict[str, str], **overrides: str) -> dict[str, Check]:
    settings = Settings.from_env({**env, **overrides})
    return {c.name: c for c in await run_checks(settings, settings.database.dsn or "")}


async def test_every_check_passes_against_the_fakes_and_only_reads(
    env: dict[str, str], fake_telegram: FakeTelegram
) -> None:
    lines: list[str] = []
    assert await print_checks(Settings.from_env(env), env["DATABASE_URL"], out=lines.append) is True
    assert [line.split(":")[0] for line in lines[:5]] == [
        "✅ Database",
        "✅ Telegram",
        "✅ Webhook",
        "✅ KIE",
        "✅ OpenAI",
    ]
    assert lines[5] == "All checks passed."
    assert "migrations current" in lines[0]
    assert "10000 credits" in lines[3]
    assert "model gpt-4.1-mini available" in lines[4]
    assert [c.method for c in fake_telegram.requests if c.method in WRITES] == []


async def test_database_unreachable_or_not_migrated(env: dict[str, str], empty_database_url: str) -> None:
    unreachable = (await checks(env, DATABASE_URL="postgresql://nobody@127.0.0.1:9/none"))["Database"]
    assert not unreachable.ok and "unreachable" in unreachable.detail
    assert "check DATABASE_URL" in unreachable.hint

    empty = (await checks(env, DATABASE_URL=empty_database_url))["Database"]
    assert not empty.ok and "not applied" in empty.detail
    assert "reelsmith migrate" in empty.hint


def test_migrations_judged_against_this_code() -> None:
    assert judge_migrations("15.4", {1, 2}, {1, 2}).ok
    fresh = judge_migrations("15.4", None, {1, 2})
    assert not fresh.ok and "2 migration(s) not applied: [1, 2]" in fresh.detail
    ahead = judge_migrations("15.4", {1, 2, 3}, {1, 2})
    assert not ahead.ok and "[3] are newer than this code" in ahead.detail
    assert "deploy that release" in ahead.hint


async def test_telegram_refuses_a_wrong_token(env: dict[str, str]) -> None:
    found = await checks(env, BOT_TOKEN="999999:WRONG-token-abcdefghijklmnopqrstuv")
    assert not found["Telegram"].ok
    assert "@BotFather" in found["Telegram"].hint


async def test_webhook_elsewhere_missing_or_failing(env: dict[str, str], fake_telegram: FakeTelegram) -> None:
    set_webhook(fake_telegram, "https://old.example.com/telegram/webhook")
    elsewhere = (await checks(env))["Webhook"]
    assert not elsewhere.ok and "expected " + env["PUBLIC_BASE_URL"] in elsewhere.detail
    assert "PUBLIC_BASE_URL" in elsewhere.hint

    fake_telegram.webhook = None
    missing = (await checks(env))["Webhook"]
    assert not missing.ok and missing.detail.startswith("not set")
    assert "sets the webhook at start" in missing.hint

    set_webhook(fake_telegram, f"{env['PUBLIC_BASE_URL']}/telegram/webhook")
    fake_telegram.webhook_last_error = (int(time.time()) - 120, "Wrong response from the webhook: 401 Unauthorized")
    failing = (await checks(env))["Webhook"]
    assert not failing.ok and "401 Unauthorized" in failing.detail
    assert "WEBHOOK_SECRET" in failing.hint

    fake_telegram.webhook_last_error = (int(time.time()) - 86400, "Wrong response from the webhook: 401 Unauthorized")
    assert (await checks(env))["Webhook"].ok, "an error from yesterday is history"
    assert [c.method for c in fake_telegram.requests if c.method in WRITES] == []


async def test_long_polling_says_so_and_warns_of_a_production_webhook(
    env: dict[str, str], fake_telegram: FakeTelegram
) -> None:
    stolen = (await checks(env, PUBLIC_BASE_URL=""))["Webhook"]
    assert not stolen.ok and stolen.detail.startswith("long-polling mode")
    assert "second bot token" in stolen.hint
    assert fake_telegram.webhook is not None, "the check never deletes the webhook"

    fake_telegram.webhook = None
    polling = (await checks(env, PUBLIC_BASE_URL=""))["Webhook"]
    assert polling.ok and polling.detail.startswith("long-polling mode")


async def test_kie_low_balance_and_wrong_key(env: dict[str, str], fake_kie: FakeKie) -> None:
    fake_kie.credits = 40
    low = (await checks(env, KIE_MIN_BALANCE="100"))["KIE"]
    assert not low.ok and "40 credits, below KIE_MIN_BALANCE=100" in low.detail
    assert "top up" in low.hint
    assert (await checks(env, KIE_MIN_BALANCE="40"))["KIE"].ok

    wrong = (await checks(env, KIE_API_KEY="not-the-key"))["KIE"]
    assert not wrong.ok and "KIE_API_KEY is wrong" in wrong.hint


async def test_openai_wrong_key_and_unknown_model(env: dict[str, str], fake_openai: FakeOpenAI) -> None:
    wrong = (await checks(env, OPENAI_API_KEY="sk-wrong"))["OpenAI"]
    assert not wrong.ok and "OPENAI_API_KEY is wrong" in wrong.hint

    unknown = (await checks(env, OPENAI_MODEL="gpt-9-imaginary"))["OpenAI"]
    assert not unknown.ok and "'gpt-9-imaginary' is not available" in unknown.detail
    assert "OPENAI_MODEL" in unknown.hint
    assert [c.path for c in fake_openai.requests][-1] == "/v1/models/gpt-9-imaginary"


async def test_check_command_exits_0_only_when_all_pass(env: dict[str, str], fake_kie: FakeKie) -> None:
    good = await BotProcess.start({**env, "LOG_FORMAT": "console"}, "check")
    assert await good.wait(timeout=60) == 0
    assert "All checks passed." in good.output()

    fake_kie.credits = 0
    bad = await BotProcess.start({**env, "LOG_FORMAT": "console"}, "check")
    assert await bad.wait(timeout=60) == 1
    assert "❌ KIE: key valid; 0 credits" in bad.output()
    assert "1 check(s) failed." in bad.output()


async def test_the_start_logs_the_same_checks(env: dict[str, str], fake_kie: FakeKie) -> None:
    fake_kie.credits = 0
    bot = await BotProcess.start(env, "--role", "worker")
    try:
        failed = await bot.wait_for_event("preflight.failed", check="KIE")
        passed = await bot.wait_for_event("preflight.passed", check="OpenAI")
        await bot.wait_for_event("runtime.started")
    finally:
        bot.signal(signal.SIGTERM)
        assert await bot.wait() == 0
    assert failed["level"] == "warning" and "top up" in failed["hint"]
    assert passed["detail"] == "key valid; model gpt-4.1-mini available"


async def test_storage_buckets_exist_and_take_a_probe_object(env: dict[str, str]) -> None:
    """With STORAGE_URL: each bucket exists, and a probe object is written, read back and deleted."""
    s3 = FakeS3().start()
    try:
        storage_env = {
            "STORAGE_URL": s3.url,
            "STORAGE_ACCESS_KEY": "test-access-key",
            "STORAGE_SECRET_KEY": "test-secret-key-0123456789",
            "STORAGE_INPUTS_BUCKET": "check-inputs",
            "STORAGE_OUTPUTS_BUCKET": "check-outputs",
        }
        assert "Storage" not in await checks(env), "no STORAGE_URL, no storage check"
        missing = (await checks(env, **storage_env))["Storage"]
        assert not missing.ok and "'check-inputs' does not exist" in missing.detail
        assert "STORAGE_INPUTS_BUCKET" in missing.hint

        settings = Settings.from_env({**env, **storage_env})
        async with open_storage(settings.storage) as storage:
            assert storage is not None
            await storage.create_buckets()
            await storage.put("check-outputs", "a-video.mp4", b"video", "video/mp4")
        ok = (await checks(env, **storage_env))["Storage"]
        assert ok.ok, ok.line()
        assert "write, read and delete work" in ok.detail
        async with open_storage(settings.storage) as storage:
            assert storage is not None
            assert await storage.get("check-outputs", "a-video.mp4") == b"video", "the check touches only its probe"

        unreachable = (await checks(env, **{**storage_env, "STORAGE_URL": "http://127.0.0.1:9"}))["Storage"]
        assert not unreachable.ok and "rights (write, read, delete)" in unreachable.hint
    finally:
        s3.stop()
