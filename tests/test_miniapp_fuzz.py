"""Junk at every Mini App endpoint gets a JSON 4xx, never a 5xx: bad JSON, wrong types, huge bodies,
broken multipart, bad ids, unknown paths and methods."""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp

from tests.helpers import SECRETS, BotHarness
from tests.miniapp import tma

TOKEN = SECRETS["BOT_TOKEN"]
ANN = 801
BOUNDARY = "XyZ"

JSON_ENDPOINTS = [("POST", "/language"), ("POST", "/invoices"), ("DELETE", "/me")]
JSON_JUNK: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"x"',
    b"1e999",
    b'{"language": 5}',
    b'{"language": ["ru"]}',
    b'{"language": "xx"}',
    b'{"kind": "package", "id": 5}',
    b'{"kind": {"a": 1}, "id": "100:50"}',
    b'{"confirm": "true"}',
    b'{"confirm": 1}',
    b"[" * 100_000,
    b'{"a": "' + b"x" * 100_000 + b'"}',
    b"\xff\xfe\x00",
    json.dumps({"language": "\ud800"}).encode(),
]

MULTIPART_JUNK: list[tuple[str, bytes]] = [
    ("multipart/form-data", b"not multipart at all"),
    (f"multipart/form-data; boundary={BOUNDARY}", b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n"),
    (f"multipart/form-data; boundary={BOUNDARY}", b"--XyZ\r\n"),
    (
        f"multipart/form-data; boundary={BOUNDARY}",
        b'--XyZ\r\nContent-Disposition: form-data; name="idea"\r\n\r\n\xff\xfe\r\n--XyZ--\r\n',
    ),
    (
        f"multipart/form-data; boundary={BOUNDARY}",
        b'--XyZ\r\nContent-Disposition: form-data; name="idea"\r\n\r\n' + b"a" * 40_000 + b"\r\n--XyZ--\r\n",
    ),
    (
        f"multipart/form-data; boundary={BOUNDARY}",
        b"".join(b'--XyZ\r\nContent-Disposition: form-data; name="p%d"\r\n\r\nx\r\n' % i for i in range(50))
        + b"--XyZ--\r\n",
    ),
    (f"multipart/mixed; boundary={BOUNDARY}", b"--XyZ--\r\n"),
    ("application/x-www-form-urlencoded", b"idea=%ff&model=veo3_fast"),
    ("application/x-www-form-urlencoded", b"idea=a&model=" + b"m" * 20_000),
    ("application/x-www-form-urlencoded", b"idea=a&model=kling-3.0-std&seconds=7"),
    ("application/x-www-form-urlencoded", b"idea=a&model=kling-3.0-std&seconds=-5"),
    ("application/x-www-form-urlencoded", b"idea=a&model=kling-3.0-std&seconds=%D9%A5"),
    ("application/x-www-form-urlencoded", b"idea=&model=veo3_fast"),
    ("application/json", b'{"idea": "a", "model": "veo3_fast"}'),
    (
        f"multipart/form-data; boundary={BOUNDARY}",
        b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n\r\nnot an image\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nveo3_fast\r\n--XyZ--\r\n',
    ),
]

BAD_PATHS = [
    "/videos/abc",
    "/videos/-1",
    "/videos/0",
    "/videos/99999999999999999999999",
    "/videos/1.5",
    "/videos/%D9%A5",
    "/videos/123",
    "/videos/123/thumbnail",
    "/videos?before=x",
    "/videos?before=-3",
    "/videos?before=99999999999999999999",
    "/users/1",
    "/nothing",
    "/",
    "",
    "/me/extra",
    "/videos/1/send/again",
]


async def test_junk_never_gets_a_5xx(make_bot) -> None:
    async with make_bot(USER_MESSAGES_PER_MINUTE="1000") as bot:
        await _fuzz(bot)


async def _fuzz(bot: BotHarness) -> None:
    base = f"{bot.base_url}/app/api"
    headers = tma(TOKEN, ANN)
    seen: list[tuple[str, int]] = []

    async def check(method: str, path: str, **options: Any) -> None:
        async with http.request(method, base + path, **options) as response:
            seen.append((f"{method} {path}", response.status))
            assert 400 <= response.status < 500, (method, path, response.status, await response.text())
            assert response.content_type == "application/json"
            body = await response.json()
            assert isinstance(body["error"], str) and isinstance(body["message"], str)

    async with aiohttp.ClientSession() as http:
        for method, path in JSON_ENDPOINTS:
            for junk in JSON_JUNK:
                await check(method, path, data=junk, headers={**headers, "Content-Type": "application/json"})
        for content_type, junk in MULTIPART_JUNK:
            await check("POST", "/generations", data=junk, headers={**headers, "Content-Type": content_type})
        too_big = io.BytesIO(b"x" * (11 * 1024 * 1024))
        await check("POST", "/generations", data=too_big, headers={**headers, "Content-Type": "multipart/form-data"})
        await check("POST", "/language", data=io.BytesIO(b"{" + b" " * 2_000_000 + b"}"), headers=headers)
        for path in BAD_PATHS:
            await check("GET", path, headers=headers)
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            await check(method, "/catalogue", headers=headers)
        await check("GET", "/videos/1/thumbnail?auth=%ZZ")
        await check("GET", "/me", headers={"Authorization": "tma " + "\u00e9" * 10})
        await check("GET", "/me", headers={"Authorization": "tma " + "x" * 8000})
    assert len(seen) > 90
