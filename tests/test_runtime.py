"""The runtime around the queue: supervision, the circuit breaker, the listener, health checks."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import asyncpg
import pytest
import structlog

from core.queue import Job, JobSpec, NewJob, Registry, TransientError, enqueue, enqueue_many
from core.queue.diag import register_diagnostics
from core.runtime.process import EXIT_BREAKER, EXIT_OK, EXIT_SUPERVISOR, Role
from core.runtime.supervisor import Supervisor
from core.settings import Settings
from db.pool import create_pool
from tests.helpers import DatabaseProxy, Probe, running, runtime_for, wait_until


class TestSupervisor:
    async def test_restarts_with_backoff_then_gives_up(self) -> None:
        """Three restarts are allowed within the window; the fourth crash gives up."""
        attempts: list[float] = []
        gave_up: list[str] = []
        loop = asyncio.get_running_loop()

        async def crashes() -> None:
            attempts.append(loop.time())
            raise RuntimeError("consumer bug")

        supervisor = Supervisor(
            max_restarts=3, window_s=60, backoff_s=0.01, on_give_up=lambda name, _err: gave_up.append(name)
        )
        with structlog.testing.capture_logs() as logs:
            await supervisor.start("queue.consumer.0", crashes)
        assert len(attempts) == 4
        assert gave_up == ["queue.consumer.0"]
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.01 and gaps[1] >= 0.02 and gaps[2] >= 0.04, "exponential backoff"
        events = [e["event"] for e in logs]
        assert events == ["supervisor.restarting"] * 3 + ["supervisor.gave_up"]
        assert logs[-1]["log_level"] == "critical"

    async def test_crashes_outside_the_window_are_forgotten(self) -> None:
        crashes = 0

        async def crashes_then_ends() -> None:
            nonlocal crashes
            crashes += 1
            if crashes <= 5:
                raise RuntimeError("flaky")

        supervisor = Supervisor(max_restarts=1, window_s=0.001, backoff_s=0.005, on_give_up=pytest.fail)
        await supervisor.start("loop", crashes_then_ends)
        assert crashes == 6


class TestCircuitBreaker:
    async def test_trips_drains_and_exits_75(self, pool: asyncpg.Pool, settings: Settings) -> None:
        registry = register_diagnostics(Registry())
        await enqueue_many(pool, registry, [NewJob("diag.fail", {"error": "db driver bug"}) for _ in range(5)])
        runtime = runtime_for(
            settings.changed(runtime={"breaker_threshold": 5}),
            pool,
            registry,
            role=Role.WORKER,
            handle_signals=False,
            listen_dsn=settings.database.dsn,
        )
        with structlog.testing.capture_logs() as logs:
            assert await asyncio.wait_for(runtime.run(), 30) == EXIT_BREAKER
        tripped = [e for e in logs if e["event"] == "runtime.circuit_breaker.tripped"]
        assert len(tripped) == 1 and tripped[0]["log_level"] == "critical"
        assert await pool.fetchval("SELECT count(*) FROM jobs WHERE state = 'running'") == 0

    async def test_provider_trouble_backs_off_and_never_trips(self, pool: asyncpg.Pool, settings: Settings) -> None:
        seen = asyncio.Event()
        failures = 0

        async def provider_down(_job: Job) -> None:
            nonlocal failures
            failures += 1
            if failures >= 10:
                seen.set()
            raise TransientError("KIE answered 500")

        registry = Registry()
        registry.add(JobSpec("t.provider", provider_down, max_attempts=1))
        await enqueue_many(pool, registry, [NewJob("t.provider") for _ in range(10)])
        async with running(settings.changed(runtime={"breaker_threshold": 2}), pool, registry) as runtime:
            await asyncio.wait_for(seen.wait(), 10)
            assert runtime.worker.breaker.tripped is False
        assert runtime.exit_code == EXIT_OK


class TestListener:
    async def test_reconnects_after_losing_its_connection(self, pool: asyncpg.Pool, settings: Settings) -> None:
        """With polling effectively off, only a working LISTEN can get the job picked up."""
        record = Probe()
        registry = Registry()
        registry.add(JobSpec("t.record", record))
        slow_poll = settings.changed(queue={"poll_interval": 3600})
        async with running(slow_poll, pool, registry) as runtime:
            listener = runtime.worker.listener
            first_pid = listener.backend_pid
            assert await pool.fetchval("SELECT pg_terminate_backend($1)", first_pid)
            await listener.wait_connected(after=1)
            assert listener.backend_pid != first_pid
            await enqueue(pool, registry, "t.record")
            await asyncio.wait_for(record.started.wait(), 10)

    async def test_polling_alone_finds_work(self, pool: asyncpg.Pool, settings: Settings) -> None:
        record = Probe()
        registry = Registry()
        registry.add(JobSpec("t.record", record))
        async with running(settings.changed(queue={"poll_interval": 0.05}), pool, registry, listen=False):
            await enqueue(pool, registry, "t.record")
            await asyncio.wait_for(record.started.wait(), 10)


class TestDatabaseLoss:
    async def test_lost_database_makes_the_process_exit_non_zero(self, database_url: str, settings: Settings) -> None:
        """Cut the network to PostgreSQL for good: the loops wait quietly (not counted as crashes,
        whatever the restart budget) until the outage passes its limit; then the process exits for
        the platform to restart it."""
        proxy = await DatabaseProxy(database_url).start()
        pool = await create_pool(proxy.dsn, max_size=4)
        try:
            runtime = runtime_for(
                settings.changed(runtime={"supervisor_max_restarts": 2, "supervisor_window": 60, "shutdown_grace": 1}),
                pool,
                register_diagnostics(Registry()),
                role=Role.WORKER,
                handle_signals=False,
                outage_limit_s=5,
            )
            task = asyncio.create_task(runtime.run())
            await wait_until(lambda: runtime.worker.producer.claims > 0)
            await proxy.cut()
            assert await asyncio.wait_for(task, 60) == EXIT_SUPERVISOR
            assert "database was unreachable" in runtime.stop_reason, runtime.stop_reason
        finally:
            pool.terminate()
            await proxy.cut()


class TestHealth:
    async def test_healthz_readyz_and_bad_requests(self, database_url: str, settings: Settings) -> None:
        proxy = await DatabaseProxy(database_url).start()
        pool = await create_pool(proxy.dsn, max_size=4)
        base = f"http://127.0.0.1:{settings.runtime.port}"
        try:
            async with (
                running(settings, pool, register_diagnostics(Registry()), role=Role.ALL, listen=False),
                aiohttp.ClientSession() as http,
            ):
                async with http.get(f"{base}/healthz") as response:
                    assert (response.status, await response.text()) == (200, "ok")
                async with http.get(f"{base}/readyz") as response:
                    body = await response.json()
                    assert response.status == 200
                    assert body == {
                        "status": "ready",
                        "checks": {"database": True, "accepting": True, "consumers": True},
                    }
                async with http.get(f"{base}/nope") as response:
                    assert response.status == 404
                async with http.post(f"{base}/healthz", data=b"\x00garbage") as response:
                    assert response.status == 405
                await proxy.cut()
                pool.terminate()
                async with http.get(f"{base}/healthz") as response:
                    assert response.status == 200, "liveness never touches the database"

                async def unready() -> dict[str, object] | None:  # the checks' verdict is reused for a second
                    async with http.get(f"{base}/readyz") as response:
                        return await response.json() if response.status == 503 else None

                assert (await wait_until(unready))["checks"]["database"] is False
        finally:
            await proxy.cut()
