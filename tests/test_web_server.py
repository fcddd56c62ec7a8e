"""The HTTP server's own hygiene: /readyz asks its checks at most once a second and shows why it is not
ready only to the operator; idle and slow-headers connections are closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
import structlog

from core.web.server import Check, WebServer, build_app
from tests.helpers import free_port, wait_until

TOKEN = "metrics-token-0123456789"


@asynccontextmanager
async def serving(
    checks: Mapping[str, Check], *, token: str | None = TOKEN, keepalive_s: float = 15, headers_s: float = 10
) -> AsyncIterator[str]:
    port = free_port()
    server = WebServer(
        build_app(checks, details_token=token),
        host="127.0.0.1",
        port=port,
        shutdown_timeout=1,
        keepalive_s=keepalive_s,
        headers_s=headers_s,
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


class Counting:
    def __init__(self, answer: bool | str) -> None:
        self.answer = answer
        self.calls = 0

    async def __call__(self) -> bool | str:
        self.calls += 1
        return self.answer


async def test_readyz_asks_its_checks_at_most_once_a_second() -> None:
    database = Counting(True)
    async with serving({"database": database}) as base, aiohttp.ClientSession() as http:
        started = time.monotonic()

        async def ask() -> int:
            async with http.get(f"{base}/readyz") as response:
                return response.status

        statuses = await asyncio.gather(*(ask() for _ in range(30)))
        statuses += [await ask() for _ in range(10)]
        assert statuses == [200] * 40
        if time.monotonic() - started < 1.0:
            assert database.calls == 1, "40 requests within a second: one query"

        async def asked_again() -> bool:
            await ask()
            return database.calls >= 2

        await wait_until(asked_again, timeout=10, interval=0.1)
        assert time.monotonic() - started >= 1.0, "asked again only once the second is over"


async def test_the_reasons_go_to_the_log_and_only_to_the_token_holder() -> None:
    database = Counting("connection refused by 10.0.0.5:5432")
    checks = {"database": database, "accepting": Counting(True)}
    with structlog.testing.capture_logs() as logs:
        async with serving(checks) as base, aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503
                anonymous = await response.json()
            async with http.get(f"{base}/readyz", headers={"Authorization": "Bearer wrong"}) as response:
                wrong = await response.json()
            async with http.get(f"{base}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                operator = await response.json()
    assert anonymous == wrong == {"status": "unavailable", "checks": {"database": False, "accepting": True}}
    assert operator["reasons"] == {"database": "connection refused by 10.0.0.5:5432"}
    logged = [entry for entry in logs if entry["event"] == "web.not_ready"]
    assert logged and logged[0]["reasons"] == {"database": "connection refused by 10.0.0.5:5432"}


async def test_without_a_metrics_token_nobody_sees_the_reasons() -> None:
    async with (
        serving({"database": Counting("boom")}, token=None) as base,
        aiohttp.ClientSession() as http,
        http.get(f"{base}/readyz", headers={"Authorization": "Bearer "}) as response,
    ):
        assert "reasons" not in await response.json()


async def closed_after(reader: asyncio.StreamReader, timeout: float) -> float:
    """Seconds until the server closed the connection (EOF), reading whatever it sent."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while await reader.read(65536):
            pass
    return time.monotonic() - started


async def test_a_client_that_never_finishes_its_headers_is_cut_off() -> None:
    async with serving({}, headers_s=0.4) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and then nothing
        await writer.drain()
        assert await closed_after(reader, timeout=5) < 3
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed() -> None:
    async with serving({}, keepalive_s=0.5, headers_s=0.4) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
        assert await closed_after(reader, timeout=5) < 3, "closed once idle for the keep-alive timeout"
        writer.close()
