"""Behind a real PgBouncer in transaction pool mode (tests/pgbouncer.py): the end-to-end happy path and the
queue's exactly-once test again, with DATABASE_TRANSACTION_POOLER=true and LISTEN on DATABASE_DIRECT_URL.

Where the pooler comes from: PGBOUNCER_URL (.ci/run starts Debian's pgbouncer in front of the PostgreSQL
it tests on), else one these tests start when the ``pgbouncer`` binary is installed, else none: then the
same tests run directly against PostgreSQL with the pooler settings on, and the session summary says so.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from db.pool import create_pool
from tests import test_e2e_generation as e2e
from tests.helpers import bot_env, with_database
from tests.pgbouncer import PgBouncer, find_binary
from tests.test_process import two_workers_run_every_job_exactly_once


@pytest.fixture(scope="session")
def pgbouncer(pg_server: str, pytestconfig: pytest.Config) -> Iterator[str | None]:
    """A PgBouncer server URL in front of ``pg_server``, or None when none can be had here."""
    given = os.environ.get("PGBOUNCER_URL")
    if given:
        yield given
        return
    binary = find_binary()
    if binary is None:
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                "tests/test_pgbouncer.py: no pgbouncer installed and no PGBOUNCER_URL: these tests ran directly "
                "against PostgreSQL with the pooler settings on (apt-get install pgbouncer to run them behind it)"
            )
        yield None
        return
    bouncer = PgBouncer.start(binary, pg_server)
    yield bouncer.url
    bouncer.stop()


@pytest.fixture
def pooled_url(database_url: str, pgbouncer: str | None) -> str:
    """This test's database, through the pooler when there is one."""
    if pgbouncer is None:
        return database_url
    return with_database(pgbouncer, urlsplit(database_url).path.lstrip("/"))


@pytest.fixture
def bot_environment(bot_environment: dict[str, str], pooled_url: str) -> dict[str, str]:
    """The conftest's environment, its queries through the pooler and its LISTEN on the direct URL."""
    return {
        **bot_environment,
        "DATABASE_URL": pooled_url,
        "DATABASE_TRANSACTION_POOLER": "true",
        "DATABASE_DIRECT_URL": bot_environment["DATABASE_URL"],
    }


@pytest.fixture
async def pooled_pool(pooled_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pooled_url, max_size=5, transaction_pooler=True)
    yield pool
    await pool.close()


def test_the_pooler_is_in_front(pooled_url: str, database_url: str, pgbouncer: str | None) -> None:
    """Not a pass by accident: with a pooler, the bot's URL is the pooler's, not the server's."""
    if pgbouncer is not None:
        assert urlsplit(pooled_url).port == urlsplit(pgbouncer).port != urlsplit(database_url).port
    else:
        assert pooled_url == database_url


class TestHappyPathBehindPgBouncer(e2e.TestHappyPath):
    """Every test of the happy path, the bot's pool going through PgBouncer."""


async def test_two_processes_run_every_job_exactly_once_behind_pgbouncer(
    pooled_pool: asyncpg.Pool, pooled_url: str, database_url: str
) -> None:
    env = bot_env(pooled_url, QUEUE_CONSUMERS="4", DATABASE_TRANSACTION_POOLER="true", DATABASE_DIRECT_URL=database_url)
    workers = await two_workers_run_every_job_exactly_once(pooled_pool, env)
    for worker in workers:
        ready = await worker.wait_for_event("listener.ready")
        assert ready["backend_pid"], "each worker LISTENs, on the direct connection"
