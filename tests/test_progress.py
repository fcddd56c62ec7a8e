"""Progress people can see (issue 17): the bar and the time left from each model's median render time,
the median query on a real database, its per-process cache, and the bar in the chat's status message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core.pipeline.medians import RenderMedians
from core.ui.progress import CAP, Progress, bar, estimate, typical_render_s
from db import generations as db_generations
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import BotHarness
from tests.test_e2e_generation import ANN, render, start_and_confirm, videos_sent


class TestEstimate:
    def test_half_way_through_the_median(self) -> None:
        assert estimate(60, 120) == Progress(0.5, 60, False)

    def test_the_start_and_negative_clocks_read_zero(self) -> None:
        assert estimate(0, 90) == Progress(0.0, 90, False)
        assert estimate(-5, 90) == Progress(0.0, 90, False)

    def test_capped_before_delivery(self) -> None:
        progress = estimate(119, 120)
        assert progress.fraction == CAP and progress.eta_seconds == 1 and not progress.late

    def test_well_past_the_median_is_late_with_no_time_promised(self) -> None:
        assert estimate(121, 120) == Progress(CAP, 0, False), "half of all renders pass the median"
        assert estimate(150, 120) == Progress(CAP, 0, False)
        assert estimate(151, 120) == Progress(CAP, None, True)
        assert estimate(10_000, 120) == Progress(CAP, None, True)

    def test_no_history_moves_from_the_family_guess_and_promises_no_time(self) -> None:
        early, half, long = (estimate(s, None, typical_s=120) for s in (0, 120, 100_000))
        assert (early.fraction, half.fraction, long.fraction) == (0.0, 0.5, CAP)
        assert {early.eta_seconds, half.eta_seconds, long.eta_seconds} == {None}
        assert not (early.late or half.late or long.late)
        assert estimate(60, None).eta_seconds is None  # the default family guess
        assert estimate(60, 0) == estimate(60, None), "a zero median is no history"

    def test_family_guesses(self) -> None:
        assert typical_render_s("veo") < typical_render_s("sora")
        assert typical_render_s("some-new-family") > 0


class TestBar:
    def test_english(self) -> None:
        assert bar(Progress(0.5, 110, False), "en") == "▓▓▓▓▓░░░░░ 50% · about 2 min left"
        assert bar(Progress(0.9, 20, False), "en") == "▓▓▓▓▓▓▓▓▓░ 90% · under a minute left"

    def test_russian(self) -> None:
        assert bar(Progress(0.5, 110, False), "ru") == "▓▓▓▓▓░░░░░ 50% · осталось около 2 мин"
        assert bar(Progress(CAP, None, True), "ru") == "▓▓▓▓▓▓▓▓▓░ 95% · идёт дольше обычного"

    def test_late_says_so(self) -> None:
        assert bar(estimate(500, 120), "en") == "▓▓▓▓▓▓▓▓▓░ 95% · taking longer than usual"

    def test_no_history_is_the_bar_alone(self) -> None:
        assert bar(estimate(0, None), "en") == "░░░░░░░░░░ 0%"

    def test_out_of_range_fractions_are_drawn_within_the_bar(self) -> None:
        assert bar(Progress(-1, None, False), "en") == "░░░░░░░░░░ 0%"
        assert bar(Progress(3, None, False), "en") == "▓▓▓▓▓▓▓▓▓▓ 100%"


async def delivered(pool: asyncpg.Pool, model: str, render_s: float, *, ago_s: float = 600, user_id: int = 9100) -> int:
    """A delivered generation of ``model`` that took ``render_s`` from acceptance to delivery."""
    await pool.execute("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user_id)
    draft = await db_generations.create_draft(
        pool, user_id, user_id, model, 60, "idea", None, f"tok-{model}-{ago_s}-{render_s}", "kie"
    )
    finished = datetime.now(UTC) - timedelta(seconds=ago_s)
    await pool.execute(
        "UPDATE generations SET status = 'done', confirmed_at = $2, rendering_at = $3, finished_at = $2 WHERE id = $1",
        draft.id,
        finished,
        finished - timedelta(seconds=render_s),
    )
    return draft.id


class TestMedians:
    async def test_per_model_over_its_deliveries(self, pool: asyncpg.Pool) -> None:
        for seconds in (60, 100, 200):
            await delivered(pool, "veo3_fast", seconds)
        for seconds in (30, 50):
            await delivered(pool, "seedance-2-mini", seconds)
        async with pool.acquire() as conn:
            medians = await db_generations.render_medians(conn)
        assert medians == {"veo3_fast": 100.0, "seedance-2-mini": 40.0}

    async def test_only_the_last_deliveries_count(self, pool: asyncpg.Pool) -> None:
        for i in range(4):  # older and slow
            await delivered(pool, "veo3", 1000, ago_s=10_000 + i)
        for i in range(3):  # recent
            await delivered(pool, "veo3", 100 + i, ago_s=100 + i)
        async with pool.acquire() as conn:
            assert await db_generations.render_medians(conn, last=3) == {"veo3": 101.0}
            assert (await db_generations.render_medians(conn))["veo3"] == 1000.0  # all 7 within 50

    async def test_unfinished_failed_and_never_rendered_do_not_count(self, pool: asyncpg.Pool) -> None:
        gid = await delivered(pool, "veo3_fast", 50)
        await pool.execute("UPDATE generations SET status = 'failed' WHERE id = $1", gid)
        never = await delivered(pool, "veo3_fast", 70)
        await pool.execute("UPDATE generations SET rendering_at = NULL WHERE id = $1", never)
        async with pool.acquire() as conn:
            assert await db_generations.render_medians(conn) == {}

    async def test_the_query_can_read_the_delivered_index(self, pool: asyncpg.Pool) -> None:
        statement = db_generations.queries.generation_render_medians.replace("$1::int", "50")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask whether the index serves it
            plan = "\n".join(row[0] for row in await conn.fetch("EXPLAIN " + statement))
        assert "generations_delivered" in plan


class TestCache:
    async def test_read_once_per_ttl(self, pool: asyncpg.Pool) -> None:
        now = [0.0]
        medians = RenderMedians(ttl_s=60, clock=lambda: now[0])
        await delivered(pool, "veo3_fast", 100)
        assert await medians.of(pool, "veo3_fast") == 100.0
        await delivered(pool, "veo3_fast", 300)
        await delivered(pool, "veo3_fast", 300, ago_s=601)
        now[0] = 59.0
        assert await medians.of(pool, "veo3_fast") == 100.0, "cached within the minute"
        now[0] = 61.0
        assert await medians.of(pool, "veo3_fast") == 300.0
        assert await medians.of(pool, "kling-3.0-std") is None

    async def test_concurrent_readers_of_a_stale_cache_share_one_query(self, pool: asyncpg.Pool) -> None:
        await delivered(pool, "veo3_fast", 100)

        class Counting:
            acquired = 0

            def acquire(self) -> Any:
                Counting.acquired += 1
                return pool.acquire()

        medians = RenderMedians()
        got = await asyncio.gather(*(medians.of(Counting(), "veo3_fast") for _ in range(50)))  # type: ignore[arg-type]
        assert got == [100.0] * 50 and Counting.acquired == 1


class TestStatusMessage:
    async def test_the_rendering_status_carries_the_bar_and_the_time_left(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        for seconds in (100, 120, 140):  # veo3_fast's history: a median of 2 minutes
            await delivered(bot.pool, "veo3_fast", seconds)
        draft = await start_and_confirm(bot, ANN, text="a lighthouse in a storm")
        await fake_kie.wait_for(lambda fake: len(fake.tasks) >= 1)
        row = await bot.wait_for_generation(draft, "rendering")
        await fake_telegram.wait_for(
            lambda calls: any(c.method == "editMessageText" and "Rendering" in str(c.params.get("text")) for c in calls)
        )
        edit = next(
            c for c in fake_telegram.calls("editMessageText", chat_id=ANN) if "Rendering" in str(c.params.get("text"))
        )
        assert int(edit.params["message_id"]) == row["status_message_id"]
        assert "░░░░░░░░░░ 0% · about 2 min left" in edit.params["text"]
        await render(fake_kie)
        await videos_sent(fake_telegram, ANN)
