"""Generation statuses are one enum in Python (db/generations.Status) and one CHECK in SQL: the same."""

from __future__ import annotations

import re

import asyncpg

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
