"""The SQL catalogue: every statement parses and type-checks against the migrated schema, and
every statement named in code exists (and the other way round)."""

from __future__ import annotations

import re

import asyncpg
import pytest

from db.sql import parse_named_statements, queries
from tests.helpers import REPO


async def test_every_statement_prepares(pool: asyncpg.Pool) -> None:
    """PREPARE checks tables, columns and parameter types without running anything."""
    async with pool.acquire() as conn:
        for name in queries.names():
            if name.startswith("migration_"):
                continue  # their table is created by the statements themselves
            try:
                await conn.prepare(getattr(queries, name))
            except asyncpg.PostgresError as error:
                pytest.fail(f"{name}: {error}")


def test_named_in_code_iff_defined() -> None:
    used: set[str] = set()
    for path in [*REPO.glob("db/*.py"), *REPO.glob("core/**/*.py")]:
        used |= set(re.findall(r"\bqueries\.([a-z_][a-z0-9_]*)\b", path.read_text()))
    used -= {"names", "name_of"}
    assert used == set(queries.names())


def test_parser_rejects_duplicates_and_empty_statements() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse_named_statements("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")
    with pytest.raises(ValueError, match="is empty"):
        parse_named_statements("-- name: a\n-- just a comment\n")
    assert parse_named_statements("-- header\n-- name: a\n-- $1 x\nSELECT $1;\n") == {"a": "-- $1 x\nSELECT $1;"}


def test_unknown_statement_fails_loudly() -> None:
    with pytest.raises(AttributeError, match="no SQL statement named 'job_claimm'"):
        _ = queries.job_claimm
