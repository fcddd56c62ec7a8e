"""The support desk through the real webhook: a user's message becomes a ticket for the operators
(two admins in their private chats, or one operators' group), their reply reaches the user, and a
ticket never becomes a video proposal."""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

from core.ui.keyboards import ContactSupport
from core.ui.status import Reason, status_view
from db.generations import Generation
from tests.fakes.telegram import Call, FakeTelegram, callback_update, message_update, photo_sizes, user
from tests.helpers import BotHarness, button_data
from tests.test_e2e_payments import command, invoice_for, pay

ANN, ADMIN, OTHER_ADMIN, OPERATOR = 701, 42, 43, 77
GROUP = -1001234567890
_message_ids = iter(range(5000, 10**6))


def group_reply(update_id: int, sender: int, reply_to: int, text: str) -> dict[str, Any]:
    """A member's message in the operators' group, replying to the bot's message ``reply_to``."""
    chat = {"id": GROUP, "type": "supergroup", "title": "Operators"}
    message: dict[str, Any] = {"message_id": next(_message_ids), "date": int(time.time()), "chat": chat}
    message |= {"from": user(sender, first_name="Op"), "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if reply_to:
        message["reply_to_message"] = {"message_id": reply_to, "date": int(time.time()), "chat": chat, "text": "…"}
    return {"update_id": update_id, "message": message}


async def write_ticket(bot: BotHarness, user_id: int, **content: Any) -> tuple[int, str]:
    """The user's ticket message; its message id and the bot's answer to it."""
    message_id = next(_message_ids)
    before = len(bot.telegram.calls("sendMessage", chat_id=user_id))
    assert await bot.send(message_update(bot.next_update_id(), user_id, message_id=message_id, **content)) == 200
    return message_id, bot.telegram.calls("sendMessage", chat_id=user_id)[before:][-1].params["text"]


def ticket_in(telegram: FakeTelegram, chat_id: int) -> tuple[Call, Call]:
    """The last ticket an operators' chat got: its header and the copy of the user's message."""
    headers = [c for c in telegram.calls("sendMessage", chat_id=chat_id) if c.params["text"].startswith("🆘")]
    return headers[-1], telegram.calls("copyMessage", chat_id=chat_id)[-1]


def message_id_of(telegram: FakeTelegram, call: Call) -> int:
    """The id Telegram gave the message a recorded call sent (the fake numbers them per chat)."""
    chat = telegram.messages(call.chat_id or 0)
    sent = [i for i, m in chat.items() if m.get("text") == call.params.get("text") or m.get("kind") == "copy"]
    return sent[-1]


async def ticket_rows(bot: BotHarness) -> list[tuple[int, int, str]]:
    rows = await bot.pool.fetch("SELECT id, user_id, status FROM tickets ORDER BY id")
    return [(r["id"], r["user_id"], r["status"]) for r in rows]


class TestTicketToAdmins:
    async def test_two_admins_get_it_one_answers_and_the_user_reads_the_answer(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=f"{ADMIN},{OTHER_ADMIN}") as bot:
            for who in (ADMIN, OTHER_ADMIN):
                await command(bot, who, "/start")
            await command(bot, ANN, "/start", username="ann_films")
            assert "one message" in await command(bot, ANN, "/support")
            asked, answer = await write_ticket(bot, ANN, text="I paid but the video never came", username="ann_films")
            assert "ticket #1" in answer
            assert await bot.pool.fetchval("SELECT count(*) FROM generations") == 0, "never a proposal"
            assert await ticket_rows(bot) == [(1, ANN, "open")]
            for admin in (ADMIN, OTHER_ADMIN):
                header, copy = ticket_in(bot.telegram, admin)
                assert "Ticket #1" in header.params["text"] and f"{ANN} @ann_films" in header.params["text"]
                assert "100 credits" in header.params["text"]
                assert (int(copy.params["from_chat_id"]), int(copy.params["message_id"])) == (ANN, asked)

            header, copy = ticket_in(bot.telegram, OTHER_ADMIN)
            reply_id = next(_message_ids)
            reply = message_update(
                bot.next_update_id(),
                OTHER_ADMIN,
                text="Sorry! Refunded.",
                reply_to_message_id=message_id_of(bot.telegram, copy),
                message_id=reply_id,
            )
            assert await bot.send(reply) == 200
            answered = bot.telegram.calls("copyMessage", chat_id=ANN)
            assert [(int(c.params["from_chat_id"]), int(c.params["message_id"])) for c in answered] == [
                (OTHER_ADMIN, reply_id)
            ]
            assert ContactSupport().pack() in button_data(answered[0]), "the user can write back"
            assert "Answer sent" in bot.telegram.calls("sendMessage", chat_id=OTHER_ADMIN)[-1].params["text"]
            assert await ticket_rows(bot) == [(1, ANN, "answered")]

            # Only the next message was a ticket: the one after it is an idea again.
            before = len(bot.telegram.calls("copyMessage", chat_id=ADMIN))
            assert await bot.send(message_update(bot.next_update_id(), ANN, text="a lighthouse at dusk")) == 200
            assert await bot.pool.fetchval("SELECT count(*) FROM generations") == 1
            assert len(bot.telegram.calls("copyMessage", chat_id=ADMIN)) == before

    async def test_a_reply_to_anything_else_is_no_answer_and_tickets_are_for_admins(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await command(bot, ANN, "/start")
            unknown = await command(bot, ANN, "/nonsense")
            assert await command(bot, ANN, "/tickets") == unknown
            assert await command(bot, ANN, "/close 1") == unknown
            await command(bot, ADMIN, "/start")
            assert "Usage" in await command(bot, ADMIN, "/close")
            assert "not open" in await command(bot, ADMIN, "/close 99")
            assert await bot.send(message_update(bot.next_update_id(), ADMIN, text="hm", reply_to_message_id=1)) == 200
            assert bot.telegram.calls("copyMessage") == []


class TestSupportGroup:
    async def test_the_group_gets_it_any_operator_answers_and_follow_ups_join_the_ticket(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN), SUPPORT_CHAT_ID=str(GROUP)) as bot:
            await command(bot, ANN, "/start")
            await command(bot, ANN, "/paysupport")
            photo = photo_sizes("ph-receipt", 50_000)
            asked, answer = await write_ticket(bot, ANN, photo=photo, caption="my receipt")
            assert "ticket #1" in answer
            assert await bot.pool.fetchval("SELECT count(*) FROM generations") == 0, "a photo ticket is no proposal"
            assert bot.telegram.calls("copyMessage", chat_id=ADMIN) == [], "the group, not the admins"
            header, copy = ticket_in(bot.telegram, GROUP)
            assert int(copy.params["message_id"]) == asked

            # Small talk in the group is not for the bot; a reply to the header is an answer.
            before = len(bot.telegram.calls())
            assert await bot.send(group_reply(bot.next_update_id(), OPERATOR, 0, "coffee?")) == 200
            assert len(bot.telegram.calls()) == before
            answer_update = group_reply(bot.next_update_id(), OPERATOR, message_id_of(bot.telegram, header), "Done.")
            assert await bot.send(answer_update) == 200
            (answered,) = bot.telegram.calls("copyMessage", chat_id=ANN)
            assert int(answered.params["from_chat_id"]) == GROUP
            assert await ticket_rows(bot) == [(1, ANN, "answered")]

            # Writing back with the button under the answer joins the same ticket and opens it again.
            tap = callback_update(bot.next_update_id(), ANN, ContactSupport().pack(), message_id=1)
            assert await bot.send(tap) == 200
            _, answer = await write_ticket(bot, ANN, text="thanks, one more thing")
            assert "open ticket #1" in answer
            header, _ = ticket_in(bot.telegram, GROUP)
            assert "one more message" in header.params["text"]
            assert await ticket_rows(bot) == [(1, ANN, "open")]

            assert await bot.send(group_reply(bot.next_update_id(), OPERATOR, 0, "/tickets")) == 200
            assert not any("Open tickets" in c.params.get("text", "") for c in bot.telegram.calls(chat_id=GROUP))
            assert await bot.send(group_reply(bot.next_update_id(), ADMIN, 0, "/tickets")) == 200
            listed = bot.telegram.calls("sendMessage", chat_id=GROUP)[-1].params["text"]
            assert "Open tickets" in listed and f"#1 {ANN}" in listed
            header, _ = ticket_in(bot.telegram, GROUP)
            close = group_reply(bot.next_update_id(), ADMIN, message_id_of(bot.telegram, header), "/close 1")
            assert await bot.send(close) == 200, "a command as a reply to the ticket is the command"
            assert "closed" in bot.telegram.calls("sendMessage", chat_id=GROUP)[-1].params["text"]
            assert len(bot.telegram.calls("copyMessage", chat_id=ANN)) == 1, "not copied to the user"
            assert "ticket #1 is closed" in bot.telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"]
            assert await ticket_rows(bot) == [(1, ANN, "closed")]

            await command(bot, ANN, "/support")
            _, answer = await write_ticket(bot, ANN, text="a new question")
            assert "ticket #2" in answer


class TestContactButton:
    async def test_under_the_receipt(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await command(bot, ANN, "/start")
            assert await pay(bot, ANN, await invoice_for(bot, ANN, 100), "ch-support") == 200
            receipt = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
            assert "ch-support" in receipt.params["text"]
            assert ContactSupport().pack() in button_data(receipt)


def test_under_a_failure_but_not_under_progress() -> None:
    generation = Generation(**dict.fromkeys(f.name for f in fields(Generation)) | {"id": 7, "price": 60})
    failed = status_view("en", generation, "failed", model_title="Veo", reason=Reason("reason_busy"), credits=100)
    assert failed.keyboard is not None
    assert [b.callback_data for row in failed.keyboard.inline_keyboard for b in row] == [ContactSupport().pack()]
    waiting = status_view("en", generation, "waiting", model_title="Veo")
    assert ContactSupport().pack() not in str(waiting.keyboard)
