"""Erasing a user's data (/deletemydata's button and the Mini App's ``DELETE /app/api/me``), in the
caller's transaction: generations still waiting for the provider are cancelled and refunded, then
sql/privacy.sql ``privacy_erase`` scrubs the rest and the archive's objects go in a job after the
commit (storage is a network call). While a generation is at the provider nothing is erased: the
caller asks the user to try again once it ended (core/bot/privacy.py says why)."""

from __future__ import annotations

from core.pipeline.refunds import cancel
from core.pipeline.retention import ERASE_ARCHIVE
from core.pipeline.services import App
from core.queue import enqueue
from db import privacy as db_privacy
from db.generations import WAITING
from db.pool import Conn


async def erase(db: Conn, app: App, user_id: int) -> int | None:
    """The number of generations cancelled and refunded; None when one is under way (nothing erased)."""
    under_way = await db_privacy.unfinished(db, user_id)
    if any(status not in WAITING for _, status in under_way):
        return None
    for generation_id, _ in under_way:
        if await cancel(db, generation_id, user_id) is None:  # its create call is in flight
            return None
    generations = await db_privacy.erase(db, user_id)
    if app.storage is not None and generations:
        payload = {"user_id": user_id, "generation_ids": generations}
        await enqueue(db, app.registry, ERASE_ARCHIVE, payload)
    return len(under_way)
