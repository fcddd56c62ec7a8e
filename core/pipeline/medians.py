"""Each model's median render time, read from the database at most once a minute per process: the
status messages of every render in progress (and the Mini App) share one query rather than one per edit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg

from db import generations as db_generations

MEDIANS_TTL_S = 60.0  # a delivery moves a median of 50 by little; a minute-old one is as good


class RenderMedians:
    """The medians (db/generations.render_medians), cached for ``ttl_s``; concurrent readers of a stale
    cache wait for one query instead of each running it."""

    def __init__(self, ttl_s: float = MEDIANS_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._medians: dict[str, float] = {}
        self._expires = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, pool: asyncpg.Pool) -> dict[str, float]:
        if self._clock() < self._expires:
            return self._medians
        async with self._lock:
            if self._clock() < self._expires:
                return self._medians
            async with pool.acquire() as conn:
                self._medians = await db_generations.render_medians(conn)
            self._expires = self._clock() + self._ttl_s
        return self._medians

    async def of(self, pool: asyncpg.Pool, model: str) -> float | None:
        """The model's median, or None before its first delivery."""
        return (await self.get(pool)).get(model)
