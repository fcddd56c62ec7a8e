"""Reading a request's body: every endpoint reads its JSON with ``read_json_object``. Too large 413;
not all sent within BODY_S of the head 408 (and the connection closed); not JSON, any encoding error,
nested deeper than MAX_JSON_DEPTH, an integer outside int64 or not an object 400. What it returns is
cleaned for PostgreSQL: NUL bytes stripped, lone surrogates replaced."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

MAX_BODY_BYTES = 1024 * 1024  # a Telegram update or a KIE callback is a few kB
OFF_LOOP_BYTES = 64 * 1024  # a larger body is parsed in a thread, off the event loop
MAX_JSON_DEPTH = 64  # Telegram's deepest update (a reply to a reply, with markup) is about 10
INT64 = range(-(2**63), 2**63)  # what a bigint column takes; a larger id would fail in the database
BODY_S = 10.0  # to send the whole body once the head is in; a trickling client holds a connection, never the loop
# The app's own body deadline, when not BODY_S (WebServer sets it; tests shorten it).
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)


class BodyError(ValueError):
    """The request body is not a JSON object we can work with; the message says why (for the 400)."""


def _no_constants(name: str) -> Any:
    raise BodyError(f"{name} is not JSON")


def parse_json_object(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """The body as a cleaned JSON object; raises BodyError for anything else."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)  # bytes: UTF-8/16/32 detected
    except RecursionError:
        raise BodyError("nested too deep") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise BodyError(str(error) if isinstance(error, BodyError) else "not JSON") from None
    if isinstance(value, dict) and _plain(raw, max_depth):
        return value  # the common case, checked on the bytes: nothing to walk
    return clean_object(value, max_depth=max_depth)


# What only the walk can settle: NUL or surrogate escapes, surrogates encoded as bytes (json.loads
# decodes bytes with "surrogatepass"), integers of 19 digits or more.
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]|\d{19}")


def _plain(raw: bytes, max_depth: int) -> bool:
    """Certainly clean: fewer brackets than the depth limit, nothing _SUSPECT (in UTF-8 bodies)."""
    return raw.count(b"{") + raw.count(b"[") <= max_depth and not _SUSPECT.search(raw) and raw[:1] == b"{"


def clean_object(root: object, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A parsed JSON object checked (depth, integers) and its strings cleaned, in place; raises
    BodyError. Iterative: no recursion for a deep body to exhaust."""
    if not isinstance(root, dict):
        raise BodyError("not a JSON object")
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise BodyError("nested too deep")
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if isinstance(node, dict):
            node.clear()
        for key, value in items:
            if isinstance(value, str):
                value = clean_text(value)
            elif isinstance(value, bool | float) or value is None:
                pass
            elif isinstance(value, int):
                if value not in INT64:
                    raise BodyError("integer out of range")
            else:
                stack.append((value, depth + 1))
            node[clean_text(key) if isinstance(key, str) else key] = value
    return root


def clean_text(text: str) -> str:
    """Text PostgreSQL accepts: NUL bytes stripped, lone surrogates (valid JSON escapes) replaced."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


async def read_json_object(request: web.Request, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's body as a cleaned JSON object. Raises HTTPRequestEntityTooLarge (413),
    HTTPRequestTimeout (408, the body not all sent within the app's BODY_TIMEOUT) or BodyError
    (answer 400 with its message). A body over OFF_LOOP_BYTES is parsed in a thread: a
    large or inflated body must not hold the event loop (and every other request) while it is read."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length)
    if request.content.is_eof():  # the whole body came with the head (nearly always): no deadline to keep
        raw = await _read(request, max_bytes)
    else:
        raw = await _read_in_time(request, max_bytes)
    if len(raw) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(parse_json_object, raw)
    return parse_json_object(raw)


async def _read_in_time(request: web.Request, max_bytes: int) -> bytes:
    try:
        async with asyncio.timeout(request.app.get(BODY_TIMEOUT, BODY_S)):
            return await _read(request, max_bytes)
    except TimeoutError:
        # Connection: close. aiohttp still reads and drops what the client sends for up to its
        # lingering_time (10 s) before closing; in the background, like any read, not on the loop.
        refused = web.HTTPRequestTimeout(text="the body took too long")
        refused.force_close()
        raise refused from None


async def _read(request: web.Request, max_bytes: int) -> bytes:
    # Counted as read, after aiohttp inflates a compressed body: a small gzip body may inflate to
    # megabytes, and the app's client_max_size (MAX_BODY_BYTES, build_app) is a looser cap.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)
