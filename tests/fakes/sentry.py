"""A fake Sentry: ``POST /api/<project>/envelope/`` as sentry-sdk sends it, on 127.0.0.1.

An envelope is newline-separated JSON: a header, then (item header, payload) pairs; the SDK
gzips it. ``events`` keeps every error event received (the payload of "event" items); ``dsn`` is
what SENTRY_DSN should be set to.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

PUBLIC_KEY = "fakesentrypublickey"


def parse_envelope(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """The (item header, payload) pairs of an envelope."""
    items: list[tuple[dict[str, Any], bytes]] = []
    _header, _, rest = body.partition(b"\n")
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item = json.loads(item_line)
        if "length" in item:
            payload, rest = rest[: item["length"]], rest[item["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item, payload))
    return items


class FakeSentry:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[bytes] = []  # every envelope, decompressed: for "never contains" assertions
        self.auth: list[str] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.dsn = ""

    async def start(self) -> FakeSentry:
        app = web.Application()
        app.router.add_post("/api/{project}/envelope/", self._envelope)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.dsn = f"http://{PUBLIC_KEY}@127.0.0.1:{port}/1"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], object], timeout: float = 10.0) -> object:
        async def wait() -> object:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.events))
                return predicate(self.events)

        return await asyncio.wait_for(wait(), timeout)

    async def _envelope(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp undoes the Content-Encoding (gzip) itself
        async with self._changed:
            self.raw.append(body)
            self.auth.append(request.headers.get("X-Sentry-Auth", ""))
            for item, payload in parse_envelope(body):
                if item.get("type") == "event":
                    self.events.append(json.loads(payload))
            self._changed.notify_all()
        return web.json_response({"id": "0" * 32})
