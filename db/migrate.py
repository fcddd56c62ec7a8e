"""Numbered plain-SQL migrations from sql/migrations, applied at start under an advisory lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from db.pool import Conn
from db.sql import MIGRATIONS_DIR, queries, sql_files

# Any constant works; this one spells "Reel" so it is recognisable in pg_locks.
LOCK_KEY = 0x5265656C

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Traversable


def discover(directory: Traversable = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sql_files(directory):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNNN_some_name.sql")
        version = int(match.group("version"))
        if version in found:
            raise ValueError(f"{path}: version {version} is used by {found[version].path.name} too")
        found[version] = Migration(version, match.group("name"), path)
    return [found[v] for v in sorted(found)]


async def migrate(conn: Conn, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply what is missing, all or nothing; return what this call applied."""
    pending = discover() if migrations is None else migrations
    applied: list[Migration] = []
    async with conn.transaction():
        await conn.execute(queries.migration_lock, LOCK_KEY)
        await conn.execute(queries.migration_table)
        done = {row["version"] for row in await conn.fetch(queries.migration_applied)}
        for migration in pending:
            if migration.version in done:
                continue
            await conn.execute(migration.path.read_text(encoding="utf-8"))
            await conn.execute(queries.migration_record, migration.version, migration.name)
            applied.append(migration)
    return applied


async def applied_versions(conn: Conn) -> set[int] | None:
    """The versions applied so far, or None when no migration ever ran here; reads only."""
    if not await conn.fetchval(queries.migration_table_exists):
        return None
    return {row["version"] for row in await conn.fetch(queries.migration_applied)}
