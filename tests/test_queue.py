"""The queue's semantics against a real PostgreSQL, with the runtime running in this process."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.queue import (
    Backoff,
    Cancel,
    Job,
    JobSpec,
    NewJob,
    Registry,
    Snooze,
    TransientError,
    cancel,
    enqueue,
    enqueue_many,
)
from core.queue.upkeep import Maintenance
from core.settings import Settings
from db import jobs as db_jobs
from tests.helpers import Probe, job_row, running, wait_until

FAST = Backoff(base=0.01, cap=0.05, jitter=0.1)


def registry_of(*specs: JobSpec) -> Registry:
    registry = Registry()
    for spec in specs:
        registry.add(spec)
    return registry


async def finished(pool: asyncpg.Pool, *ids: int) -> bool:
    states = await pool.fetch("SELECT state FROM jobs WHERE id = ANY($1)", list(ids))
    return len(states) == len(ids) and all(r["state"] in ("succeeded", "failed", "cancelled") for r in states)


class TestEnqueue:
    async def test_commits_and_rolls_back_with_the_callers_transaction(self, pool: asyncpg.Pool) -> None:
        registry = registry_of(JobSpec("t.noop", _noop))

        async def enqueue_then_fail(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await enqueue(conn, registry, "t.noop", {"n": 1})
                raise ZeroDivisionError

        async with pool.acquire() as conn:
            with pytest.raises(ZeroDivisionError):
                await enqueue_then_fail(conn)
            async with conn.transaction():
                kept = await enqueue(conn, registry, "t.noop", {"n": 2})
        rows = await pool.fetch("SELECT id, payload FROM jobs")
        assert [(r["id"], r["payload"]) for r in rows] == [(kept, {"n": 2})]

    async def test_one_notification_per_transaction(self, pool: asyncpg.Pool, database_url: str) -> None:
        """Three enqueue calls in one transaction wake listeners once."""
        registry = registry_of(JobSpec("t.noop", _noop))
        listener = await asyncpg.connect(database_url)
        received: list[str] = []
        fence = asyncio.Event()
        await listener.add_listener("reelsmith_jobs", lambda *args: received.append(args[3]))
        await listener.add_listener("test_fence", lambda *args: fence.set())
        try:
            async with pool.acquire() as conn, conn.transaction():
                for n in range(3):
                    await enqueue(conn, registry, "t.noop", {"n": n})
                await enqueue_many(conn, registry, [NewJob("t.noop") for _ in range(5)])
            # Notifications arrive in commit order: once the fence is here, everything before is too.
            await pool.execute("NOTIFY test_fence")
            await asyncio.wait_for(fence.wait(), 5)
        finally:
            await listener.close()
        assert received == [""]

    async def test_unknown_kind_is_refused_at_enqueue(self, pool: asyncpg.Pool) -> None:
        with pytest.raises(KeyError, match="unknown job kind 'nope'"):
            await enqueue(pool, registry_of(JobSpec("t.noop", _noop)), "nope")

    async def test_kind_defaults_and_overrides(self, pool: asyncpg.Pool) -> None:
        registry = registry_of(JobSpec("t.noop", _noop, max_attempts=9, priority=3))
        first = await enqueue(pool, registry, "t.noop")
        second = await enqueue(pool, registry, "t.noop", priority=-1, max_attempts=2)
        rows = {r["id"]: r for r in await pool.fetch("SELECT id, priority, max_attempts FROM jobs")}
        assert (rows[first]["priority"], rows[first]["max_attempts"]) == (3, 9)
        assert (rows[second]["priority"], rows[second]["max_attempts"]) == (-1, 2)


class TestUniqueKeys:
    async def test_dedupe_while_unfinished_and_free_after(self, pool: asyncpg.Pool, settings: Settings) -> None:
        gate = asyncio.Event()

        async def held(_job: Job) -> None:
            await gate.wait()

        registry = registry_of(JobSpec("t.held", held))
        first = await enqueue(pool, registry, "t.held", unique_key="generation:7")
        assert await enqueue(pool, registry, "t.held", unique_key="generation:7") is None, "queued: deduped"
        async with running(settings, pool, registry):
            await wait_until(lambda: _state(pool, first, "running"))
            assert await enqueue(pool, registry, "t.held", unique_key="generation:7") is None, "running: deduped"
            gate.set()
            await wait_until(lambda: _state(pool, first, "succeeded"))
        again = await enqueue(pool, registry, "t.held", unique_key="generation:7")
        assert again is not None and again != first, "finished: the key is free again"

    async def test_batch_with_taken_and_repeated_keys(self, pool: asyncpg.Pool) -> None:
        registry = registry_of(JobSpec("t.noop", _noop))
        taken = await enqueue(pool, registry, "t.noop", unique_key="a")
        ids = await enqueue_many(
            pool,
            registry,
            [
                NewJob("t.noop", unique_key="a"),
                NewJob("t.noop"),
                NewJob("t.noop", unique_key="b"),
                NewJob("t.noop", unique_key="b"),
                NewJob("t.noop"),
            ],
        )
        assert ids[0] is None and ids[3] is None
        assert all(isinstance(i, int) for i in (ids[1], ids[2], ids[4]))
        stored = await pool.fetch("SELECT id, unique_key FROM jobs ORDER BY id")
        assert [(r["id"], r["unique_key"]) for r in stored] == [
            (taken, "a"),
            (ids[1], None),
            (ids[2], "b"),
            (ids[4], None),
        ]


class TestOrderAndSchedule:
    async def test_priority_then_age(self, pool: asyncpg.Pool, settings: Settings) -> None:
        seen: list[int] = []

        async def record(job: Job) -> None:
            seen.append(job.payload["n"])

        registry = registry_of(JobSpec("t.record", record))
        jobs = [NewJob("t.record", {"n": n}, priority=p) for n, p in enumerate([0, 5, 0, 9, 5, -2, 9])]
        await enqueue_many(pool, registry, jobs)
        async with running(settings.changed(queue={"consumers": 1}), pool, registry):
            await wait_until(lambda: len(seen) == 7)
        assert seen == [3, 6, 1, 4, 0, 2, 5]

    async def test_scheduled_job_never_runs_early(self, pool: asyncpg.Pool, settings: Settings) -> None:
        done = asyncio.Event()

        async def record(_job: Job) -> None:
            done.set()

        registry = registry_of(JobSpec("t.record", record))
        later = await enqueue(pool, registry, "t.record", delay=0.6)
        future = await enqueue(pool, registry, "t.record", run_at=datetime.now(UTC) + timedelta(hours=1))
        async with running(settings, pool, registry):
            await asyncio.wait_for(done.wait(), 10)
        row = await job_row(pool, later)
        assert row["state"] == "succeeded"
        assert row["started_at"] >= row["run_at"]
        assert (await job_row(pool, future))["state"] == "queued"


class TestOutcomes:
    async def test_retries_with_backoff_then_fails_keeping_every_error(
        self, pool: asyncpg.Pool, settings: Settings
    ) -> None:
        async def broken(job: Job) -> None:
            raise RuntimeError(f"broken on attempt {job.attempt}")

        registry = registry_of(JobSpec("t.broken", broken, max_attempts=3, backoff=FAST))
        job_id = await enqueue(pool, registry, "t.broken")
        async with running(settings.changed(runtime={"breaker_threshold": 100}), pool, registry):
            await wait_until(lambda: finished(pool, job_id))
        row = await job_row(pool, job_id)
        assert (row["state"], row["attempt"], row["max_attempts"]) == ("failed", 3, 3)
        assert row["last_error"] == "RuntimeError: broken on attempt 3"
        assert [e["error"] for e in row["errors"]] == [f"RuntimeError: broken on attempt {n}" for n in (1, 2, 3)]
        assert [e["attempt"] for e in row["errors"]] == [1, 2, 3]
        assert row["finished_at"] is not None and row["lease_owner"] is None

    async def test_retry_waits_for_its_backoff(self, pool: asyncpg.Pool, settings: Settings) -> None:
        """The second attempt starts no earlier than the first failure plus the backoff."""
        starts: list[datetime] = []

        async def flaky(job: Job) -> None:
            starts.append(await pool.fetchval("SELECT clock_timestamp()"))
            if job.attempt == 1:
                raise TransientError("provider hiccup")

        registry = registry_of(JobSpec("t.flaky", flaky, backoff=Backoff(base=0.4, jitter=0.25)))
        job_id = await enqueue(pool, registry, "t.flaky")
        async with running(settings, pool, registry):
            await wait_until(lambda: finished(pool, job_id))
        row = await job_row(pool, job_id)
        assert (row["state"], row["attempt"], row["last_error"]) == ("succeeded", 2, "TransientError: provider hiccup")
        assert starts[1] - starts[0] >= timedelta(seconds=0.3)

    async def test_snooze_does_not_spend_an_attempt(self, pool: asyncpg.Pool, settings: Settings) -> None:
        async def poll(job: Job) -> Snooze | None:
            return Snooze(0.05) if job.snoozes < 4 else None

        registry = registry_of(JobSpec("t.poll", poll, max_attempts=1))
        job_id = await enqueue(pool, registry, "t.poll")
        async with running(settings, pool, registry):
            await wait_until(lambda: finished(pool, job_id))
        row = await job_row(pool, job_id)
        assert (row["state"], row["attempt"], row["snoozes"], row["last_error"]) == ("succeeded", 1, 4, None)
        assert len(row["attempted_by"]) == 5

    async def test_cancel_from_handler_is_final(self, pool: asyncpg.Pool, settings: Settings) -> None:
        async def reject(_job: Job) -> None:
            raise Cancel("prompt rejected by the provider")

        registry = registry_of(JobSpec("t.reject", reject))
        job_id = await enqueue(pool, registry, "t.reject")
        async with running(settings, pool, registry):
            await wait_until(lambda: finished(pool, job_id))
        row = await job_row(pool, job_id)
        assert (row["state"], row["attempt"]) == ("cancelled", 1)
        assert row["last_error"] == "cancelled: prompt rejected by the provider"

    async def test_timeout_cancels_the_handler_and_counts_as_failure(
        self, pool: asyncpg.Pool, settings: Settings
    ) -> None:
        cancelled = asyncio.Event()

        async def slow(_job: Job) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        registry = registry_of(JobSpec("t.slow", slow, timeout=0.1, max_attempts=1))
        job_id = await enqueue(pool, registry, "t.slow")
        async with running(settings, pool, registry):
            await wait_until(lambda: finished(pool, job_id))
        row = await job_row(pool, job_id)
        assert cancelled.is_set()
        assert (row["state"], row["last_error"]) == ("failed", "timed out after 0.1s")

    async def test_handlers_own_timeout_is_an_ordinary_error(self, pool: asyncpg.Pool, settings: Settings) -> None:
        async def calls_out(_job: Job) -> None:
            await asyncio.wait_for(asyncio.sleep(10), 0.01)

        registry = registry_of(JobSpec("t.calls_out", calls_out, timeout=30, max_attempts=1))
        job_id = await enqueue(pool, registry, "t.calls_out")
        async with running(settings, pool, registry):
            await wait_until(lambda: finished(pool, job_id))
        assert (await job_row(pool, job_id))["last_error"] == "TimeoutError"


class TestCancellation:
    async def test_cancel_a_queued_job(self, pool: asyncpg.Pool, settings: Settings) -> None:
        ran: list[int] = []

        async def record(job: Job) -> None:
            ran.append(job.id)

        registry = registry_of(JobSpec("t.record", record))
        doomed = await enqueue(pool, registry, "t.record", delay=0.3)
        kept = await enqueue(pool, registry, "t.record", delay=0.3)
        assert await cancel(pool, doomed, "user cancelled") == "cancelled"
        async with running(settings, pool, registry):
            await wait_until(lambda: finished(pool, kept))
        row = await job_row(pool, doomed)
        assert (row["state"], row["attempt"], row["last_error"]) == ("cancelled", 0, "cancelled: user cancelled")
        assert ran == [kept]
        assert await cancel(pool, doomed, "again") is None, "a finished job cannot be cancelled"

    @pytest.mark.parametrize("listen", [True, False], ids=["notify", "polling"])
    async def test_ask_a_running_job_to_stop(self, pool: asyncpg.Pool, settings: Settings, listen: bool) -> None:
        """The running handler is cancelled: at once through NOTIFY, or at the next lease renewal."""
        long = Probe(hold=True)
        registry = registry_of(JobSpec("t.long", long, timeout=3600))
        job_id = await enqueue(pool, registry, "t.long")
        async with running(settings, pool, registry, listen=listen):
            await asyncio.wait_for(long.started.wait(), 10)
            assert await cancel(pool, job_id, "operator") == "running"
            await asyncio.wait_for(long.cancelled.wait(), 10)
            await wait_until(lambda: finished(pool, job_id))
        row = await job_row(pool, job_id)
        assert (row["state"], row["last_error"]) == ("cancelled", "cancelled: stop requested")


class TestConcurrency:
    async def test_per_kind_limit(self, pool: asyncpg.Pool, settings: Settings) -> None:
        """A slow kind limited to 2 leaves the other consumers to other kinds."""
        gate = asyncio.Event()
        running_now: Counter[str] = Counter()
        peak: Counter[str] = Counter()

        async def slow(job: Job) -> None:
            running_now[job.kind] += 1
            peak[job.kind] = max(peak[job.kind], running_now[job.kind])
            await gate.wait()
            running_now[job.kind] -= 1

        async def fast(_job: Job) -> None:
            return None

        registry = registry_of(JobSpec("t.slow", slow, concurrency=2), JobSpec("t.fast", fast))
        slow_ids = await enqueue_many(pool, registry, [NewJob("t.slow") for _ in range(6)])
        async with running(settings.changed(queue={"consumers": 4}), pool, registry) as runtime:
            await wait_until(lambda: running_now["t.slow"] == 2)
            fast_ids = await enqueue_many(pool, registry, [NewJob("t.fast") for _ in range(20)])
            await wait_until(lambda: finished(pool, *fast_ids))
            # Slots are free, slow jobs are due, and still the producer takes none of them.
            assert await runtime.worker.producer.claim_once() == 0
            assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 't.slow' AND state = 'queued'") == 4
            gate.set()
            await wait_until(lambda: finished(pool, *slow_ids))
        assert peak["t.slow"] == 2

    async def test_a_freed_slot_of_a_limited_kind_claims_the_next_job_at_once(
        self, pool: asyncpg.Pool, settings: Settings
    ) -> None:
        """With polling off, only the freed slots can pull the rest of a limited kind's backlog."""
        ran: list[int] = []

        async def quick(job: Job) -> None:
            ran.append(job.id)

        registry = registry_of(JobSpec("t.limited", quick, concurrency=2))
        async with running(settings.changed(queue={"poll_interval": 3600}), pool, registry):
            ids = await enqueue_many(pool, registry, [NewJob("t.limited") for _ in range(30)])
            await wait_until(lambda: len(ran) == 30, timeout=10)
        assert sorted(ran) == sorted(ids)

    async def test_two_workers_run_each_job_exactly_once(self, pool: asyncpg.Pool, settings: Settings) -> None:
        runs: Counter[int] = Counter()
        by_worker: Counter[str] = Counter()
        owners = iter(["worker-a", "worker-b"])

        async def count(job: Job) -> None:
            runs[job.id] += 1
            await asyncio.sleep(0)

        registry = registry_of(JobSpec("t.count", count))
        ids = await enqueue_many(pool, registry, [NewJob("t.count") for _ in range(2000)])
        async with (
            running(settings, pool, registry, owner=next(owners)),
            running(settings, pool, registry, owner=next(owners), fresh_port=True),
        ):
            await wait_until(lambda: sum(runs.values()) >= 2000)
            await wait_until(lambda: finished(pool, *ids))
        for row in await pool.fetch("SELECT attempted_by FROM jobs"):
            by_worker[row["attempted_by"][0]] += 1
        assert set(runs) == set(ids)
        assert set(runs.values()) == {1}
        assert set(by_worker) == {"worker-a", "worker-b"}


class TestLeases:
    async def _running_job(self, pool: asyncpg.Pool, owner: str, expires_in: str) -> int:
        return await pool.fetchval(
            "INSERT INTO jobs (kind, state, attempt, lease_owner, lease_expires_at, started_at, attempted_by) "
            "VALUES ('t.noop', 'running', 1, $1, now() + $2::text::interval, now(), ARRAY[$1]) RETURNING id",
            owner,
            expires_in,
        )

    async def test_rescue_requeues_expired_and_spares_live_leases(self, pool: asyncpg.Pool) -> None:
        dead = await self._running_job(pool, "ghost:1:dead", "-5 seconds")
        alive = await self._running_job(pool, "host:2:live", "30 seconds")
        rescued = await db_jobs.rescue_expired(pool, 100)
        assert [r["id"] for r in rescued] == [dead]
        row = await job_row(pool, dead)
        assert (row["state"], row["attempt"], row["lease_owner"]) == ("queued", 1, None)
        assert "lease expired: worker ghost:1:dead" in row["last_error"]
        assert (await job_row(pool, alive))["state"] == "running"

    async def test_rescue_fails_a_job_out_of_attempts(self, pool: asyncpg.Pool) -> None:
        job_id = await self._running_job(pool, "ghost:1:dead", "-1 second")
        await pool.execute("UPDATE jobs SET max_attempts = 1 WHERE id = $1", job_id)
        await db_jobs.rescue_expired(pool, 100)
        row = await job_row(pool, job_id)
        assert (row["state"], row["finished_at"] is not None) == ("failed", True)

    async def test_rescue_never_overwrites_a_job_finishing_meanwhile(self, pool: asyncpg.Pool) -> None:
        """A completion in flight (row locked) is skipped; once committed, the rescue finds nothing."""
        job_id = await self._running_job(pool, "slow:1:late", "-1 second")
        async with pool.acquire() as finishing:
            tx = finishing.transaction()
            await tx.start()
            applied = await db_jobs.finish(finishing, "slow:1:late", [job_id], ["succeeded"], [None], [None], [0], [0])
            assert set(applied) == {job_id}
            assert await db_jobs.rescue_expired(pool, 100) == []
            await tx.commit()
        assert await db_jobs.rescue_expired(pool, 100) == []
        assert (await job_row(pool, job_id))["state"] == "succeeded"

    async def test_late_completion_after_rescue_is_dropped(self, pool: asyncpg.Pool) -> None:
        job_id = await self._running_job(pool, "slow:1:late", "-1 second")
        await db_jobs.rescue_expired(pool, 100)
        applied = await db_jobs.finish(pool, "slow:1:late", [job_id], ["succeeded"], [None], [None], [0], [0])
        assert applied == {}
        assert (await job_row(pool, job_id))["state"] == "queued"

    async def test_a_run_whose_lease_was_taken_is_abandoned(self, pool: asyncpg.Pool, settings: Settings) -> None:
        long = Probe(hold=True)
        registry = registry_of(JobSpec("t.long", long, timeout=3600))
        job_id = await enqueue(pool, registry, "t.long")
        async with running(settings, pool, registry) as runtime:
            await asyncio.wait_for(long.started.wait(), 10)
            # Another worker rescued and re-claimed it (as after a long freeze of this process).
            await pool.execute("UPDATE jobs SET lease_owner = 'other:9:beef' WHERE id = $1", job_id)
            await runtime.worker.leases.renew_once()
            await asyncio.wait_for(long.cancelled.wait(), 10)
        row = await job_row(pool, job_id)
        assert (row["state"], row["lease_owner"]) == ("running", "other:9:beef"), "not ours to write"


class TestRetention:
    async def test_prune_by_age_and_state_in_batches(self, pool: asyncpg.Pool) -> None:
        await pool.execute(
            """INSERT INTO jobs (kind, state, finished_at)
               SELECT 't.noop', state, now() - age::interval
               FROM (VALUES ('succeeded', '2 days'), ('succeeded', '3 days'), ('cancelled', '2 days'),
                            ('succeeded', '1 hour'), ('failed', '2 days'), ('failed', '20 days'),
                            ('succeeded', '5 days'), ('succeeded', '6 days')) AS v(state, age)"""
        )
        await pool.execute("INSERT INTO jobs (kind) VALUES ('t.noop')")
        maintenance = Maintenance(pool, rescue_every_s=1, keep_succeeded_s=86400, keep_failed_s=14 * 86400, batch=2)
        pruned = await maintenance.prune_once()
        left = await pool.fetch("SELECT state, now() - coalesce(finished_at, now()) AS age FROM jobs ORDER BY id")
        assert pruned == 6
        assert sorted((r["state"], r["age"].days) for r in left) == [("failed", 2), ("queued", 0), ("succeeded", 0)]


async def _noop(_job: Job) -> None:
    return None


async def _state(pool: asyncpg.Pool, job_id: int, state: str) -> bool:
    return await pool.fetchval("SELECT state FROM jobs WHERE id = $1", job_id) == state


class TestVacuum:
    async def test_vacuums_when_dead_rows_pile_up(self, pool: asyncpg.Pool) -> None:
        maintenance = Maintenance(pool, rescue_every_s=1, keep_succeeded_s=1, keep_failed_s=1, vacuum_dead_rows=1000)
        assert await maintenance.vacuum_if_needed() is False, "nothing to do on a clean table"
        async with pool.acquire() as conn:
            await conn.execute("INSERT INTO jobs (kind) SELECT 't.noop' FROM generate_series(1, 3000)")
            await conn.execute("DELETE FROM jobs")
            await conn.execute("SELECT pg_stat_force_next_flush()")
        await wait_until(lambda: _dead_rows_at_least(pool, 3000))
        assert await maintenance.vacuum_if_needed() is True
        vacuumed = await pool.fetchval("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'jobs'")
        assert vacuumed == 1


async def _dead_rows_at_least(pool: asyncpg.Pool, count: int) -> bool:
    return await db_jobs.dead_rows(pool) >= count
