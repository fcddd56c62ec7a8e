"""The database connection of the update being applied, so everything a handler writes (its own
rows, the FSM state, the blocked flag) commits or rolls back with the update itself."""

from __future__ import annotations

from contextvars import ContextVar

import asyncpg

current_db: ContextVar[asyncpg.Connection | None] = ContextVar("current_db", default=None)
