"""Check before paying: OpenAI's moderation sees the idea and the photo before any proposal, against the
fake OpenAI's ``/v1/moderations`` in its real answer format."""

from __future__ import annotations

import base64
from typing import Any

import structlog

from core.ui.texts import text
from tests.fakes.kie import FakeKie
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import message_update, photo_sizes
from tests.helpers import BotHarness, button_data
from tests.test_e2e_generation import JPEG, start_and_confirm
from tests.test_e2e_payments import command

ANN, ADMIN = 901, 42


async def idea(bot: BotHarness, user_id: int, **message: Any) -> Any:
    """Send an idea; the one message the bot answered with."""
    before = len(bot.telegram.calls("sendMessage", chat_id=user_id))
    assert await bot.send(message_update(bot.next_update_id(), user_id, **message)) == 200
    (reply,) = bot.telegram.calls("sendMessage", chat_id=user_id)[before:]
    return reply


def is_proposal(reply: Any) -> bool:
    return any(data.startswith("go:") for data in button_data(reply))


async def test_a_flagged_idea_is_refused_politely_with_no_proposal_no_charge_and_no_call(
    make_bot: Any, fake_openai: FakeOpenAI, fake_kie: FakeKie
) -> None:
    fake_openai.flagged = {"violence", "violence/graphic"}
    async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
        await command(bot, ANN, "/start")
        reply = await idea(bot, ANN, text="something awful")
        assert reply.params["text"] == text("en", "moderation_refused") and not is_proposal(reply)
        (checked,) = fake_openai.moderations
        assert checked.body["model"] == "omni-moderation-latest"
        assert checked.body["input"] == [{"type": "text", "text": "something awful"}]
        # No charge, no prompt writer, no KIE; the draft is gone and the user has one flag.
        assert await bot.credits(ANN) == 100 and await bot.ledger(ANN) == [("starter", 100)]
        assert fake_openai.requests == [] and fake_kie.tasks == {}
        assert await bot.pool.fetchval("SELECT array_agg(status) FROM generations WHERE user_id = $1", ANN) == [
            "discarded"
        ]
        assert "Ideas refused by moderation: 1" in await command(bot, ADMIN, f"/user {ANN}")
        # Russian too.
        russian = await idea(bot, ANN + 1, text="что-то ужасное", language_code="ru")
        assert russian.params["text"] == text("ru", "moderation_refused")


async def test_a_clean_photo_idea_is_checked_as_text_and_image_in_one_request_then_proposed(
    bot: BotHarness, fake_openai: FakeOpenAI, fake_kie: FakeKie
) -> None:
    file_id = bot.telegram.add_file(JPEG)
    draft = await start_and_confirm(bot, ANN, photo=photo_sizes(file_id, len(JPEG)), caption="make it snow")
    (checked,) = fake_openai.moderations
    text_part, image_part = checked.body["input"]
    assert text_part == {"type": "text", "text": "make it snow"}
    assert image_part["image_url"]["url"] == f"data:image/jpeg;base64,{base64.b64encode(JPEG).decode()}"
    assert await bot.credits(ANN) == 40, "confirmed and charged as ever"
    await fake_kie.wait_for(lambda fake: len(fake.tasks) == 1)
    assert (await bot.generation(draft))["status"] != "discarded"


async def test_moderation_unreachable_lets_the_proposal_go_out_with_a_warning(
    bot: BotHarness, fake_openai: FakeOpenAI
) -> None:
    fake_openai.moderation_down = True
    await command(bot, ANN, "/start")
    with structlog.testing.capture_logs() as logs:
        reply = await idea(bot, ANN, text="a lighthouse in a storm")
    assert is_proposal(reply)
    assert len(fake_openai.moderations) == 1, "no retry: a user is waiting"
    (warning,) = [line for line in logs if line["event"] == "moderation.unavailable"]
    assert warning["log_level"] == "warning" and "503" in warning["error"]
    assert await bot.pool.fetchval("SELECT moderation_flags FROM users WHERE id = $1", ANN) == 0


async def test_moderation_off_checks_nothing(make_bot: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.flagged = {"violence"}
    async with make_bot(MODERATION="false") as bot:
        await command(bot, ANN, "/start")
        assert is_proposal(await idea(bot, ANN, text="a knight's duel"))
    assert fake_openai.moderations == []
