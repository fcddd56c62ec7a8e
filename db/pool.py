"""Connections: the shared asyncpg pool and single dedicated connections, with one set of codecs."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg

CONNECT_TIMEOUT_S = 10.0

# While the database is away asyncpg logs a full traceback each time it fails to refill the pool;
# the outage is reported once by core/queue/outage.py instead.
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


async def create_pool(dsn: str, *, max_size: int, transaction_pooler: bool = False) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        # A new connection to a database in failover must fail fast (asyncpg waits 60 s by default):
        # the webhook answers 503 and the loops back off instead of hanging (core/queue/outage.py).
        timeout=CONNECT_TIMEOUT_S,
        min_size=1,
        max_size=max_size,
        statement_cache_size=_statement_cache_size(transaction_pooler),
        init=_init_connection,
    )


async def connect(dsn: str, *, transaction_pooler: bool = False) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, statement_cache_size=_statement_cache_size(transaction_pooler))
    await _init_connection(conn)
    return conn
