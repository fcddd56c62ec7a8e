"""Presets (issue 16, part 5): a style chosen on the proposal guides the prompt writer, costs nothing more,
and shows in /history; junk taps get a polite answer. Through the real webhook against the fakes."""

from __future__ import annotations

import json
from dataclasses import replace

from aiogram.filters.callback_data import CallbackData

from core.growth import DEFAULT_PRESETS, find_preset, parse_presets
from core.providers.prompter import fallback_prompt
from core.ui.keyboards import Confirm, PickPreset, confirm_keyboard, share_query
from tests.fakes.kie import FakeKie
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram, callback_update
from tests.helpers import BotHarness, button_data
from tests.test_catalogue import draft
from tests.test_e2e_chat import BOB, say, tap
from tests.test_e2e_generation import ANN, propose, render, videos_sent

ANIME = find_preset(parse_presets(DEFAULT_PRESETS), "anime")


def keyboard_labels(message: dict) -> list[str]:
    return [button["text"] for row in message["reply_markup"]["inline_keyboard"] for button in row]


class TestPresetChoice:
    async def test_the_chosen_style_reaches_the_prompt_writer_and_the_price_is_unchanged(
        self, bot: BotHarness, fake_kie: FakeKie, fake_openai: FakeOpenAI, fake_telegram: FakeTelegram
    ) -> None:
        assert ANIME is not None
        await say(bot, ANN, "/start")
        draft = await propose(bot, ANN, text="a cat surfing a giant wave")
        proposal_id = (await bot.generation(draft))["status_message_id"]

        # Cinematic, then tapped again (cleared), then Anime: only the last choice counts.
        assert await tap(bot, ANN, PickPreset(draft=draft, preset="cinematic").pack(), proposal_id) == (
            "Style chosen. The price stays the same."
        )
        assert "✓ Cinematic" in keyboard_labels(fake_telegram.messages(ANN)[proposal_id])
        assert await tap(bot, ANN, PickPreset(draft=draft, preset="cinematic").pack(), proposal_id) == "Style removed."
        assert (await bot.generation(draft))["preset"] is None
        await tap(bot, ANN, PickPreset(draft=draft, preset="anime").pack(), proposal_id)
        shown = fake_telegram.messages(ANN)[proposal_id]
        assert "🎨 Style: Anime" in shown["text"] and "Price: 60 credits" in shown["text"]
        labels = keyboard_labels(shown)
        assert "✓ Anime" in labels and "Cinematic" in labels and "✓ Cinematic" not in labels
        row = await bot.generation(draft)
        assert (row["preset"], row["price"]) == ("anime", 60)

        await tap(bot, ANN, Confirm(draft=draft).pack(), proposal_id)
        await render(fake_kie)
        await videos_sent(fake_telegram, ANN)
        await bot.wait_for_generation(draft, "done")

        (writer,) = [call for call in fake_openai.requests if call.path.endswith("/chat/completions")]
        instructions = writer.body["messages"][0]
        assert instructions["role"] == "system" and f"Style: {ANIME.prompt}" in instructions["content"]
        assert "a cat surfing a giant wave" in json.dumps(writer.body["messages"][1])
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)], "the same price as without a style"

        # /history names the style.
        await say(bot, ANN, "/history")
        listing = fake_telegram.calls("sendMessage", chat_id=ANN)[-1]
        (item,) = listing.params["reply_markup"]["inline_keyboard"]
        assert " · Anime · a cat surfing a giant wave" in item[0]["text"]

    async def test_regenerate_keeps_the_style(self, bot: BotHarness) -> None:
        await say(bot, ANN, "/start")
        draft = await propose(bot, ANN, text="rain on a tin roof")
        proposal_id = (await bot.generation(draft))["status_message_id"]
        await tap(bot, ANN, PickPreset(draft=draft, preset="vlog").pack(), proposal_id)
        await bot.pool.execute(
            "UPDATE generations SET status = 'done', confirmed_at = now(), finished_at = now() WHERE id = $1", draft
        )
        await tap(bot, ANN, f"again:{draft}", proposal_id)
        again = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
        new_draft = Confirm.unpack(next(d for d in button_data(again) if d.startswith("go:"))).draft
        assert (await bot.generation(new_draft))["preset"] == "vlog"
        assert "🎨 Style: Vlog" in again.params["text"]

    async def test_a_preset_off_makes_no_style_buttons(self, make_bot) -> None:
        async with make_bot(PRESETS="none") as bot:
            await say(bot, ANN, "/start")
            await propose(bot, ANN, text="a quiet lake")
            proposal = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
            assert not [d for d in button_data(proposal) if d.startswith("style:")]


class TestJunkTaps:
    async def test_junk_and_foreign_style_taps_get_a_polite_answer_and_change_nothing(self, bot: BotHarness) -> None:
        await say(bot, ANN, "/start")
        draft = await propose(bot, ANN, text="a lighthouse at night")
        proposal_id = (await bot.generation(draft))["status_message_id"]
        gone = "This style is not offered any more. Please pick another one."
        for junk in (f"style:{draft}:no-such-style", "style:abc:anime", "style:", f"style:{draft}", "style:1:2:3"):
            assert await tap(bot, ANN, junk, proposal_id) == gone, junk
        # Another user's draft, or a draft already confirmed: the usual "no longer available".
        await say(bot, BOB, "/start")
        assert "no longer" in (await tap(bot, BOB, PickPreset(draft=draft, preset="anime").pack(), 1) or "")
        await tap(bot, ANN, Confirm(draft=draft).pack(), proposal_id)
        assert "no longer" in (await tap(bot, ANN, PickPreset(draft=draft, preset="anime").pack(), proposal_id) or "")
        assert (await bot.generation(draft))["preset"] is None
        assert await bot.pool.fetchval("SELECT count(*) FROM telegram_updates WHERE outcome = 'failed'") == 0

    async def test_a_russian_user_reads_the_answers_in_russian(self, bot: BotHarness) -> None:
        update = callback_update(bot.next_update_id(), 9001, "style:x:y", message_id=1, language_code="ru")
        assert await bot.send(update) == 200
        (answer,) = bot.telegram.calls("answerCallbackQuery")
        assert answer.params["text"] == "Этого стиля больше нет. Выберите, пожалуйста, другой."


class TestPieces:
    def test_callback_data_fits_telegram_for_the_longest_ids(self) -> None:
        longest = PickPreset(draft=2**63 - 1, preset="x" * 24).pack()
        assert len(longest.encode()) <= 64
        assert isinstance(PickPreset.unpack(longest), CallbackData)

    def test_the_keyboard_marks_the_chosen_style(self) -> None:
        presets = parse_presets(DEFAULT_PRESETS)
        chosen = replace(draft("veo3_fast", 60, None), preset="anime")
        keyboard = confirm_keyboard("ru", chosen, [], presets)
        rows = [
            [b.text for b in row if (b.callback_data or "").startswith("style:")] for row in keyboard.inline_keyboard
        ]
        assert [row for row in rows if row] == [["Кино", "✓ Аниме", "Реклама товара"], ["Влог", "Мечта"]]

    def test_fallback_prompt_follows_the_style(self) -> None:
        prompt = fallback_prompt("a red kite", with_photo=False, style="hand-drawn anime style.")
        assert prompt == "a red kite. Vertical 9:16 video, Style: hand-drawn anime style."
        assert "cinematic lighting" in fallback_prompt("a red kite", with_photo=False)

    def test_share_query_is_whole_words(self) -> None:
        assert share_query("  a fox\njumping ") == "a fox jumping"
        assert share_query("word " * 30) == ("word " * 9).strip()
        assert share_query("x" * 60) == ""
