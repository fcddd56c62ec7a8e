"""Test fixtures: a real PostgreSQL, one fresh migrated database per test.

The server is TEST_DATABASE_URL when set (its role must be allowed to CREATE DATABASE), otherwise
an embedded PostgreSQL started for the session in a temporary directory. Each test gets its own
database cloned from a migrated template, so tests can run real processes against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from core.logging import configure_logging
from core.settings import Settings
from db.embedded import start_embedded
from db.migrate import migrate
from db.pool import connect, create_pool
from tests.fakes.kie import FakeKie
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram
from tests.helpers import SECRETS, BotHarness, BotProcess, free_port, with_database

_names = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    # Tests read logs through structlog.testing.capture_logs, which needs uncached loggers.
    configure_logging("info", "json", cache=False)


@pytest.fixture(autouse=True)
async def no_stray_processes() -> AsyncIterator[None]:
    """A test that fails half-way must not leave bot.py processes behind."""
    yield
    await BotProcess.kill_all()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """DSN of a server the tests may create databases on."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    # Stopped and deleted when the test session's interpreter exits.
    directory = Path(tempfile.mkdtemp(prefix="reelsmith-test-pg-"))
    yield start_embedded(directory / "data", keep_data=False)


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> Iterator[str]:
    """A migrated database every test database is cloned from."""
    name = f"reelsmith_template_{os.getpid()}"

    async def create() -> None:
        await _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}"')
        await _admin(pg_server, f'CREATE DATABASE "{name}"')
        conn = await connect(with_database(pg_server, name))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(create())
    yield name
    asyncio.run(_admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(pg_server: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test alone."""
    name = f"reelsmith_test_{os.getpid()}_{next(_names)}"
    asyncio.run(_admin(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    yield with_database(pg_server, name)
    asyncio.run(_admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_database_url(pg_server: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = f"reelsmith_empty_{os.getpid()}_{next(_names)}"
    asyncio.run(_admin(pg_server, f'CREATE DATABASE "{name}"'))
    yield with_database(pg_server, name)
    asyncio.run(_admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for an in-process runtime: short leases and polls so tests finish quickly."""
    return Settings.from_env(
        {
            **SECRETS,
            "DATABASE_URL": database_url,
            "QUEUE_CONSUMERS": "4",
            "QUEUE_LEASE": "3s",
            "QUEUE_POLL_INTERVAL": "200ms",
            "SHUTDOWN_GRACE": "5s",
            "PORT": str(free_port()),
            "HOST": "127.0.0.1",
            "LOG_FORMAT": "json",
        }
    )


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_kie() -> AsyncIterator[FakeKie]:
    fake = await FakeKie(render_seconds=None).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = await FakeOpenAI().start()
    yield fake
    await fake.stop()


@pytest.fixture
def bot_environment(
    database_url: str, fake_telegram: FakeTelegram, fake_kie: FakeKie, fake_openai: FakeOpenAI
) -> dict[str, str]:
    """The whole bot's environment, every service a fake on 127.0.0.1, in webhook mode."""
    port = free_port()
    return {
        **SECRETS,
        "DATABASE_URL": database_url,
        "TELEGRAM_API_BASE": fake_telegram.base_url,
        "KIE_BASE_URL": fake_kie.base_url,
        "KIE_UPLOAD_BASE_URL": fake_kie.upload_base_url,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "QUEUE_CONSUMERS": "8",
        "QUEUE_LEASE": "3s",
        "QUEUE_POLL_INTERVAL": "200ms",
        "SHUTDOWN_GRACE": "5s",
        "OPENAI_TIMEOUT": "5s",
        "LOG_FORMAT": "json",
    }


@pytest.fixture
async def bot(bot_environment: dict[str, str], fake_telegram: FakeTelegram) -> AsyncIterator[BotHarness]:
    """The whole bot running in this event loop against the fakes."""
    async with BotHarness.running(Settings.from_env(bot_environment), fake_telegram) as harness:
        yield harness


@pytest.fixture
def make_bot(
    bot_environment: dict[str, str], fake_telegram: FakeTelegram
) -> Callable[..., contextlib.AbstractAsyncContextManager[BotHarness]]:
    """``async with make_bot(GENERATION_TIMEOUT="3s") as bot:`` the whole bot, with other settings."""

    def make(
        extra_providers: tuple[object, ...] = (), **overrides: str
    ) -> contextlib.AbstractAsyncContextManager[BotHarness]:
        settings = Settings.from_env({**bot_environment, **overrides})
        return BotHarness.running(settings, fake_telegram, extra_providers=extra_providers)

    return make
