"""The fake Telegram Bot API server, driven by a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    Update,
)

from tests.fakes.telegram import (
    FakeTelegram,
    callback_update,
    message_update,
    my_chat_member_update,
    photo_sizes,
)

CHAT = 42
KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Again", callback_data="again")]])


@contextlib.asynccontextmanager
async def connected(fake: FakeTelegram, token: str | None = None) -> AsyncIterator[Bot]:
    bot = Bot(token or fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with connected(fake) as client:
        yield client


async def test_get_me(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (fake.bot_id, True, "reelsmith_bot")
    assert me.can_join_groups is False
    assert [call.method for call in fake.requests] == ["getMe"]


async def test_send_then_edit_message(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Working on it", reply_markup=KEYBOARD)
    second = await bot.send_message(CHAT, "Second")

    assert (sent.message_id, second.message_id) == (1, 2)
    assert sent.reply_markup is not None and sent.reply_markup.inline_keyboard[0][0].callback_data == "again"
    call = fake.calls("sendMessage", chat_id=CHAT)[0]
    assert call.params["chat_id"] == str(CHAT)
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "Again", "callback_data": "again"}]]}

    edited = await bot.edit_message_text("Done", chat_id=CHAT, message_id=1, reply_markup=KEYBOARD)

    assert isinstance(edited, Message) and edited.text == "Done" and edited.edit_date is not None
    assert fake.messages(CHAT)[1]["text"] == "Done"
    assert fake.messages(CHAT)[2]["text"] == "Second"

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Done", chat_id=CHAT, message_id=1, reply_markup=KEYBOARD)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("Done", chat_id=CHAT, message_id=99)

    # An edit without a keyboard removes it, as in Telegram.
    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=1)
    assert fake.messages(CHAT)[1]["reply_markup"] is None
    assert await bot.delete_message(CHAT, 2) is True
    assert list(fake.messages(CHAT)) == [1]


async def test_message_text_limits(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CHAT, "")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    assert (await bot.send_message(CHAT, "x" * 4096)).message_id == 1


async def test_fail_next_answers_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    fake.fail_next("sendMessage", 500, "Internal Server Error", chat_id=7)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "hi")
    assert caught.value.retry_after == 1
    assert (await bot.send_message(CHAT, "hi")).message_id == 1  # only the next call failed
    assert (await bot.send_message(8, "hi")).message_id == 1  # the chat-scoped failure waits for chat 7
    assert len(fake.calls("sendMessage")) == 3


async def test_blocked_user_answers_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    fake.block(CHAT)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hi")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_chat_action(CHAT, "typing")
    assert fake.messages(CHAT) == {}
    assert len(fake.calls(chat_id=CHAT)) == 2

    fake.unblock(CHAT)
    assert (await bot.send_message(CHAT, "hi")).message_id == 1


async def test_send_video_upload_then_by_file_id(fake: FakeTelegram, bot: Bot, tmp_path: Path) -> None:
    path = tmp_path / "reel.mp4"
    path.write_bytes(b"\0" * 3000)

    sent = await bot.send_video(CHAT, FSInputFile(path), width=1080, height=1920, duration=5, caption="Your reel")

    assert sent.video is not None and sent.caption == "Your reel"
    assert (sent.video.file_size, sent.video.width, sent.video.height, sent.video.duration) == (3000, 1080, 1920, 5)
    assert fake.calls("sendVideo")[0].files == {"video": ("reel.mp4", 3000)}
    state = fake.messages(CHAT)[1]
    assert (state["kind"], state["caption"], state["video"]["file_id"]) == ("video", "Your reel", sent.video.file_id)

    again = await bot.send_video(CHAT + 1, sent.video.file_id)

    assert again.video is not None
    assert (again.video.file_id, again.video.file_size, again.video.width) == (sent.video.file_id, 3000, 0)
    assert fake.calls("sendVideo")[1].files == {}

    await bot.edit_message_caption(chat_id=CHAT, message_id=1, caption="Renamed")
    assert fake.messages(CHAT)[1]["caption"] == "Renamed"
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_video(CHAT, "no-such-file-id")


async def test_upload_over_the_limit_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    path.write_bytes(b"\0" * 2048)
    fake = await FakeTelegram(upload_limit=1024).start()
    try:
        async with connected(fake) as bot:
            with pytest.raises(TelegramEntityTooLarge):
                await bot.send_video(CHAT, FSInputFile(path))
        assert fake.calls("sendVideo")[0].files == {"video": ("big.mp4", 2048)}
        assert fake.messages(CHAT) == {}
    finally:
        await fake.stop()


async def test_download_added_file(fake: FakeTelegram, bot: Bot) -> None:
    content = bytes(range(256)) * 1000  # several chunks
    file_id = fake.add_file(content, file_path="photos/selfie.jpg")

    downloaded = await bot.download(file_id)

    assert downloaded is not None and downloaded.read() == content
    assert fake.calls("getFile")[0].params == {"file_id": file_id}
    with pytest.raises(aiohttp.ClientResponseError) as caught:
        await bot.download_file("photos/missing.jpg")
    assert caught.value.status == 404
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("unknown")


async def test_get_updates_long_poll_and_offset(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda calls: fake.calls("getUpdates"))
    assert not poll.done()  # the call is waiting for an update

    fake.push_update(message_update(1, CHAT, text="/start"))
    updates = await asyncio.wait_for(poll, 2)

    assert [update.update_id for update in updates] == [1]
    assert updates[0].message is not None and updates[0].message.text == "/start"
    assert len(await bot.get_updates(timeout=0)) == 1  # not confirmed yet
    assert await bot.get_updates(offset=2, timeout=0) == []
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_webhook_state(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_update(message_update(1, CHAT, text="hi"))

    await bot.set_webhook(
        "https://example.test/hook", secret_token="s3cret", allowed_updates=["message"], drop_pending_updates=True
    )

    assert fake.webhook == {
        "url": "https://example.test/hook",
        "secret_token": "s3cret",
        "allowed_updates": ["message"],
        "drop_pending_updates": True,
        "max_connections": None,
    }
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("https://example.test/hook", 0)
    with pytest.raises(TelegramConflictError):
        await bot.get_updates(timeout=0)

    await bot.delete_webhook()
    assert fake.webhook is None


async def test_wrong_token_and_unknown_method(fake: FakeTelegram, bot: Bot) -> None:
    async with connected(fake, token="999:WRONG") as stranger:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    with pytest.raises(TelegramNotFound, match="method not found"):
        await bot.get_chat(CHAT)

    assert [call.method for call in fake.requests] == ["getMe", "getChat"]


async def test_builders_make_valid_updates(fake: FakeTelegram, bot: Bot) -> None:
    command = Update.model_validate(message_update(1, CHAT, text="/start ref-7"))
    assert command.message is not None and command.message.entities is not None
    entity = command.message.entities[0]
    assert (entity.type, entity.extract_from(command.message.text or "")) == ("bot_command", "/start")

    photo = Update.model_validate(message_update(2, CHAT, photo=photo_sizes("ph-1", 90_000), caption="me"))
    assert photo.message is not None and photo.message.photo is not None
    assert (photo.message.photo[-1].file_id, photo.message.photo[-1].file_size) == ("ph-1", 90_000)
    assert len({size.file_id for size in photo.message.photo}) == len(photo.message.photo) >= 2

    press = Update.model_validate(callback_update(3, CHAT, "again", message_id=5))
    assert press.callback_query is not None and isinstance(press.callback_query.message, Message)
    assert press.callback_query.message.from_user is not None
    assert press.callback_query.message.from_user.id == fake.bot_id

    blocked = Update.model_validate(my_chat_member_update(4, CHAT, blocked=True))
    unblocked = Update.model_validate(my_chat_member_update(5, CHAT, blocked=False))
    assert blocked.my_chat_member is not None and unblocked.my_chat_member is not None
    assert blocked.my_chat_member.new_chat_member.status == "kicked"
    assert unblocked.my_chat_member.new_chat_member.status == "member"

    # End to end: aiogram's dispatcher routes the command and the reply reaches the fake.
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome")

    await dispatcher.feed_update(bot, command)
    assert fake.messages(CHAT)[1]["text"] == "Welcome"


async def test_wait_for(fake: FakeTelegram, bot: Bot) -> None:
    await bot.get_me()
    with pytest.raises(AssertionError, match=r"(?s)no matching Telegram call within 0.2s.*getMe"):
        await fake.wait_for(lambda calls: fake.calls("sendMessage"), timeout=0.2)

    sending = asyncio.create_task(bot.send_message(CHAT, "late"))
    found = await fake.wait_for(lambda calls: fake.calls("sendMessage"), timeout=2)
    await sending
    assert isinstance(found, list) and found[0].params["text"] == "late"


class TestPayments:
    async def test_a_stars_invoice_is_checked_like_telegram_checks_it(self, fake: FakeTelegram, bot: Bot) -> None:
        price = [LabeledPrice(label="100 credits", amount=50)]
        sent = await bot.send_invoice(CHAT, "100 credits", "For videos", "p" * 128, "XTR", price, provider_token="")
        assert sent.invoice is not None and sent.invoice.total_amount == 50
        assert fake.messages(CHAT)[sent.message_id]["kind"] == "invoice"
        with pytest.raises(TelegramBadRequest, match="PAYLOAD"):
            await bot.send_invoice(CHAT, "100 credits", "For videos", "p" * 129, "XTR", price)
        with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
            await bot.send_invoice(CHAT, "100 credits", "For videos", "p", "USD", price)
        with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
            await bot.send_invoice(CHAT, "100 credits", "For videos", "p", "XTR", price * 2)

    async def test_pre_checkout_answers_and_refunds_once(self, fake: FakeTelegram, bot: Bot) -> None:
        assert await bot.answer_pre_checkout_query("q1", ok=True)
        with pytest.raises(TelegramBadRequest, match="ERROR_MESSAGE_EMPTY"):
            await bot.answer_pre_checkout_query("q2", ok=False)
        assert await bot.answer_pre_checkout_query("q3", ok=False, error_message="No")
        assert fake.pre_checkout == {
            "q1": {"ok": True, "error_message": None},
            "q3": {"ok": False, "error_message": "No"},
        }
        fake.add_charge("ch", CHAT)
        with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
            await bot.refund_star_payment(CHAT + 1, "ch")
        assert await bot.refund_star_payment(CHAT, "ch")
        with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
            await bot.refund_star_payment(CHAT, "ch")

    async def test_copy_throttle_and_menus(self, fake: FakeTelegram, bot: Bot) -> None:
        fake.throttle("copyMessage", every=2, retry_after=1)
        assert (await bot.copy_message(CHAT, 7, 99)).message_id == 1
        with pytest.raises(TelegramRetryAfter):
            await bot.copy_message(CHAT, 7, 99)
        assert [c.method for c in fake.succeeded] == ["copyMessage"]
        assert fake.messages(CHAT)[1]["copied_message_id"] == 99
        await bot.set_my_commands([BotCommand(command="buy", description="Купить")], language_code="ru")
        await bot.set_my_commands([BotCommand(command="stats", description="S")], scope=BotCommandScopeChat(chat_id=5))
        assert fake.menus[('{"type": "default"}', "ru")] == [{"command": "buy", "description": "Купить"}]
        assert fake.menus[('{"chat_id": 5, "type": "chat"}', "")] == [{"command": "stats", "description": "S"}]
