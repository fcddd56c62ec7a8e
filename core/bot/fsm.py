"""aiogram's conversation state (FSM) in PostgreSQL, so it survives restarts and is shared by every
process; inside an update it writes through that update's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from core.telegram.context import current_db, fsm_cache
from db import telegram as db_telegram
from db.jobs import Executor


class PostgresStorage(BaseStorage):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def _db(self) -> Executor:
        return current_db.get() or self._pool

    @staticmethod
    def key(key: StorageKey) -> str:
        parts = (
            key.bot_id,
            key.chat_id,
            key.user_id,
            key.thread_id or "",
            key.business_connection_id or "",
            key.destiny,
        )
        return ":".join(str(part) for part in parts)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = state.state if isinstance(state, State) else state
        await db_telegram.fsm_set_state(self._db(), self.key(key), name)
        self._remember(self.key(key), state=name)

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._read(self.key(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await db_telegram.fsm_set_data(self._db(), self.key(key), dict(data))
        self._remember(self.key(key), data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await self._read(self.key(key))
        return dict(data)

    async def _read(self, key: str) -> tuple[str | None, dict[str, Any]]:
        cache = fsm_cache.get()
        if cache is not None and key in cache:
            return cache[key]
        return await db_telegram.fsm_get(self._db(), key)

    @staticmethod
    def _remember(key: str, **changes: Any) -> None:
        cache = fsm_cache.get()
        if cache is not None and key in cache:
            state, data = cache[key]
            cache[key] = (changes.get("state", state), changes.get("data", data))

    async def close(self) -> None:
        """The pool belongs to the process, not to the storage."""
