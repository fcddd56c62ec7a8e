"""What /deletemydata erases (sql/privacy.sql)."""

from __future__ import annotations

from db.generations import Status
from db.jobs import Executor
from db.sql import queries


async def unfinished(db: Executor, user_id: int) -> list[tuple[int, Status]]:
    return [(row["id"], Status(row["status"])) for row in await db.fetch(queries.privacy_unfinished, user_id)]


async def erase(db: Executor, user_id: int) -> list[int]:
    """Erase the user's words, photos and names; the ids of their generations kept (scrubbed)."""
    return [row["id"] for row in await db.fetch(queries.privacy_erase, user_id)]


async def clear_old(db: Executor, days: int, limit: int) -> list[tuple[int, int]]:
    """A batch of generations older than ``days`` cleared of ideas, prompts and photos: (id, user id)."""
    return [(row["id"], row["user_id"]) for row in await db.fetch(queries.retention_clear, days, limit)]
