"""GET /metrics: this process's counters, the fleet's numbers from the database, in every role."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from core import metrics
from core.providers.prompter import Prompter, PromptError
from core.queue import Registry
from core.web.metrics import Fleet, fleet_families, queued_counts
from db import metrics as db_metrics
from tests.fakes.kie import FakeKie
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram, message_update
from tests.helpers import SECRETS, BotProcess, bot_env, running, wait_until
from tests.test_e2e_generation import render, start_and_confirm, videos_sent

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        return parse(await response.text())


@contextlib.asynccontextmanager
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


class TestAfterAGeneration:
    async def test_counters_and_fleet_numbers(
        self, make_bot: Callable[..., Any], fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        """Process counters move by what happened; the database numbers are exact."""
        async with make_bot(METRICS_CACHE="0s") as bot:
            url = f"{bot.base_url}/metrics"
            before = await scrape(url)
            draft = await start_and_confirm(bot, 601, text="a lighthouse in a storm, seen from a boat")
            await render(fake_kie)
            await videos_sent(fake_telegram, 601)
            await bot.wait_for_generation(draft, "done")
            fake_telegram.block(602)
            assert await bot.send(message_update(bot.next_update_id(), 602, text="/start")) == 200
            await wait_until(lambda: fake_telegram.calls("sendMessage", chat_id=602))
            after = await scrape(url)

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert moved("reelsmith_telegram_updates_total", type="message", outcome="handled") == 3
        assert moved("reelsmith_telegram_updates_total", type="callback_query", outcome="handled") == 1
        assert moved("reelsmith_webhook_seconds_count") == 4
        for kind in ("generation.prompt", "generation.submit", "generation.deliver"):
            assert moved("reelsmith_jobs_total", kind=kind, outcome="succeeded") == 1, kind
        assert moved("reelsmith_telegram_errors_total", method="sendMessage", code="403") == 1
        # From the database: exact, whatever this process did.
        assert value(after, "reelsmith_generations", state="done", model="veo3_fast") == 1
        assert value(after, "reelsmith_credits", reason="starter", direction="in") == 200
        assert value(after, "reelsmith_credits", reason="generation", direction="out") == 60
        assert value(after, "reelsmith_fleet_read_timestamp_seconds") > value(
            before, "reelsmith_fleet_read_timestamp_seconds"
        )
        assert value(after, "reelsmith_stars_revenue") == 0, "the payments table (issue 8), no payment yet"
        assert value(after, "process_resident_memory_bytes") > 0

    async def test_a_token_guards_it(self, make_bot: Callable[..., Any]) -> None:
        async with make_bot(METRICS_TOKEN="scrape-me-please") as bot, session() as http:
            url = f"{bot.base_url}/metrics"
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me-please"}):
                async with http.get(url, headers=headers) as response:
                    assert response.status == 401
                    assert "reelsmith" not in await response.text()
            samples = await scrape(url, {"Authorization": "Bearer scrape-me-please"})
            assert value(samples, "reelsmith_fleet_read_timestamp_seconds") > 0

    async def test_off_means_no_route(self, make_bot: Callable[..., Any]) -> None:
        async with (
            make_bot(METRICS_ENABLED="false") as bot,
            session() as http,
            http.get(f"{bot.base_url}/metrics") as response,
        ):
            assert response.status == 404


async def test_a_worker_only_process_serves_health_and_metrics(database_url: str, pool: asyncpg.Pool) -> None:
    env = bot_env(database_url, METRICS_CACHE="0s")
    worker = await BotProcess.start(env, "--role", "worker")
    await worker.wait_for_event("runtime.started")
    base = f"http://127.0.0.1:{env['PORT']}"
    async with session() as http:
        async with http.get(f"{base}/healthz") as response:
            assert (response.status, await response.text()) == (200, "ok")
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 200
            assert (await response.json())["checks"] == {"database": True, "accepting": True, "consumers": True}
        async with http.get(f"{base}/telegram/webhook") as response:
            assert response.status == 404, "a worker serves no webhook"
    await pool.execute("INSERT INTO jobs (kind) VALUES ('diag.noop')")

    async def noop_counted() -> bool:
        samples = await scrape(f"{base}/metrics")
        return value(samples, "reelsmith_jobs_total", kind="diag.noop", outcome="succeeded") == 1

    await wait_until(noop_counted)


class TestFleet:
    async def test_reads_tables_that_other_parts_add_once_they_exist(self, pool: asyncpg.Pool) -> None:
        fleet = Fleet(pool, cache_s=0)
        await pool.execute("DROP TABLE payments")  # migration 0005 (issue 8) adds it: start without
        assert "reelsmith_stars_revenue" not in (await fleet.exposition()).decode()
        await pool.execute(
            "CREATE TABLE payments (total_amount integer NOT NULL, refunded_at timestamptz,"
            " created_at timestamptz NOT NULL DEFAULT now());"
            "INSERT INTO payments VALUES (50, NULL), (100, NULL), (250, now());"
            # provider_health exists since migration 0003: only its row is new here.
            "INSERT INTO provider_health (provider, available) VALUES ('kie', false)"
            " ON CONFLICT (provider) DO UPDATE SET available = false;"
        )
        samples = parse((await fleet.exposition()).decode())
        assert value(samples, "reelsmith_stars_revenue") == 150
        assert value(samples, "reelsmith_provider_available", provider="kie") == 0

    async def test_cached_between_scrapes(self, pool: asyncpg.Pool) -> None:
        fleet = Fleet(pool, cache_s=3600)
        await fleet.exposition()
        await pool.execute("INSERT INTO jobs (kind) VALUES ('diag.noop')")
        samples = parse((await fleet.exposition()).decode())
        assert fleet.reads == 1
        assert value(samples, "reelsmith_queue_jobs", kind="diag.noop", state="queued") == 0

    def test_oldest_due_age_and_running_jobs(self) -> None:
        readings = {
            "queue": [
                {"kind": "a", "state": "queued", "n": 3, "oldest_due_s": 12.5, "queued_estimate": 0},
                {"kind": "a", "state": "running", "n": 1, "oldest_due_s": None, "queued_estimate": None},
                {"kind": "b", "state": "queued", "n": 2, "oldest_due_s": 0, "queued_estimate": 0},
            ]
        }
        samples = {
            (s.name, frozenset(s.labels.items())): s.value for f in fleet_families(readings, 0) for s in f.samples
        }
        assert value(samples, "reelsmith_queue_oldest_due_seconds", kind="a") == 12.5
        assert value(samples, "reelsmith_queue_oldest_due_seconds", kind="b") == 0
        assert value(samples, "reelsmith_queue_jobs", kind="a", state="running") == 1

    def test_past_the_cap_the_planner_estimate_is_shared(self) -> None:
        rows = [
            {"kind": "small", "n": 40, "queued_estimate": 1_000_000.0},
            {"kind": "big", "n": 100, "queued_estimate": 1_000_000.0},
            {"kind": "huge", "n": 100, "queued_estimate": 1_000_000.0},
        ]
        assert queued_counts(rows, 100) == {"small": 40, "big": 499_980, "huge": 499_980}
        stale = [{**row, "queued_estimate": -1.0} for row in rows]  # never analysed: at least the cap
        assert queued_counts(stale, 100) == {"small": 40, "big": 100, "huge": 100}

    async def test_a_backlog_past_the_cap_and_the_oldest_due_job(self, pool: asyncpg.Pool) -> None:
        await pool.execute(
            "INSERT INTO jobs (kind, priority, run_at) SELECT 'bulk', n % 3, now() - n * interval '1 second'"
            " FROM generate_series(1, 30) n;"
            "INSERT INTO jobs (kind, run_at) VALUES ('later', now() + interval '1 hour');"
            "INSERT INTO jobs (kind, state, lease_owner, lease_expires_at) VALUES ('bulk', 'running', 'w', now());"
            "ANALYZE jobs"
        )
        async with pool.acquire() as conn:
            rows = {(r["kind"], r["state"]): r for r in await db_metrics.queue_depth(conn, 10)}
        assert rows["bulk", "queued"]["n"] == 10, "counted up to the cap"
        assert 30 <= rows["bulk", "queued"]["oldest_due_s"] < 60, "the oldest is 30 s old, whatever its priority"
        assert rows["later", "queued"]["n"] == 1 and rows["later", "queued"]["oldest_due_s"] == 0
        assert rows["bulk", "running"]["n"] == 1
        samples = parse((await Fleet(pool, cache_s=0).exposition()).decode())
        assert value(samples, "reelsmith_queue_jobs", kind="bulk", state="queued") >= 10


class TestTelegramCodes:
    def test_codes_by_exception_class(self) -> None:
        from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
        from aiogram.methods import SendMessage

        method = SendMessage(chat_id=1, text="x")
        assert metrics.telegram_code(TelegramForbiddenError(method, "blocked")) == "403"
        assert metrics.telegram_code(TelegramRetryAfter(method, "slow down", 3)) == "429"
        assert metrics.telegram_code(ValueError("odd")) == "ValueError"


async def test_openai_errors_are_counted_by_code(fake_openai: FakeOpenAI) -> None:
    client = openai.AsyncOpenAI(api_key=SECRETS["OPENAI_API_KEY"], base_url=fake_openai.base_url, max_retries=0)
    metrics.enable(True)

    def count(code: str) -> float:
        return metrics.REGISTRY.get_sample_value("reelsmith_openai_errors_total", {"code": code}) or 0.0

    before = count("500"), count("400")
    fake_openai.fail_next(500)
    fake_openai.fail_next(400, message="bad request")
    try:
        for retryable in (True, False):
            with pytest.raises(PromptError) as raised:
                await Prompter(lambda: client, "gpt-test").write("an idea")
            assert raised.value.retryable is retryable
        assert await Prompter(lambda: client, "gpt-test").write("an idea") == fake_openai.reply
    finally:
        await client.close()
    assert (count("500"), count("400")) == (before[0] + 1, before[1] + 1)


class TestPrivateInWebhookMode:
    """Issue 15: with PUBLIC_BASE_URL set the process is on the internet, so /metrics needs a token."""

    @pytest.mark.parametrize("token", [None, "scrape-me-please"], ids=["no token", "a token"])
    async def test_without_a_token_it_is_a_404(self, settings: Any, pool: asyncpg.Pool, token: str | None) -> None:
        if token:
            settings = settings.changed(metrics={"token": SecretStr(token)})
        async with running(settings, pool, Registry(), private_metrics=True), session() as http:
            url = f"http://127.0.0.1:{settings.runtime.port}/metrics"
            async with http.get(url) as response:
                assert response.status == (401 if token else 404)
                assert "reelsmith" not in await response.text()
            if token:
                samples = await scrape(url, {"Authorization": f"Bearer {token}"})
                assert value(samples, "reelsmith_fleet_read_timestamp_seconds") > 0
            async with http.get(f"http://127.0.0.1:{settings.runtime.port}/healthz") as response:
                assert response.status == 200, "the rest is served as before"
