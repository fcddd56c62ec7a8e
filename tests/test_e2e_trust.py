"""What is left of issue 15 (trust): a ban never cuts the way to a human, and a refund a Stars
refund claimed says what happened instead of "refunded"."""

from __future__ import annotations

from dataclasses import fields

import pytest

from core.ui.keyboards import ContactSupport
from core.ui.status import Reason, status_text
from db.generations import Generation
from tests.fakes.telegram import callback_update, message_update
from tests.helpers import BotHarness
from tests.test_e2e_payments import command
from tests.test_e2e_support import ticket_in, ticket_rows, write_ticket

ANN, ADMIN = 731, 42


async def banned(bot: BotHarness) -> None:
    await command(bot, ANN, "/start")
    assert "banned" in await command(bot, ADMIN, f"/ban {ANN} spam")


class TestABannedUserReachesSupport:
    async def test_support_and_the_ticket_go_through_and_nothing_else(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await banned(bot)
            assert "suspended" in await command(bot, ANN, "/balance")
            assert "one message" in await command(bot, ANN, "/support")
            _, answer = await write_ticket(bot, ANN, text="Why was I banned? I paid for credits.")
            assert "ticket #1" in answer
            header, copy = ticket_in(bot.telegram, ADMIN)
            assert "Ticket #1" in header.params["text"] and int(copy.params["from_chat_id"]) == ANN
            assert "Banned since" in header.params["text"]
            assert await ticket_rows(bot) == [(1, ANN, "open")]
            # The ticket sent, the ban holds again: an idea is no proposal, a command no answer.
            before = len(bot.telegram.calls("sendMessage", chat_id=ANN))
            for line in ("a new idea of a paper moon", "/balance"):
                assert await bot.send(message_update(bot.next_update_id(), ANN, text=line)) == 200
            assert len(bot.telegram.calls("sendMessage", chat_id=ANN)) == before, "one ban notice a day, given"
            assert await bot.pool.fetchval("SELECT count(*) FROM generations") == 0

    async def test_paysupport_and_the_contact_button_go_through(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await banned(bot)
            assert "one message" in await command(bot, ANN, "/paysupport@reelsmith_bot")
            tap = callback_update(bot.next_update_id(), ANN, ContactSupport().pack(), message_id=1)
            assert await bot.send(tap) == 200
            assert "one message" in bot.telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"]
            _, answer = await write_ticket(bot, ANN, text="A refund, please")
            assert "ticket #1" in answer

    async def test_a_command_while_writing_is_still_banned(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await banned(bot)
            await command(bot, ANN, "/support")
            before = len(bot.telegram.calls("sendMessage", chat_id=ANN))
            assert await bot.send(message_update(bot.next_update_id(), ANN, text="/buy")) == 200
            replies = bot.telegram.calls("sendMessage", chat_id=ANN)[before:]
            assert [c.params["text"] for c in replies if "suspended" not in c.params["text"]] == []
            assert await ticket_rows(bot) == []


PARAMS = {"credits": 0, "reason": Reason("reason_render"), "minutes": 10}


def _generation(price: int, claim: int) -> Generation:
    values = dict.fromkeys(f.name for f in fields(Generation)) | {"id": 7, "price": price, "refund_claim": claim}
    return Generation(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("stage", ["failed", "cancelled", "overdue"])
class TestAClaimedRefundIsNotCalledRefunded:
    def test_all_of_it_claimed(self, lang: str, stage: str) -> None:
        words = status_text(lang, _generation(60, 60), stage, model_title="Veo", **PARAMS)
        assert "Stars" in words and "60" in words
        assert ("credits refunded" not in words) if lang == "en" else ("вернулись на счёт" not in words)

    def test_part_of_it_claimed(self, lang: str, stage: str) -> None:
        words = status_text(lang, _generation(60, 20), stage, model_title="Veo", **PARAMS)
        assert "40" in words and "20" in words and "Stars" in words

    def test_nothing_claimed_says_refunded(self, lang: str, stage: str) -> None:
        words = status_text(lang, _generation(60, 0), stage, model_title="Veo", **PARAMS)
        assert "Stars" not in words and "60" in words
