"""GET /metrics: this process's counters (core/metrics.py) and the fleet's numbers, read from the
database at scrape time (at most once per METRICS_CACHE), in Prometheus text format."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.metrics import REGISTRY
from db import metrics as db_metrics

log = structlog.get_logger("metrics")

# Queued jobs are counted exactly up to this many per kind; past it, the planner's estimate is used,
# so a scrape stays fast under a backlog of millions (bench/metrics_bench.py).
QUEUE_COUNT_CAP = 10_000


# --- the fleet: numbers read from the database at scrape time -----------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the database said at one moment, as metric families."""

    families: list[Metric] = field(default_factory=list)
    taken_at: float = 0.0


def fleet_families(readings: dict[str, list[Any]], now: float) -> list[Metric]:
    """The database's rows as metric families: a plain function, testable without a database."""
    generations = GaugeMetricFamily(
        "reelsmith_generations", "Generations by state and model (all time).", labels=["state", "model"]
    )
    for row in readings.get("generations", []):
        generations.add_metric([row["status"], row["model"]], row["n"])
    credits = GaugeMetricFamily(
        "reelsmith_credits",
        "Credits moved by the ledger, by reason (starter, generation, refund, admin, purchase...) and "
        "direction (in: granted or sold, out: spent).",
        labels=["reason", "direction"],
    )
    for row in readings.get("credits", []):
        credits.add_metric([row["reason"], "in"], row["added"])
        credits.add_metric([row["reason"], "out"], row["taken"])
    depth = GaugeMetricFamily(
        "reelsmith_queue_jobs",
        f"Unfinished jobs by kind and state; queued ones exact up to {QUEUE_COUNT_CAP:,} per kind, estimated past it.",
        labels=["kind", "state"],
    )
    oldest = GaugeMetricFamily(
        "reelsmith_queue_oldest_due_seconds", "Age of the oldest job that could run now, by kind.", labels=["kind"]
    )
    queued = queued_counts([row for row in readings.get("queue", []) if row["state"] == "queued"], QUEUE_COUNT_CAP)
    for row in readings.get("queue", []):
        depth.add_metric([row["kind"], row["state"]], queued[row["kind"]] if row["state"] == "queued" else row["n"])
        if row["state"] == "queued":
            oldest.add_metric([row["kind"]], max(0.0, row["oldest_due_s"] or 0.0))
    families: list[Metric] = [generations, credits, depth, oldest]
    if "stars" in readings:
        revenue = GaugeMetricFamily("reelsmith_stars_revenue", "Telegram Stars received (all time, refunds deducted).")
        revenue.add_metric([], sum(row["stars"] for row in readings["stars"]))
        families.append(revenue)
    if "providers" in readings:
        health = GaugeMetricFamily(
            "reelsmith_provider_available",
            "1 when the video provider is available, 0 during an outage.",
            labels=["provider"],
        )
        for row in readings["providers"]:
            health.add_metric([row["provider"]], 1.0 if row["available"] else 0.0)
        families.append(health)
    scraped = GaugeMetricFamily("reelsmith_fleet_read_timestamp_seconds", "When these database numbers were read.")
    scraped.add_metric([], now)
    families.append(scraped)
    return families


def queued_counts(rows: list[Any], cap: int) -> dict[str, float]:
    """Queued jobs per kind: exact below ``cap``; kinds at the cap share what the planner's estimate
    of the whole queue leaves over the exact ones (never less than the cap)."""
    exact = {row["kind"]: float(row["n"]) for row in rows if row["n"] < cap}
    capped = [row["kind"] for row in rows if row["n"] >= cap]
    if not capped:
        return exact
    estimate = max((row["queued_estimate"] or 0.0) for row in rows)
    each = max(float(cap), (estimate - sum(exact.values())) / len(capped))
    return exact | dict.fromkeys(capped, float(round(each)))


class Fleet(Collector):
    """Reads the fleet-wide numbers at most once per ``cache_s``; concurrent scrapes share one read."""

    def __init__(self, pool: asyncpg.Pool, *, cache_s: float) -> None:
        self._pool = pool
        self._cache_s = cache_s
        self._snapshot = Snapshot()
        self._lock = asyncio.Lock()
        self.reads = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    async def refresh(self) -> None:
        async with self._lock:
            now = time.time()
            if self.reads and now - self._snapshot.taken_at < self._cache_s:
                return
            readings = await read_fleet(self._pool)
            self._snapshot = Snapshot(fleet_families(readings, now), now)
            self.reads += 1

    def collect(self) -> Iterator[Metric]:
        return iter(self._snapshot.families)

    async def exposition(self) -> bytes:
        """The text /metrics answers: this process's counters, then the fleet's numbers.

        With the database unreachable the last numbers read are served (their timestamp says how old)."""
        try:
            await self.refresh()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("metrics.fleet_unreadable", error=str(error) or type(error).__name__)
        return generate_latest(REGISTRY) + generate_latest(self.registry)


async def read_fleet(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    """One connection, one read-only transaction: the numbers agree with each other."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        readings: dict[str, list[Any]] = {
            "generations": await db_metrics.generations(conn),
            "credits": await db_metrics.credits(conn),
            "queue": await db_metrics.queue_depth(conn, QUEUE_COUNT_CAP),
            "stars": await db_metrics.stars_revenue(conn),
            "providers": await db_metrics.provider_health(conn),
        }
        return readings


def metrics_route(fleet: Fleet, token: str | None, *, hidden: bool = False) -> Callable[[web.Application], None]:
    """GET /metrics in Prometheus text format; with METRICS_TOKEN, only for ``Authorization: Bearer``;
    ``hidden`` (public and no token): a 404, as if there were no such route."""
    expected = f"Bearer {token}".encode()

    async def metrics(request: web.Request) -> web.Response:
        if hidden:
            return web.Response(status=404, text="Not Found")
        if token and not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
            return web.Response(status=401, text="unauthorized", headers={"WWW-Authenticate": "Bearer"})
        return web.Response(body=await fleet.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def add(app: web.Application) -> None:
        app.router.add_get("/metrics", metrics)

    return add
