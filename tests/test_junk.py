"""No 5xx on junk: bodies of any depth, encoding and size, bad paths, updates aiogram cannot read,
NUL bytes in text, buttons on messages Telegram no longer lets us edit."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.ui.keyboards import Drop
from core.web.body import MAX_BODY_BYTES, BodyError, parse_json_object
from core.web.server import path_ok
from tests.fakes.telegram import FakeTelegram, callback_update, message_update
from tests.helpers import BotHarness, wait_until
from tests.test_e2e_generation import ANN, propose

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TestBodyReader:
    @pytest.mark.parametrize(
        ("raw", "why"),
        [
            (b"[" * 50_000 + b"]" * 50_000, "nested too deep"),
            (b'{"a":' * 100 + b"1" + b"}" * 100, "nested too deep"),
            (b"\xff\xfe{", "not JSON"),
            (b'{"a": "\xc3\x28"}', "not JSON"),
            (b"[1, 2]", "not a JSON object"),
            (b'"text"', "not a JSON object"),
            (b'{"a": NaN}', "NaN is not JSON"),
            (b'{"a": 1' + b"0" * 5000 + b"}", "not JSON"),
            (b'{"update_id": 99999999999999999999}', "integer out of range"),
            (b"", "not JSON"),
        ],
    )
    def test_refuses_with_a_reason(self, raw: bytes, why: str) -> None:
        with pytest.raises(BodyError, match=why):
            parse_json_object(raw)

    def test_strips_nul_bytes_and_lone_surrogates_everywhere(self) -> None:
        raw = json.dumps({"a\u0000b": ["x\u0000y", {"t": "\ud800ok"}]}).encode()
        assert parse_json_object(raw) == {"ab": ["xy", {"t": "?ok"}]}

    def test_a_surrogate_encoded_as_bytes_is_replaced(self) -> None:
        assert parse_json_object(b'{"update_id": 0, "\xed\xa0\x80": "a\xed\xa0\x80"}') == {"update_id": 0, "?": "a?"}

    def test_reads_utf16(self) -> None:
        assert parse_json_object('{"text": "привет"}'.encode("utf-16")) == {"text": "привет"}

    @pytest.mark.parametrize("path", ["/kie/callback/%00", "/kie/callback/%ff", "/kie/callback/a%0Ab", "/x%c3"])
    def test_bad_paths(self, path: str) -> None:
        assert not path_ok(path)

    @pytest.mark.parametrize("path", ["/kie/callback/abc-123", "/telegram/webhook?x=%00", "/caf%C3%A9"])
    def test_good_paths(self, path: str) -> None:
        assert path_ok(path)


async def post_raw(bot: BotHarness, path: str, data: bytes, *, secret: bool = True) -> int:
    headers = {SECRET_HEADER: bot.frontend.secret} if secret else {}
    async with bot._http.post(f"{bot.base_url}{path}", data=io.BytesIO(data), headers=headers) as response:
        await response.read()
        return response.status


async def post_chunked(bot: BotHarness, path: str, *parts: bytes) -> int:
    """The body sent with Transfer-Encoding: chunked, so no Content-Length announces its size."""

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    headers = {SECRET_HEADER: bot.frontend.secret}
    async with bot._http.post(f"{bot.base_url}{path}", data=body(), headers=headers) as response:
        await response.read()
        return response.status


async def outcome_of(bot: BotHarness, update_id: int) -> Any:
    return await bot.pool.fetchrow("SELECT kind, outcome, error FROM telegram_updates WHERE update_id = $1", update_id)


class TestEndpoints:
    async def test_deep_huge_and_broken_bodies_are_client_errors(self, bot: BotHarness) -> None:
        deep = b"[" * 50_000 + b"]" * 50_000
        # A callback's token is looked up before its body is read (tests/test_callback_bodies.py).
        assert await post_raw(bot, "/kie/callback/some-token", b"[" * 10_000 + b"]" * 10_000) == 404
        for path in ("/telegram/webhook",):
            assert await post_raw(bot, path, deep) == 400
            assert await post_raw(bot, path, b'{"a":' * 50_000) == 400
            assert await post_raw(bot, path, b"\xff" * 100) == 400
            assert await post_raw(bot, path, b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}") == 413
            half = b" " * (MAX_BODY_BYTES // 2)
            assert await post_chunked(bot, path, b"{", half, half, b"}") == 413
        assert await bot.pool.fetchval("SELECT count(*) FROM telegram_updates") == 0

    async def test_a_chunked_update_is_applied(self, bot: BotHarness) -> None:
        update = json.dumps(message_update(bot.next_update_id(), 501, text="/start")).encode()
        assert await post_chunked(bot, "/telegram/webhook", update[:10], update[10:]) == 200
        assert await bot.pool.fetchval("SELECT count(*) FROM users WHERE id = 501") == 1

    async def test_bad_callback_paths_never_reach_the_database(self, bot: BotHarness) -> None:
        for token in ("%00", "abc%00def", "%ff%fe", "%c3"):
            assert await post_raw(bot, f"/kie/callback/{token}", b"{}") == 400, token
        assert await post_raw(bot, "/kie/callback/no-such-token", b"{}") == 404

    async def test_unknown_update_type_is_acknowledged_and_recorded_as_skipped(self, bot: BotHarness) -> None:
        update_id = bot.next_update_id()
        assert await bot.send({"update_id": update_id, "future_thing": {"id": 1}}) == 200
        row = await outcome_of(bot, update_id)
        assert (row["kind"], row["outcome"]) == ("future_thing", "skipped")
        assert await bot.send({"update_id": update_id, "future_thing": {"id": 1}}) == 200, "redelivered: still fine"

    async def test_an_update_that_fails_validation_is_skipped(self, bot: BotHarness) -> None:
        update_id = bot.next_update_id()
        assert await bot.send({"update_id": update_id, "message": {"message_id": "not a number"}}) == 200
        row = await outcome_of(bot, update_id)
        assert (row["kind"], row["outcome"]) == ("message", "skipped")
        assert "message_id" in row["error"]

    async def test_nul_bytes_in_text_are_stripped(self, bot: BotHarness) -> None:
        assert await bot.send(message_update(bot.next_update_id(), ANN, text="/start")) == 200
        draft = await propose(bot, ANN, text="a cat\u0000 on the moon\u0000")
        assert (await bot.generation(draft))["idea"] == "a cat on the moon"


class TestInaccessibleMessage:
    async def test_a_button_on_an_old_message_gets_a_fresh_message(
        self, bot: BotHarness, fake_telegram: FakeTelegram
    ) -> None:
        assert await bot.send(message_update(bot.next_update_id(), ANN, text="/start")) == 200
        draft = await propose(bot, ANN, text="an old idea")
        sent_before = len(fake_telegram.calls("sendMessage", chat_id=ANN))
        tap = callback_update(bot.next_update_id(), ANN, Drop(draft=draft).pack(), message_id=999)
        tap["callback_query"]["message"] = {
            "message_id": 999,
            "date": 0,
            "chat": tap["callback_query"]["message"]["chat"],
        }
        assert await bot.send(tap) == 200
        assert fake_telegram.calls("editMessageText") == []
        fresh = fake_telegram.calls("sendMessage", chat_id=ANN)[sent_before:]
        assert len(fresh) == 1
        row = await bot.pool.fetchrow("SELECT outcome FROM telegram_updates WHERE update_id = $1", tap["update_id"])
        assert row["outcome"] == "handled"


class TestPollingBatches:
    async def test_one_bad_update_among_good_ones_is_skipped_and_the_rest_applied_once(
        self, make_bot, fake_telegram: FakeTelegram
    ) -> None:
        async with make_bot(PUBLIC_BASE_URL="") as bot:
            first, bad, unknown, last = (bot.next_update_id() for _ in range(4))
            fake_telegram.push_update(message_update(first, ANN, text="/start"))
            fake_telegram.push_update({"update_id": bad, "message": {"message_id": "x", "chat": 5}})
            fake_telegram.push_update({"update_id": unknown, "future_thing": {"id": 1}})
            fake_telegram.push_update(message_update(last, ANN, text="/balance"))
            await fake_telegram.wait_for(
                lambda calls: [c for c in calls if c.method == "getUpdates" and c.params.get("offset") == str(last + 1)]
            )
            outcomes = {u: (await outcome_of(bot, u))["outcome"] for u in (first, bad, unknown, last)}
            assert outcomes == {first: "handled", bad: "skipped", unknown: "skipped", last: "handled"}
            assert len(fake_telegram.calls("sendMessage", chat_id=ANN)) == 2, "each good update answered once"
            assert bot.runtime.supervisor.alive("telegram.polling")
            await wait_until(lambda: bot.runtime.exit_code == 0)
