"""English and Russian through the real webhook: the language of first contact, /language kept
across restarts and later updates, Russian through a whole generation (failure and refund included),
plural forms and command menus."""

from __future__ import annotations

import json
import re

from core.ui.keyboards import Confirm, SetLanguage
from tests.fakes.kie import FakeKie, Outcome
from tests.fakes.telegram import FakeTelegram, callback_update, message_update
from tests.helpers import BotHarness, button_data

IVAN, ANN = 801, 802
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def everything_said(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """Every text and caption the bot sent or edited in, and every button label, in order."""
    said = []
    for call in telegram.calls(chat_id=chat_id):
        said += [call.params[k] for k in ("text", "caption") if isinstance(call.params.get(k), str)]
        markup = call.params.get("reply_markup") or {}
        said += [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
    return said


async def say(bot: BotHarness, user_id: int, text: str, language_code: str) -> str:
    before = len(bot.telegram.calls("sendMessage", chat_id=user_id))
    update = message_update(bot.next_update_id(), user_id, text=text, language_code=language_code)
    assert await bot.send(update) == 200
    return bot.telegram.calls("sendMessage", chat_id=user_id)[before:][-1].params["text"]


async def confirm_idea(bot: BotHarness, user_id: int, idea: str, language_code: str) -> int:
    await say(bot, user_id, idea, language_code)
    proposal = bot.telegram.calls("sendMessage", chat_id=user_id)[-1]
    draft = Confirm.unpack(next(d for d in button_data(proposal) if d.startswith("go:"))).draft
    row = await bot.generation(draft)
    tap = callback_update(
        bot.next_update_id(),
        user_id,
        Confirm(draft=draft).pack(),
        message_id=row["status_message_id"],
        language_code=language_code,
    )
    assert await bot.send(tap) == 200
    return draft


class TestRussian:
    async def test_a_russian_user_reads_russian_through_a_failure_and_a_video(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        welcome = await say(bot, IVAN, "/start", "ru")
        assert "Привет" in welcome and "100 бесплатных кредитов" in welcome and "У вас 100 кредитов" in welcome

        fake_kie.script(Outcome.failure(501, "internal upstream error"))
        failed = await confirm_idea(bot, IVAN, "лиса прыгает через замёрзшую реку", "ru")
        await fake_kie.wait_for(lambda fake: fake.tasks)
        for task_id in list(fake_kie.tasks):
            await fake_kie.finish(task_id)
        row = await bot.wait_for_generation(failed, "failed")
        await fake_telegram.wait_for(
            lambda _: fake_telegram.messages(IVAN)[row["status_message_id"]].get("text", "").startswith("❌")
        )
        status = fake_telegram.messages(IVAN)[row["status_message_id"]]["text"]
        assert "60 кредитов вернулись на счёт. У вас 100 кредитов." in status
        assert "upstream" not in status

        done = await confirm_idea(bot, IVAN, "кот на доске для сёрфинга", "ru")
        await fake_kie.wait_for(lambda fake: len(fake.tasks) >= 2)
        for task_id, task in list(fake_kie.tasks.items()):
            if not task.terminal:
                await fake_kie.finish(task_id)
        row = await bot.wait_for_generation(done, "done")
        await fake_telegram.wait_for(lambda calls: any(c.method == "sendVideo" for c in calls))
        await fake_telegram.wait_for(
            lambda _: fake_telegram.messages(IVAN)[row["status_message_id"]].get("text", "").startswith("✅")
        )
        # Model buttons ("Sora 2 · 30") are names and numbers in any language.
        said = [line for line in everything_said(fake_telegram, IVAN) if not re.fullmatch(r".+ · \d+", line)]
        assert said and all(CYRILLIC.search(line) for line in said), [s for s in said if not CYRILLIC.search(s)]
        assert any(line.startswith("⏳ В очереди") for line in said)
        assert "✅ Готово! Видео ниже." in said

    async def test_plural_forms(self, bot: BotHarness) -> None:
        await say(bot, IVAN, "/start", "ru")
        expected = {1: "1 кредит", 2: "2 кредита", 5: "5 кредитов", 21: "21 кредит", 1000: "1\xa0000 кредитов"}
        for credits, words in expected.items():
            await bot.pool.execute("UPDATE users SET credits = $2 WHERE id = $1", IVAN, credits)
            assert await say(bot, IVAN, "/balance", "ru") == f"💳 У вас {words}."
        await say(bot, ANN, "/start", "en")
        await bot.pool.execute("UPDATE users SET credits = 1 WHERE id = $1", ANN)
        assert await say(bot, ANN, "/balance", "en") == "💳 You have 1 credit."


class TestLanguageChoice:
    async def test_language_persists_across_later_updates_and_a_restart(
        self, make_bot, fake_telegram: FakeTelegram
    ) -> None:
        async with make_bot() as bot:
            assert "You have 100 credits" in await say(bot, ANN, "/start", "en")
            assert await say(bot, ANN, "/language", "en") == "Choose your language:"
            menu = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
            labels = [b["text"] for row in menu.params["reply_markup"]["inline_keyboard"] for b in row]
            assert labels == ["🇬🇧 English", "🇷🇺 Русский"]
            tap = callback_update(
                bot.next_update_id(), ANN, SetLanguage(language="ru").pack(), message_id=menu_id(fake_telegram)
            )
            assert await bot.send(tap) == 200
            assert fake_telegram.messages(ANN)[menu_id(fake_telegram)]["text"] == "✅ Теперь я говорю по-русски."
            chat_menu = fake_telegram.menus[(json.dumps({"type": "chat", "chat_id": ANN}, sort_keys=True), "")]
            assert next(c for c in chat_menu if c["command"] == "balance")["description"] == "Ваши кредиты"
            # Telegram keeps saying "en": the choice stands.
            assert await say(bot, ANN, "/balance", "en") == "💳 У вас 100 кредитов."
        async with make_bot() as bot:
            assert await say(bot, ANN, "/balance", "en") == "💳 У вас 100 кредитов."
            assert await bot.pool.fetchval("SELECT language FROM users WHERE id = $1", ANN) == "ru"

    async def test_first_contact_sets_the_language_and_unknown_ones_read_english(self, bot: BotHarness) -> None:
        assert "Привет" in await say(bot, IVAN, "/start", "ru-RU")
        assert "Hi" in await say(bot, ANN, "/start", "pt-br")
        languages = dict(await bot.pool.fetch("SELECT id, language FROM users ORDER BY id"))
        assert languages == {IVAN: "ru", ANN: "en"}


def menu_id(telegram: FakeTelegram) -> int:
    return max(telegram.messages(ANN))
