"""What a part of the process needs from the supervisor that runs it (core/runtime/supervisor.py):
start a named coroutine that is restarted when it crashes, ask whether some are alive, cancel them.
A protocol here, at the bottom, so the queue and the web parts take one without importing the runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Starter(Protocol):
    tasks: dict[str, asyncio.Task[None]]

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]: ...
    def alive(self, prefix: str = "") -> bool: ...
    async def cancel(self, *names: str) -> None: ...
