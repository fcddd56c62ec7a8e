"""Logging: JSON lines for machines, marked console lines for people, secrets never written."""

from __future__ import annotations

import io
import json
import logging

import asyncpg
import pytest
import structlog

from core.logging import configure_logging, marker
from core.queue import Job, JobSpec, Registry, enqueue
from core.settings import Settings
from tests.helpers import running, wait_until


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging():
    yield
    configure_logging("info", "json", cache=False)


def test_json_when_not_a_terminal(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("info", "auto", stream=stream, cache=False)
    structlog.get_logger("t").info("queue.job.succeeded", job_id=7, kind="diag.noop", attempt=1)
    line = json.loads(stream.getvalue())
    assert line["event"] == "queue.job.succeeded"
    assert (line["job_id"], line["kind"], line["attempt"], line["level"]) == (7, "diag.noop", 1, "info")
    assert "timestamp" in line


def test_console_lines_carry_markers(restore_logging: None) -> None:
    stream = TtyBuffer()
    configure_logging("info", "auto", stream=stream, cache=False)
    log = structlog.get_logger("t")
    log.info("runtime.started")
    log.info("web.ready")
    log.warning("queue.job.retry")
    log.error("queue.job.failed")
    log.critical("runtime.circuit_breaker.tripped")
    log.info("queue.claimed")
    lines = stream.getvalue().splitlines()
    for line, mark in zip(
        lines,
        [
            "🚀 runtime.started",
            "✅ web.ready",
            "⚠️ queue.job.retry",
            "❌ queue.job.failed",
            "💥 runtime.circuit_breaker.tripped",
        ],
        strict=False,
    ):
        assert mark in line
    assert "queue.claimed" in lines[5] and not any(m in lines[5] for m in "🚀✅⚠❌💥")


def test_marker_rules() -> None:
    assert marker("info", "db.embedded.started") == "🚀"
    assert marker("info", "queue.job.succeeded") == "✅"
    assert marker("info", "queue.job.snoozed") is None
    assert marker("critical", "anything") == "💥"


def test_secrets_are_scrubbed_everywhere(restore_logging: None) -> None:
    """Whatever field, message or traceback carries a secret, the line written does not."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream, secrets=["123456:AAE-bot-token-secret"], cache=False)
    log = structlog.get_logger("t")
    try:
        raise RuntimeError("GET https://api.telegram.org/file/bot123456:AAE-bot-token-secret/photo.jpg failed")
    except RuntimeError as error:
        log.error("telegram.download_failed", url="https://x/bot123456:AAE-bot-token-secret/", exc_info=error)
    logging.getLogger("aiohttp.client").error("token 123456:AAE-bot-token-secret leaked by a library")
    written = stream.getvalue()
    assert "AAE-bot-token-secret" not in written
    assert written.count("***") >= 3


async def test_job_log_lines_carry_job_kind_and_attempt(pool: asyncpg.Pool, settings: Settings) -> None:
    """Lines logged by a handler are tagged with the job they belong to."""

    async def chatty(_job: Job) -> None:
        structlog.get_logger("handler").info("handler.step", step="download")

    registry = Registry()
    registry.add(JobSpec("t.chatty", chatty))
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with running(settings, pool, registry):
            job_id = await enqueue(pool, registry, "t.chatty")
            await wait_until(lambda: any(e["event"] == "queue.job.succeeded" for e in logs))
    step = next(e for e in logs if e["event"] == "handler.step")
    done = next(e for e in logs if e["event"] == "queue.job.succeeded")
    for event in (step, done):
        assert (event["job_id"], event["kind"], event["attempt"]) == (job_id, "t.chatty", 1)


async def test_error_texts_kept_in_rows_are_redacted_too(
    pool: asyncpg.Pool, settings: Settings, restore_logging
) -> None:
    """A secret inside an exception message does not reach jobs.last_error."""
    configure_logging("info", "json", secrets=["123456:AAE-bot-token-secret"], cache=False)

    async def leaky(_job: Job) -> None:
        raise RuntimeError("GET https://api.telegram.org/file/bot123456:AAE-bot-token-secret/x.jpg: 502")

    registry = Registry()
    registry.add(JobSpec("t.leaky", leaky, max_attempts=1))
    async with running(settings, pool, registry):
        job_id = await enqueue(pool, registry, "t.leaky")
        await wait_until(lambda: _failed(pool, job_id))
    row = await pool.fetchrow("SELECT last_error, errors FROM jobs WHERE id = $1", job_id)
    assert row["last_error"] == "RuntimeError: GET https://api.telegram.org/file/bot***/x.jpg: 502"
    assert "AAE-bot-token-secret" not in str(row["errors"])


async def _failed(pool: asyncpg.Pool, job_id: int) -> bool:
    return await pool.fetchval("SELECT state FROM jobs WHERE id = $1", job_id) == "failed"


def test_json_lines_keep_the_marker_in_a_field(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream, cache=False)
    log = structlog.get_logger("t")
    log.info("runtime.started")
    log.error("queue.job.failed")
    log.info("queue.job.snoozed")
    started, failed, snoozed = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (started["event"], started["marker"]) == ("runtime.started", "🚀")
    assert (failed["event"], failed["marker"]) == ("queue.job.failed", "❌")
    assert "marker" not in snoozed


async def test_queue_lines_carry_the_declared_payload_fields(pool: asyncpg.Pool, settings: Settings) -> None:
    """One filter on generation_id finds the retry and the failure too, not only the handler's lines."""

    async def fails(_job: Job) -> None:
        structlog.get_logger("handler").info("generation.step.tried")
        raise RuntimeError("provider down")

    registry = Registry()
    registry.add(JobSpec("t.fails", fails, max_attempts=2))
    registry = registry.with_log_fields("generation_id", "user_id")
    assert registry["t.fails"].log_fields == ("generation_id", "user_id")
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with running(settings, pool, registry):
            await enqueue(pool, registry, "t.fails", {"generation_id": 42, "user_id": 501, "idea": "private"})
            await enqueue(pool, registry, "t.fails", {"other": 1}, max_attempts=1)
            await wait_until(lambda: len([e for e in logs if e["event"] == "queue.job.failed"]) == 2)
    story = [e for e in logs if e.get("generation_id") == 42]
    assert [e["event"] for e in story] == [
        "generation.step.tried",
        "queue.job.retry",
        "generation.step.tried",
        "queue.job.failed",
    ]
    assert all(e["user_id"] == 501 and "idea" not in e for e in story)
    other = [e for e in logs if e["event"] == "queue.job.failed" and "generation_id" not in e]
    assert len(other) == 1 and "user_id" not in other[0]


class TestLogSql:
    async def test_statements_by_name_with_duration_and_rows_never_parameters(self, database_url: str) -> None:
        from db import users as db_users
        from db.pool import create_pool

        pool = await create_pool(database_url, max_size=2, log_sql=True)
        try:
            with structlog.testing.capture_logs() as logs:
                with pytest.raises(asyncpg.ForeignKeyViolationError):
                    await db_users.apply_credits(pool, 987654321, 5, "admin", "secret-reference")
                assert await db_users.get(pool, 987654321) is None
                await db_users.set_blocked(pool, 987654321, True)
        finally:
            await pool.close()
        sql = [e for e in logs if e["event"].startswith("db.sql")]
        assert [(e["event"], e["statement"]) for e in sql] == [
            ("db.sql.failed", "ledger_apply"),  # no such user: the foreign key refuses it
            ("db.sql", "user_get"),
            ("db.sql", "user_set_blocked"),
        ]
        assert sql[0]["error"] == "ForeignKeyViolationError"
        assert sql[1]["rows"] == 0 and sql[2]["rows"] == 0
        assert all(isinstance(e["ms"], float) for e in sql)
        assert "987654321" not in str(logs) and "secret-reference" not in str(logs)

    async def test_off_by_default(self, pool: asyncpg.Pool) -> None:
        with structlog.testing.capture_logs() as logs:
            await pool.fetch("SELECT 1 AS one WHERE false")
        assert logs == []

    def test_row_counts_from_command_status(self) -> None:
        from db.pool import rows_of

        assert (rows_of("UPDATE 3"), rows_of("INSERT 0 1"), rows_of("CREATE TABLE")) == (3, 1, None)


async def test_one_filter_on_the_generation_tells_its_story(make_bot, fake_kie, fake_telegram) -> None:
    """Confirm to delivery: every queue line of the generation's jobs carries its generation_id."""
    from tests.test_e2e_generation import render, start_and_confirm, videos_sent

    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with make_bot() as bot:
            draft = await start_and_confirm(bot, 701, text="a paper boat in a gutter river after rain")
            await render(fake_kie)
            await videos_sent(fake_telegram, 701)
            await bot.wait_for_generation(draft, "done")
    generation_jobs = [e for e in logs if e["event"].startswith("queue.job.") and e["kind"].startswith("generation.")]
    assert {e["kind"] for e in generation_jobs} >= {"generation.prompt", "generation.submit", "generation.deliver"}
    assert all(e.get("generation_id") == draft for e in generation_jobs)
    story = [e["event"] for e in logs if e.get("generation_id") == draft]
    assert story.index("generation.prompt.written") < story.index("generation.delivered")
