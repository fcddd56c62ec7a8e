"""``python bot.py`` as a real process: several at once, killed, stopped, misconfigured."""

from __future__ import annotations

import asyncio
import json
import signal

import asyncpg

from core.queue import NewJob, Registry, enqueue, enqueue_many
from core.queue.diag import register_diagnostics
from core.runtime.process import EXIT_BREAKER, EXIT_CONFIG
from db.migrate import discover
from tests.fakes.telegram import FakeTelegram
from tests.helpers import SECRETS, BotProcess, bot_env, free_port, job_row, wait_until

REGISTRY = register_diagnostics(Registry())


async def _count(pool: asyncpg.Pool, where: str) -> int:
    """Diagnostic jobs matching ``where`` (the bot's own housekeeping job is always there too)."""
    return await pool.fetchval(f"SELECT count(*) FROM jobs WHERE kind LIKE 'diag.%' AND {where}")


async def _has(pool: asyncpg.Pool, where: str, expected: int) -> bool:
    return await _count(pool, where) == expected


async def test_two_processes_run_every_job_exactly_once(pool: asyncpg.Pool, database_url: str) -> None:
    """8 consumers in 2 processes drain 5,000 jobs: each claimed once, by one of them, never twice."""
    await two_workers_run_every_job_exactly_once(pool, bot_env(database_url, QUEUE_CONSUMERS="4"))


async def two_workers_run_every_job_exactly_once(pool: asyncpg.Pool, env: dict[str, str]) -> list[BotProcess]:
    """The body of the test above; tests/test_pgbouncer.py runs it again behind a transaction pooler."""
    # Each worker serves /healthz, /readyz and /metrics: a port of its own.
    workers = [await BotProcess.start({**env, "PORT": str(free_port())}, "--role", "worker") for _ in range(2)]
    try:
        for worker in workers:
            await worker.wait_for_event("runtime.started")
        await enqueue_many(pool, REGISTRY, [NewJob("diag.noop") for _ in range(5000)])
        await wait_until(lambda: _has(pool, "state <> 'succeeded'", 0), timeout=120)
    finally:
        for worker in workers:
            worker.signal(signal.SIGTERM)
        codes = [await worker.wait() for worker in workers]
    assert codes == [0, 0]
    summary = await pool.fetchrow(
        """SELECT count(*) AS jobs,
                  count(*) FILTER (WHERE attempt = 1 AND cardinality(attempted_by) = 1) AS once,
                  count(DISTINCT attempted_by[1]) AS workers
           FROM jobs WHERE kind = 'diag.noop'"""
    )
    assert dict(summary) == {"jobs": 5000, "once": 5000, "workers": 2}
    return workers


async def test_killed_worker_job_is_finished_by_another(pool: asyncpg.Pool, database_url: str) -> None:
    """SIGKILL mid-job: once the lease expires another process runs it; the attempt count shows it."""
    first = await BotProcess.start(bot_env(database_url), "--role", "worker")
    await first.wait_for_event("runtime.started")
    job_id = await enqueue(pool, REGISTRY, "diag.sleep", {"seconds": 1.5})
    await wait_until(lambda: _count(pool, f"id = {job_id} AND state = 'running'"))
    await first.kill()
    assert (await job_row(pool, job_id))["state"] == "running", "the dead worker still holds the lease"

    second = await BotProcess.start(bot_env(database_url), "--role", "worker")
    try:
        await wait_until(lambda: _count(pool, f"id = {job_id} AND state = 'succeeded'"), timeout=30)
        rescued = await second.wait_for_event("queue.job.rescued", job_id=job_id)
    finally:
        second.signal(signal.SIGTERM)
        assert await second.wait() == 0
    row = await job_row(pool, job_id)
    assert row["attempt"] == 2
    assert len(row["attempted_by"]) == 2 and row["attempted_by"][0] != row["attempted_by"][1]
    assert row["errors"][0]["error"].startswith(f"lease expired: worker {row['attempted_by'][0]}")
    assert rescued["state"] == "queued"


async def test_sigterm_lets_short_jobs_finish_and_hands_long_ones_back(pool: asyncpg.Pool, database_url: str) -> None:
    worker = await BotProcess.start(bot_env(database_url, SHUTDOWN_GRACE="2s"), "--role", "worker")
    await worker.wait_for_event("runtime.started")
    short = await enqueue(pool, REGISTRY, "diag.sleep", {"seconds": 0.5})
    long = await enqueue(pool, REGISTRY, "diag.sleep", {"seconds": 600})
    await wait_until(lambda: _has(pool, "state = 'running'", 2))
    worker.signal(signal.SIGTERM)
    assert await worker.wait(timeout=15) == 0
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE state = 'running'") == 0
    short_row, long_row = await job_row(pool, short), await job_row(pool, long)
    assert short_row["state"] == "succeeded"
    assert (long_row["state"], long_row["attempt"], long_row["lease_owner"]) == ("queued", 0, None)
    assert long_row["run_at"] <= await pool.fetchval("SELECT now()"), "another process may take it at once"
    await worker.wait_for_event("queue.drain.grace_over", handing_back=1)


async def test_second_signal_exits_at_once(pool: asyncpg.Pool, database_url: str) -> None:
    worker = await BotProcess.start(bot_env(database_url, SHUTDOWN_GRACE="60s"), "--role", "worker")
    await worker.wait_for_event("runtime.started")
    await enqueue(pool, REGISTRY, "diag.sleep", {"seconds": 600})
    await wait_until(lambda: _has(pool, "state = 'running'", 1))
    worker.signal(signal.SIGTERM)
    await worker.wait_for_event("runtime.stopping")
    worker.signal(signal.SIGTERM)
    assert await worker.wait(timeout=10) == 128 + signal.SIGTERM
    await worker.wait_for_event("runtime.forced_exit")


async def test_circuit_breaker_exit_code(pool: asyncpg.Pool, database_url: str) -> None:
    await enqueue_many(pool, REGISTRY, [NewJob("diag.fail", {"error": "unexpected"}) for _ in range(5)])
    worker = await BotProcess.start(bot_env(database_url, BREAKER_THRESHOLD="5"), "--role", "worker")
    assert await worker.wait(timeout=30) == EXIT_BREAKER
    tripped = await worker.wait_for_event("runtime.circuit_breaker.tripped")
    assert tripped["level"] == "critical" and tripped["consecutive_failures"] == 5


async def test_bad_settings_are_listed_and_stop_the_start(database_url: str) -> None:
    worker = await BotProcess.start(
        {"PORT": "eighty", "QUEUE_CONSUMERS": "0", "DATABASE_URL": "mysql://root:hunter2@db/x", "LOG_FORMAT": "console"}
    )
    assert await worker.wait(timeout=30) == EXIT_CONFIG
    text = "\n".join(worker.raw)
    assert "Reelsmith cannot start: 6 settings need fixing." in text
    assert "BOT_TOKEN is missing. The bot's token from @BotFather." in text
    assert "OPENAI_API_KEY is missing." in text
    assert "KIE_API_KEY is missing." in text
    assert "PORT='eighty' must be a whole number. Port of the HTTP server" in text
    assert "QUEUE_CONSUMERS='0' must be at least 1. Consumer coroutines" in text
    assert "DATABASE_URL=<hidden> must be a postgresql:// URL" in text
    assert "hunter2" not in text


async def test_bad_settings_in_json_mode_are_one_log_event() -> None:
    worker = await BotProcess.start({**SECRETS, "QUEUE_LEASE": "forever"})
    assert await worker.wait(timeout=30) == EXIT_CONFIG
    event = await worker.wait_for_event("settings.invalid")
    assert event["level"] == "critical"
    assert event["problems"][0].startswith("QUEUE_LEASE='forever' must be a duration")


async def test_unknown_kind_in_queue_concurrency_is_a_settings_error(database_url: str) -> None:
    worker = await BotProcess.start(bot_env(database_url, QUEUE_CONCURRENCY="video.nope=2"))
    assert await worker.wait(timeout=30) == EXIT_CONFIG
    event = await worker.wait_for_event("settings.invalid")
    assert "unknown job kinds: video.nope" in event["problems"][0]


async def test_two_processes_starting_at_once_migrate_once(empty_database_url: str) -> None:
    processes = [await BotProcess.start(bot_env(empty_database_url), "--role", "worker") for _ in range(2)]
    try:
        applied = [await p.wait_for_event("db.migrations.applied") for p in processes]
        for process in processes:
            await process.wait_for_event("runtime.started")
    finally:
        for process in processes:
            process.signal(signal.SIGTERM)
        codes = [await p.wait() for p in processes]
    assert codes == [0, 0]
    assert sorted(len(a["applied"]) for a in applied) == [0, len(discover())]
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(discover())
    finally:
        await conn.close()


async def test_web_role_serves_health_without_consumers(database_url: str, fake_telegram: FakeTelegram) -> None:
    env = bot_env(database_url, TELEGRAM_API_BASE=fake_telegram.base_url)
    web = await BotProcess.start(env, "--role", "web")
    try:
        started = await web.wait_for_event("runtime.started")
        assert (started["role"], started["consumers"]) == ("web", 0)
        await web.wait_for_event("telegram.polling.started")  # Telegram is set up in the background
        reader, writer = await asyncio.open_connection("127.0.0.1", int(env["PORT"]))
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = (await reader.read()).decode()
        writer.close()
        assert response.startswith("HTTP/1.1 200")
        assert json.loads(response.split("\r\n\r\n", 1)[1])["checks"] == {
            "database": True,
            "accepting": True,
            "telegram": True,
        }
    finally:
        web.signal(signal.SIGTERM)
        assert await web.wait() == 0


async def test_webhook_mode_without_database_url_refuses_to_start(tmp_path) -> None:
    """Exit 78 before anything starts: no embedded PostgreSQL on a platform's ephemeral disk."""
    process = await BotProcess.start({**SECRETS, "PUBLIC_BASE_URL": "https://bot.example.com"}, cwd=tmp_path)
    assert await process.wait(timeout=30) == EXIT_CONFIG
    event = await process.wait_for_event("settings.invalid")
    assert "ALLOW_EMBEDDED_DATABASE=true" in event["problems"][0]
    assert not (tmp_path / ".data").exists(), "the embedded database never started"
