"""Editing a message, or a new one when Telegram will not edit it (core/telegram/replies.py), against
the fake Telegram's answers in the Bot API's wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from core.telegram.outbox import Outbox
from core.telegram.replies import EditOrSend, edit, edit_or_send
from tests.fakes.telegram import FakeTelegram

CHAT = 42
KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Again", callback_data="again")]])


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    bot = Bot(fake_telegram.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake_telegram.base_url)))
    try:
        yield bot
    finally:
        await bot.session.close()


def texts(fake: FakeTelegram) -> dict[int, str]:
    return {message_id: message["text"] for message_id, message in fake.messages(CHAT).items()}


async def test_an_edit_to_the_same_words_is_no_error(bot: Bot, fake_telegram: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "queued", reply_markup=KEYBOARD)
    await edit(bot, CHAT, sent.message_id, "queued", KEYBOARD)  # Telegram: "message is not modified"
    assert fake_telegram.calls("editMessageText") and texts(fake_telegram) == {sent.message_id: "queued"}


async def test_an_edited_message_is_not_sent_again(bot: Bot, fake_telegram: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "queued")
    assert await edit_or_send(bot, CHAT, sent.message_id, "rendering") is None
    assert texts(fake_telegram) == {sent.message_id: "rendering"}


async def test_a_deleted_message_is_answered_with_a_new_one(bot: Bot, fake_telegram: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "queued")
    await bot.delete_message(CHAT, sent.message_id)
    new = await edit_or_send(bot, CHAT, sent.message_id, "rendering", KEYBOARD)  # "message to edit not found"
    assert isinstance(new, Message) and new.message_id != sent.message_id
    assert texts(fake_telegram) == {new.message_id: "rendering"}
    assert fake_telegram.messages(CHAT)[new.message_id]["reply_markup"] == KEYBOARD.model_dump(exclude_none=True)


async def test_a_message_too_old_to_edit_is_answered_with_a_new_one(bot: Bot, fake_telegram: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "queued")
    fake_telegram.fail_next("editMessageText", 400, "Bad Request: message can't be edited")
    new = await edit_or_send(bot, CHAT, sent.message_id, "rendering")
    assert new is not None and texts(fake_telegram) == {sent.message_id: "queued", new.message_id: "rendering"}


async def test_nothing_to_edit_sends_at_once(bot: Bot, fake_telegram: FakeTelegram) -> None:
    new = await edit_or_send(bot, CHAT, None, "rendering")
    assert new is not None and not fake_telegram.calls("editMessageText")


async def test_any_other_refusal_is_raised_and_nothing_is_sent(bot: Bot, fake_telegram: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "queued")
    fake_telegram.fail_next("editMessageText", 400, "Bad Request: can't parse entities: unsupported start tag")
    with pytest.raises(TelegramBadRequest):
        await edit_or_send(bot, CHAT, sent.message_id, "<b>rendering")
    assert texts(fake_telegram) == {sent.message_id: "queued"}


async def test_the_outbox_sends_an_edit_or_send_and_hands_on_the_new_message(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    sent = await bot.send_message(CHAT, "queued")
    await bot.delete_message(CHAT, sent.message_id)
    got: list[object] = []

    async def then(result: object) -> None:
        got.append(result)

    out = Outbox()
    out.add(EditOrSend(CHAT, sent.message_id, "rendering"), then=then)
    out.add(EditOrSend(CHAT, sent.message_id + 1, "done"), then=then)  # the new message, edited
    assert await out.flush(bot) == []
    (new, edited) = got
    assert isinstance(new, Message) and edited is None
    assert texts(fake_telegram) == {new.message_id: "done"}
