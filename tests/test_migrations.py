"""Migrations: applied once, in order, safely when several processes start at the same moment."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from db.migrate import discover, migrate
from db.pool import connect


async def test_fresh_database_gets_every_migration_once(empty_database_url: str) -> None:
    conn = await connect(empty_database_url)
    try:
        first = await migrate(conn)
        second = await migrate(conn)
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [m.version for m in first] == [m.version for m in discover()]
    assert second == [], "running again changes nothing"
    assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in discover()]


async def test_concurrent_starts_apply_each_migration_once(empty_database_url: str) -> None:
    """Four processes starting at once: one applies, the others wait on the lock and find it done."""
    conns = [await connect(empty_database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(conn) for conn in conns))
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        for conn in conns:
            await conn.close()
    applied = [len(r) for r in results]
    assert sorted(applied) == [0, 0, 0, len(discover())]
    assert count == len(discover())


async def test_schema_guards_its_invariants(pool: asyncpg.Pool) -> None:
    """The CHECK constraints reject rows the queue could never produce."""
    with pytest.raises(asyncpg.CheckViolationError, match="running_iff_leased"):
        await pool.execute("INSERT INTO jobs (kind, state) VALUES ('diag.noop', 'running')")
    with pytest.raises(asyncpg.CheckViolationError, match="state_is_known"):
        await pool.execute("INSERT INTO jobs (kind, state) VALUES ('diag.noop', 'done')")
    with pytest.raises(asyncpg.CheckViolationError, match="finished_iff_final"):
        await pool.execute("INSERT INTO jobs (kind, state) VALUES ('diag.noop', 'succeeded')")


def test_migration_files_are_numbered_in_order() -> None:
    versions = [m.version for m in discover()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
