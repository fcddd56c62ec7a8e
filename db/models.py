"""Model health (sql/models.sql): one model refused while its provider works, shared by every process."""

from __future__ import annotations

from db.jobs import Executor
from db.sql import queries


async def withdraw(db: Executor, model: str, provider: str, reason: str) -> None:
    await db.execute(queries.model_withdraw, model, provider, reason)


async def claim_alert(db: Executor, model: str) -> bool:
    """True for the one caller that tells the admins (the first refusal since the model last rendered)."""
    return await db.fetchval(queries.model_claim_alert, model) is not None


async def unavailable(db: Executor) -> set[str]:
    return {row["model"] for row in await db.fetch(queries.model_unavailable)}


async def offer_again(db: Executor, model: str) -> bool:
    return await db.fetchval(queries.model_offer_again, model) is not None


async def rendered(db: Executor, model: str) -> bool:
    return await db.fetchval(queries.model_rendered, model) is not None


async def waiting_generations(db: Executor, model: str) -> list[int]:
    return [row["id"] for row in await db.fetch(queries.model_waiting_generations, model)]
