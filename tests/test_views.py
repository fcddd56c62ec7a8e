"""The psql views an operator reads (README, "Operating it"): what they return for known rows, not only
that they compile."""

from __future__ import annotations

from datetime import timedelta

import asyncpg


async def jobs(pool: asyncpg.Pool, *rows: str) -> None:
    """Insert jobs, each a VALUES row of (kind, state, run_at offset, lease_owner, lease offset,
    last_error, errors, finished offset)."""
    await pool.execute(
        "INSERT INTO jobs (kind, state, run_at, lease_owner, lease_expires_at, last_error, errors, finished_at,"
        " started_at) SELECT k, s, now() + r, o, now() + l, e, x::jsonb, now() + f, CASE WHEN o IS NULL THEN NULL"
        " ELSE now() - interval '1 minute' END FROM (VALUES " + ", ".join(rows) + ") AS v(k, s, r, o, l, e, x, f)"
    )


NONE = "NULL::text"
NO_TIME = "NULL::interval"


async def test_queue_views_show_the_queue_the_stuck_and_the_failures(pool: asyncpg.Pool) -> None:
    await jobs(
        pool,
        # due for 10 minutes, due now, scheduled for later
        f"('generation.prompt', 'queued', interval '-10 minutes', {NONE}, {NO_TIME}, {NONE}, '[]', {NO_TIME})",
        f"('generation.prompt', 'queued', interval '0', {NONE}, {NO_TIME}, {NONE}, '[]', {NO_TIME})",
        f"('generation.prompt', 'queued', interval '1 hour', {NONE}, {NO_TIME}, {NONE}, '[]', {NO_TIME})",
        # running with a live lease, and one whose worker died 30 s ago
        f"('generation.poll', 'running', interval '-1 minute', 'host:1:a', interval '20 seconds', {NONE}, '[]',"
        f" {NO_TIME})",
        f"('generation.poll', 'running', interval '-1 minute', 'host:2:b', interval '-30 seconds', {NONE}, '[]',"
        f" {NO_TIME})",
        # failed for good, waiting to retry after an error, succeeded
        "('generation.deliver', 'failed', interval '-1 hour', NULL, NULL, 'boom', '[{\"error\": \"boom\"}, {}]',"
        " interval '-5 minutes')",
        "('generation.submit', 'queued', interval '30 seconds', NULL, NULL, 'HTTP 502', '[{}]', NULL)",
        "('generation.submit', 'succeeded', interval '-1 hour', NULL, NULL, NULL, '[]', interval '-1 minute')",
    )
    overview = {(r["kind"], r["state"]): r for r in await pool.fetch("SELECT * FROM queue_overview")}
    prompt = overview[("generation.prompt", "queued")]
    assert (prompt["jobs"], prompt["scheduled"]) == (3, 1)
    assert timedelta(minutes=10) <= prompt["oldest_due"] < timedelta(minutes=11)
    assert overview[("generation.poll", "running")]["jobs"] == 2
    assert overview[("generation.submit", "queued")]["scheduled"] == 1
    assert overview[("generation.submit", "queued")]["oldest_due"] is None, "nothing of it is due yet"
    assert set(overview) == {
        ("generation.prompt", "queued"),
        ("generation.poll", "running"),
        ("generation.deliver", "failed"),
        ("generation.submit", "queued"),
        ("generation.submit", "succeeded"),
    }

    stuck = await pool.fetch("SELECT * FROM queue_stuck")
    assert [r["lease_owner"] for r in stuck] == ["host:2:b"], "only the job whose lease ran out"
    assert timedelta(seconds=29) <= stuck[0]["overdue"] <= timedelta(seconds=31)

    failures = await pool.fetch("SELECT * FROM queue_failures")
    assert [(r["kind"], r["state"], r["last_error"], r["errors"]) for r in failures] == [
        ("generation.submit", "queued", "HTTP 502", 1),  # newest first: its retry is due in 30 s
        ("generation.deliver", "failed", "boom", 2),
    ]


async def test_generation_overview_counts_todays_generations_and_the_oldest_unfinished(pool: asyncpg.Pool) -> None:
    await pool.execute("INSERT INTO users (id) VALUES (1)")
    await pool.execute(
        "INSERT INTO generations (user_id, chat_id, provider, model, price, callback_token, status, confirmed_at,"
        " created_at, late) SELECT 1, 1, p, m, 60, md5(random()::text), s, now() + c, now() + a, l FROM (VALUES"
        " ('kie', 'veo3_fast', 'rendering', interval '-20 minutes', interval '-20 minutes', false),"
        " ('kie', 'veo3_fast', 'queued', interval '-3 minutes', interval '-3 minutes', false),"
        " ('kie', 'veo3_fast', 'done', interval '-2 hours', interval '-2 hours', true),"
        " ('kie', 'veo3_fast', 'done', interval '-1 hour', interval '-1 hour', false),"
        " ('kie', 'sora-2', 'failed', interval '-1 hour', interval '-1 hour', false),"
        " ('kie', 'veo3_fast', 'draft', NULL, interval '-1 minute', false),"
        " ('kie', 'veo3_fast', 'done', interval '-3 days', interval '-3 days', false)"
        ") AS v(p, m, s, c, a, l)"
    )
    rows = {(r["status"], r["model"]): r for r in await pool.fetch("SELECT * FROM generation_overview")}
    assert {key: row["generations"] for key, row in rows.items()} == {
        ("done", "veo3_fast"): 2,  # the one from 3 days ago is not today's
        ("draft", "veo3_fast"): 1,
        ("failed", "sora-2"): 1,
        ("queued", "veo3_fast"): 1,
        ("rendering", "veo3_fast"): 1,
    }
    assert rows[("done", "veo3_fast")]["late"] == 1
    assert rows[("done", "veo3_fast")]["oldest_unfinished"] is None
    assert timedelta(minutes=20) <= rows[("rendering", "veo3_fast")]["oldest_unfinished"] < timedelta(minutes=21)
    assert all(row["provider"] == "kie" for row in rows.values())
