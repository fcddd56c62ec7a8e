"""Connections: the shared asyncpg pool and single dedicated connections, with one set of codecs.

With LOG_SQL=true every statement is logged by its name (``-- name:`` in sql/*.sql) with its
duration and row count, never its parameters (they hold personal data: ideas, names, ids).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from db.sql import queries

log = structlog.get_logger("db.sql")
T = TypeVar("T")

# A connection of our own (connect) or one borrowed from the pool (pool.acquire()): both run statements alike.
Conn = asyncpg.Connection | PoolConnectionProxy

CONNECT_TIMEOUT_S = 10.0

# While the database is away asyncpg logs a full traceback each time it fails to refill the pool;
# the outage is reported once by core/runtime/outage.py instead.
logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, everywhere.
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=_dumps, decoder=json.loads, schema="pg_catalog")


def _statement_cache_size(transaction_pooler: bool) -> int:
    # Behind PgBouncer/Supavisor in transaction mode a prepared statement may land on another
    # server connection, so asyncpg must not cache them.
    return 0 if transaction_pooler else 100


# Transactions' BEGIN/COMMIT, the pool's reset of a released connection, health checks: noise.
_NOISE = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|SELECT 1\b|SELECT pg_advisory_unlock_all\(\))", re.IGNORECASE
)
_ROWS = re.compile(r"(\d+)$")


def log_statement(statement: str, seconds: float, rows: int | None, error: BaseException | None = None) -> None:
    """One line per statement: its name, or the start of its text when it has none (never parameters)."""
    name = queries.name_of(statement)
    if name is None and _NOISE.match(statement):
        return
    fields: dict[str, Any] = {"statement": name or " ".join(statement.split())[:80], "ms": round(seconds * 1000, 2)}
    if rows is not None:
        fields["rows"] = rows
    if error is not None:
        log.info("db.sql.failed", error=type(error).__name__, **fields)
    else:
        log.info("db.sql", **fields)


def rows_of(status: str) -> int | None:
    """Rows a command touched, from its status ("UPDATE 3", "INSERT 0 1"); None when it says none."""
    found = _ROWS.search(status or "")
    return int(found.group(1)) if found else None


class SqlLoggingConnection(asyncpg.Connection):
    """LOG_SQL=true: asyncpg's statement methods, each timed and logged by name with its row count.

    asyncpg's own query logger (add_query_logger) gives the duration but not the rows, hence this."""

    async def fetch(self, query: str, *args: Any, **options: Any) -> list[Any]:
        return await _logged(query, super().fetch(query, *args, **options), len)

    async def fetchrow(self, query: str, *args: Any, **options: Any) -> Any:
        return await _logged(query, super().fetchrow(query, *args, **options), lambda row: int(row is not None))

    async def fetchval(self, query: str, *args: Any, **options: Any) -> Any:
        return await _logged(query, super().fetchval(query, *args, **options), lambda _value: None)

    async def execute(self, query: str, *args: Any, **options: Any) -> str:
        return await _logged(query, super().execute(query, *args, **options), rows_of)


async def _logged(query: str, run: Awaitable[T], rows: Callable[[T], int | None]) -> T:
    started = time.perf_counter()
    try:
        result = await run
    except BaseException as error:
        log_statement(query, time.perf_counter() - started, None, error)
        raise
    log_statement(query, time.perf_counter() - started, rows(result))
    return result


def _connection_class(log_sql: bool) -> type[asyncpg.Connection]:
    return SqlLoggingConnection if log_sql else asyncpg.Connection


async def create_pool(
    dsn: str, *, max_size: int, transaction_pooler: bool = False, log_sql: bool = False
) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        # A new connection to a database in failover must fail fast (asyncpg waits 60 s by default):
        # the webhook answers 503 and the loops back off instead of hanging (core/runtime/outage.py).
        timeout=CONNECT_TIMEOUT_S,
        min_size=1,
        max_size=max_size,
        statement_cache_size=_statement_cache_size(transaction_pooler),
        init=_init_connection,
        connection_class=_connection_class(log_sql),
    )


async def connect(dsn: str, *, transaction_pooler: bool = False, log_sql: bool = False) -> asyncpg.Connection:
    conn = await asyncpg.connect(
        dsn, statement_cache_size=_statement_cache_size(transaction_pooler), connection_class=_connection_class(log_sql)
    )
    await _init_connection(conn)
    return conn
