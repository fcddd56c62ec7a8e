"""Property: whatever arrives at the Telegram webhook or the KIE callback, the answer is never a 5xx
and the process stays up. 10,000 generated bodies per endpoint, posted over real HTTP to the whole
bot running in this event loop; derandomized, so every run posts the same bodies. Hypothesis runs
in a thread (its test function is synchronous) and hands each post to the test's event loop."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Coroutine
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.telegram import callback_update, message_update, my_chat_member_update
from tests.helpers import BotHarness

EXAMPLES = 10_000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text as an attacker writes it: NUL bytes, lone surrogates, right-to-left marks, emoji.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
user_ids = st.sampled_from([101, 202, 303])
update_ids = st.integers(min_value=1, max_value=2**40)


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    """Update-shaped bodies: real update kinds with generated content, unknown kinds, broken fields."""
    update_id, user_id = draw(update_ids), draw(user_ids)
    kind = draw(st.sampled_from(["message", "command", "callback", "member", "unknown", "mutated"]))
    if kind == "message":
        return message_update(update_id, user_id, text=draw(any_text))
    if kind == "command":
        command = draw(st.sampled_from(["/start", "/help", "/balance", "/history", "/cancel", "/nope"]))
        return message_update(update_id, user_id, text=command + draw(any_text))
    if kind == "callback":
        prefix = draw(st.sampled_from(["go", "drop", "model", "again", "send", ""]))
        data = f"{prefix}:{draw(st.integers(-(2**70), 2**70))}" if draw(st.booleans()) else draw(any_text)
        return callback_update(update_id, user_id, data, message_id=draw(st.integers(0, 2**31)))
    if kind == "member":
        return my_chat_member_update(update_id, user_id, blocked=draw(st.booleans()))
    if kind == "unknown":
        return {"update_id": update_id, draw(any_text): draw(json_value)}
    body = message_update(update_id, user_id, text="hello")
    path = draw(st.sampled_from([("message",), ("message", "chat"), ("message", "from"), ()]))
    target = body
    for key in path:
        target = target[key]
    target[draw(st.sampled_from([*target, "x"]))] = draw(json_value)
    return body


def encode(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


bodies = st.one_of(
    st.binary(max_size=200),
    st.builds(encode, json_value, st.booleans()),
    st.builds(encode, updates(), st.booleans()),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 3000).map(lambda depth: b'{"update_id": 1, "message": ' * depth),
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


async def post(bot: BotHarness, path: str, body: bytes, headers: dict[str, str]) -> int:
    async with bot._http.post(f"{bot.base_url}{path}", data=io.BytesIO(body), headers=headers) as response:
        await response.read()
        return response.status


def in_loop(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, int]) -> int:
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)


async def still_alive(bot: BotHarness) -> None:
    async with bot._http.get(f"{bot.base_url}/healthz") as response:
        assert response.status == 200
    assert not bot.runtime._stopping.is_set(), bot.runtime.stop_reason
    assert bot.runtime.worker is not None and bot.runtime.worker.alive()


@pytest.mark.timeout(600)
async def test_webhook_never_answers_5xx(bot: BotHarness) -> None:
    statuses: dict[int, int] = {}
    secret = {"X-Telegram-Bot-Api-Secret-Token": bot.frontend.secret}

    loop = asyncio.get_running_loop()

    @FUZZ
    @given(body=bodies)
    def webhook(body: bytes) -> None:
        status = in_loop(loop, post(bot, "/telegram/webhook", body, secret))
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, body[:300]

    await asyncio.to_thread(webhook)
    print("webhook statuses", statuses)
    await still_alive(bot)
    assert sum(statuses.values()) >= EXAMPLES
    assert statuses.get(200, 0) > EXAMPLES // 10, f"too few bodies reached the handlers: {statuses}"


@pytest.mark.timeout(600)
async def test_kie_callback_never_answers_5xx(bot: BotHarness) -> None:
    statuses: dict[int, int] = {}

    loop = asyncio.get_running_loop()

    @FUZZ
    @given(body=bodies, token=any_text, signature=header_text, timestamp=header_text)
    def callback(body: bytes, token: str, signature: str, timestamp: str) -> None:
        path = "/kie/callback/" + quote(token.encode("utf-8", "surrogatepass"), safe="")
        headers = {"X-Webhook-Signature": signature, "X-Webhook-Timestamp": timestamp}
        status = in_loop(loop, post(bot, path, body, headers))
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (path, body[:300])

    await asyncio.to_thread(callback)
    await still_alive(bot)
    assert sum(statuses.values()) >= EXAMPLES
