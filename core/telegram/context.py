"""What belongs to the update being applied: its database connection, so everything a handler
writes (its own rows, the FSM state, the blocked flag) commits or rolls back with the update; and
the conversation state read by the update's first statement, so aiogram's per-update state read
costs no query."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from db.pool import Conn

current_db: ContextVar[Conn | None] = ContextVar("current_db", default=None)

# FSM key -> (state, data), read with the update; the storage keeps it current as handlers write.
fsm_cache: ContextVar[dict[str, tuple[str | None, dict[str, Any]]] | None] = ContextVar("fsm_cache", default=None)

# True while the outbox sends an update's replies: they count against the sending budget but never
# wait for it (core/telegram/limiter.py), and a 429 is waited out rather than raised (core/telegram/session.py).
replying: ContextVar[bool] = ContextVar("replying", default=False)
