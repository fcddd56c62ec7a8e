"""Telegram plumbing (sql/telegram.sql): applied updates, conversation state, shared rate limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.jobs import Executor
from db.pool import Conn
from db.sql import queries
from db.users import User


@dataclass(frozen=True, slots=True)
class UpdateStart:
    first: bool  # False: this update_id was applied before
    recent_messages: int  # the user's messages in the last minute, this one included
    user: User | None  # None: an update without a (human) sender
    fsm_state: str | None
    fsm_data: dict[str, Any] | None  # None: no FSM row


async def begin_update(
    db: Executor,
    update_id: int,
    user_id: int | None,
    kind: str,
    username: str | None,
    first_name: str | None,
    language_code: str | None,
    fsm_key: str,
    language: str,
    *,
    bot_id: int,
) -> UpdateStart:
    """Claim update ``update_id`` of bot ``bot_id`` (update_ids count per bot) and read its user."""
    row = (
        await db.fetch(
            queries.update_begin,
            update_id,
            user_id,
            kind,
            username,
            first_name,
            language_code,
            fsm_key,
            language,
            bot_id,
        )
    )[0]
    user = User.of(row) if row["id"] is not None else None
    return UpdateStart(row["first"], row["recent"], user, row["fsm_state"], row["fsm_data"])


async def set_update_outcome(
    db: Executor, update_id: int, user_id: int | None, kind: str, outcome: str, error: str | None = None, *, bot_id: int
) -> None:
    await db.execute(queries.update_set_outcome, update_id, user_id, kind, outcome, error, bot_id)


async def skip_update(db: Executor, update_id: int, kind: str, error: str, *, bot_id: int) -> None:
    await db.execute(queries.update_skip, update_id, kind, error, bot_id)


async def adopt_updates(db: Executor, bot_id: int) -> int:
    """Updates recorded before dedupe was per bot become bot ``bot_id``'s; returns how many."""
    status: str = await db.execute(queries.update_adopt, bot_id)
    return int(status.split()[-1])


async def stored_webhook_secret(db: Executor, bot_id: int) -> str | None:
    secret: str | None = await db.fetchval(queries.bot_secret_get, bot_id)
    return secret


async def store_webhook_secret(db: Executor, bot_id: int, secret: str) -> bool:
    """Store ``secret`` unless another process stored one first; True when this one was stored."""
    return await db.fetchval(queries.bot_secret_insert, bot_id, secret) is not None


async def prune_updates(db: Executor, older_than_s: float, batch: int) -> int:
    return await db.fetchval(queries.update_prune, older_than_s, batch)


async def fsm_get(db: Executor, key: str) -> tuple[str | None, dict[str, Any]]:
    rows = await db.fetch(queries.fsm_get, key)
    return (rows[0]["state"], rows[0]["data"]) if rows else (None, {})


async def fsm_set_state(db: Executor, key: str, state: str | None) -> None:
    await db.execute(queries.fsm_set_state, key, state)


async def fsm_set_data(db: Executor, key: str, data: dict[str, Any]) -> None:
    await db.execute(queries.fsm_set_data, key, data)


async def take_rate_slot_stamped(conn: Conn, bucket: str, limit: int, window_s: float) -> tuple[float, datetime | None]:
    """Take one slot of a shared limit (``rate_lock`` then ``rate_take``, in a transaction of its own):
    0 when taken, else seconds to wait; and the slot's stamp (None when not taken) for ``settle_rate_slot``."""
    async with conn.transaction():
        await conn.execute(queries.rate_lock, bucket)
        (row,) = await conn.fetch(queries.rate_take, bucket, limit, window_s)  # always one row
    return row["wait_s"], row["taken_at"]


async def lease_send_slots(db: Executor, bucket: str, window_no: int, want: int, limit: int, sent: int) -> int:
    """Lease up to ``want`` slots of a window holding ``limit``, counting ``sent`` replies first."""
    return await db.fetchval(queries.send_lease, bucket, window_no, want, limit, sent)


async def prune_send_windows(db: Executor, bucket: str, before_window: int) -> None:
    await db.execute(queries.send_windows_prune, bucket, before_window)


async def settle_rate_slot(db: Executor, bucket: str, taken_at: datetime) -> None:
    """The slot's request was answered: count the slot from now (the remote side counted it in between)."""
    await db.execute(queries.rate_settle, bucket, taken_at)
