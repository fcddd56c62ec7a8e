"""Generation statuses are one enum in Python (db/generations.Status) and one CHECK in SQL: the same.
Status edits are spaced per generation and per chat (generation_claim_status_edit)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import asyncpg

from db import generations as db_generations
from db.generations import UNFINISHED, WAITING, Status


async def test_the_enum_and_the_database_constraint_name_the_same_statuses(pool: asyncpg.Pool) -> None:
    definition = await pool.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'status_is_known'"
        " AND conrelid = 'generations'::regclass"
    )
    assert set(re.findall(r"'(\w+)'::text", definition)) == {s.value for s in Status}


async def test_the_unfinished_index_covers_exactly_the_unfinished_statuses(pool: asyncpg.Pool) -> None:
    index = await pool.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'generations_unfinished'")
    assert set(re.findall(r"'(\w+)'::text", index)) == {s.value for s in UNFINISHED}
    assert set(WAITING) < set(UNFINISHED)


async def _rendering(pool: asyncpg.Pool, user_id: int, n: int) -> list[int]:
    await pool.execute("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user_id)
    ids = []
    for i in range(n):
        draft = await db_generations.create_draft(
            pool, user_id, user_id, "veo3_fast", 60, "idea", None, f"t{user_id}-{i}", "kie"
        )
        await pool.execute("UPDATE generations SET status = 'rendering', confirmed_at = now() WHERE id = $1", draft.id)
        ids.append(draft.id)
    return ids


async def _age(pool: asyncpg.Pool, user_id: int, seconds: float) -> None:
    """Move the chat's and its generations' last edits back in time."""
    interval = timedelta(seconds=seconds)
    await pool.execute(
        "UPDATE chat_edits SET edited_at = edited_at - $2::interval WHERE chat_id = $1", user_id, interval
    )
    await pool.execute(
        "UPDATE generations SET status_edited_at = status_edited_at - $2::interval WHERE user_id = $1",
        user_id,
        interval,
    )


async def test_ticks_of_one_chat_are_spaced_across_its_generations(pool: asyncpg.Pool) -> None:
    a, b = await _rendering(pool, 7001, 2)
    (other,) = await _rendering(pool, 7002, 1)
    claim = db_generations.claim_status_edit
    assert await claim(pool, a, 15, False, "rendering")  # a new stage shows
    assert await claim(pool, b, 15, False, "rendering")  # so does b's: a stage change is news
    await _age(pool, 7001, 16)  # both generations may tick again
    assert await claim(pool, a, 15, False, "rendering")
    assert not await claim(pool, b, 15, False, "rendering")  # the chat ticked a moment ago
    assert await claim(pool, other, 15, False, "rendering")  # another chat is not held back
    assert await claim(pool, b, 15, False, "uploading")  # a stage change is never held back
    assert await claim(pool, b, 15, True, "done")  # nor a final word
    await _age(pool, 7001, db_generations.CHAT_TICK_GAP_S + 1)
    assert not await claim(pool, a, 15, False, "rendering")  # a's own 15 s have not passed
    await _age(pool, 7001, 15)
    assert await claim(pool, a, 15, False, "rendering")


async def test_concurrent_ticks_in_one_chat_let_one_through(pool: asyncpg.Pool) -> None:
    ids = await _rendering(pool, 7003, 8)
    for gid in ids:
        assert await db_generations.claim_status_edit(pool, gid, 15, False, "rendering")
    await _age(pool, 7003, 16)
    results = await asyncio.gather(
        *(db_generations.claim_status_edit(pool, gid, 15, False, "rendering") for gid in ids)
    )
    assert sum(results) == 1


async def test_a_claim_never_waits_on_the_users_row(pool: asyncpg.Pool) -> None:
    """An update's transaction holds the user's row from its first statement and may then lock a
    generation; the pipeline's fail() locks the generation, then the user. A claim that locked the
    user's row too could close a cycle with either: it takes the generation, then chat_edits."""
    (gid,) = await _rendering(pool, 7004, 1)
    async with pool.acquire() as update, update.transaction():
        await update.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", 7004)
        async with pool.acquire() as job:
            await job.execute("SET lock_timeout = '2s'")  # waiting on a lock fails instead of hanging
            assert await db_generations.claim_status_edit(job, gid, 15, False, "rendering")
            await job.execute("RESET lock_timeout")
