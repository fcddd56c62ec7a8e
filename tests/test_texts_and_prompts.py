"""The message catalogue and the prompt writer."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import openai
import pytest

from core.growth import DEFAULT_PRESETS, parse_presets
from core.providers.prompter import DEFAULT_SOUND_CUE, Prompter, PromptError, fallback_prompt, with_sound_cue
from core.ui.texts import LANGUAGES, keys, language, placeholders, plural, preset_name, text, user_language
from db.users import User
from tests.fakes.openai import FakeOpenAI
from tests.helpers import REPO

CYRILLIC = re.compile("[а-яА-ЯёЁ]")


class TestCatalogue:
    def test_every_key_used_in_code_exists_and_every_key_is_used(self) -> None:
        code = "\n".join(p.read_text() for p in (REPO / "core").rglob("*.py") if p.name != "texts.py")
        called = set(re.findall(r"""\btext\(\s*[\w"']+,\s*["']([a-z_]+)["']""", code))
        quoted = set(re.findall(r"""["']([a-z_]+)["']""", code))
        english = keys("en")
        # Keys built from a value: text(lang, f"status_{stage}"), f"cmd_{name}", f"broadcast_{state}", units.
        built = {f"status_{stage}" for stage in ("prompting", "uploading", "done", "done_late", "never_arrived")}
        # The Mini App: statuses and ledger reasons by value; app_* are the page's (GET /app/api/texts),
        # checked against it by tests/test_miniapp_static.py. preset_name_*: texts.preset_name, by style id.
        prefixes = ("cmd_", "broadcast_", "unit_", "api_status_", "api_ledger_", "app_", "preset_name_")
        built |= {k for k in english if k.startswith(prefixes)}
        assert called - set(english) == set(), "keys used but not in the catalogue"
        assert set(english) - quoted - built == set(), "keys in the catalogue nobody uses"

    def test_both_languages_have_every_key_with_the_same_placeholders(self) -> None:
        english = keys("en")
        for lang in LANGUAGES:
            entries = keys(lang)
            assert set(entries) == set(english), f"{lang}: missing or extra keys"
            for key, template in entries.items():
                reference = english[key]
                if isinstance(reference, tuple):
                    assert isinstance(template, tuple) and all(template), f"{lang}:{key} needs every plural form"
                    assert {placeholders(form) == {("n", "")} for form in template} == {True}, f"{lang}:{key}"
                else:
                    assert template, f"{lang}:{key} is empty"
                    assert placeholders(template) == placeholders(reference), f"{lang}:{key}"

    def test_the_styles_we_ship_are_named_in_every_language(self) -> None:
        for preset in parse_presets(DEFAULT_PRESETS):
            assert preset_name("en", preset) == preset.name
            assert CYRILLIC.search(preset_name("ru", preset)), preset.id
        own = parse_presets("Noir|black and white, hard shadows")[0]
        assert preset_name("ru", own) == "Noir", "an operator's own style keeps the operator's words"

    def test_no_key_is_written_twice(self) -> None:
        """A key written twice would silently keep only its last text (two features naming a button alike)."""
        for lang in LANGUAGES:
            written = re.findall(r'^msgid "(.+)"$', (REPO / f"core/ui/locales/{lang}.po").read_text(), re.MULTILINE)
            assert sorted(k for k in set(written) if written.count(k) > 1) == [], lang

    def test_every_unit_a_template_names_has_plural_forms(self) -> None:
        for lang in LANGUAGES:
            entries = keys(lang)
            for template in (t for t in entries.values() if isinstance(t, str)):
                for _, spec in placeholders(template):
                    if spec and spec not in ("day", "date", "datetime", "number"):
                        assert f"unit_{spec}" in entries, f"{lang}: {{x:{spec}}} has no unit_{spec}"

    def test_russian_plural_forms(self) -> None:
        forms = {n: plural("ru", "credits", n) for n in (1, 2, 5, 11, 21, 22, 25, 101, 111)}
        assert forms == {
            1: "1 кредит",
            2: "2 кредита",
            5: "5 кредитов",
            11: "11 кредитов",
            21: "21 кредит",
            22: "22 кредита",
            25: "25 кредитов",
            101: "101 кредит",
            111: "111 кредитов",
        }
        assert [plural("en", "credits", n) for n in (1, 2)] == ["1 credit", "2 credits"]
        assert text("ru", "balance", credits=1000) == "💳 У вас 1\xa0000 кредитов."
        assert text("en", "balance", credits=1000) == "💳 You have 1,000 credits."

    def test_dates_are_localized(self) -> None:
        when = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
        assert "мар" in text("ru", "admin_stats", **_stats_params(when))
        assert "Mar" in text("en", "admin_stats", **_stats_params(when))
        assert text("ru", "button_history_item", when=when, idea="кот") == "▶️ 8 мар. · кот"
        assert text("en", "button_history_item", when=when, idea="cat") == "▶️ 8 Mar · cat"

    def test_language_choice_and_formatting(self) -> None:
        assert language("en-GB") == "en" and language(None) == "en" and language("xx") == "en"
        assert language("ru") == "ru" and language("ru-RU") == "ru"
        assert user_language(_user(language="ru", language_code="en")) == "ru", "the choice wins"
        assert user_language(_user(language=None, language_code="ru")) == "ru"
        assert user_language(None) == "en"
        assert text("en", "balance", credits=5) == "💳 You have 5 credits."
        assert text("xx", "balance", credits=1) == "💳 You have 1 credit.", "unknown languages read English"

    def test_provider_details_never_reach_the_user(self) -> None:
        for lang in LANGUAGES:
            for key in ("reason_content", "reason_render", "reason_busy"):
                assert "detail" not in {name for name, _ in placeholders(keys(lang)[key])}


def _stats_params(when: datetime) -> dict[str, object]:
    names = [name for name, _ in placeholders(keys("en")["admin_stats"])]
    return {name: (when if name == "today" else 1) for name in names}


def _user(language: str | None, language_code: str | None) -> User:
    return User(1, 0, None, language, language_code, None, datetime(2026, 3, 8, tzinfo=UTC))


class TestPrompter:
    @pytest.fixture
    async def prompter(self, fake_openai: FakeOpenAI) -> Prompter:
        client = openai.AsyncOpenAI(
            api_key=fake_openai.api_key, base_url=fake_openai.base_url, max_retries=0, timeout=5
        )
        yield Prompter(lambda: client, "gpt-test")
        await client.close()

    async def test_writes_from_the_idea_and_shows_the_photo_as_data(
        self, prompter: Prompter, fake_openai: FakeOpenAI
    ) -> None:
        assert await prompter.write("a cat surfing", b"\x89PNG", mime="image/png") == fake_openai.reply
        body = fake_openai.requests[0].body
        assert body["model"] == "gpt-test"
        user = body["messages"][1]["content"]
        assert user[0]["text"] == "Idea: a cat surfing"
        assert user[1]["image_url"]["url"] == "data:image/png;base64,iVBORw=="

    async def test_errors_say_whether_waiting_helps(self, prompter: Prompter, fake_openai: FakeOpenAI) -> None:
        fake_openai.fail_next(500)
        with pytest.raises(PromptError) as caught:
            await prompter.write("x")
        assert caught.value.retryable
        fake_openai.fail_next(429)
        with pytest.raises(PromptError) as caught:
            await prompter.write("x")
        assert caught.value.retryable
        fake_openai.fail_next(400, message="Invalid image")
        with pytest.raises(PromptError) as caught:
            await prompter.write("x")
        assert not caught.value.retryable and "Invalid image" in str(caught.value)
        assert not caught.value.account
        fake_openai.fail_next(429, message="You exceeded your current quota", code="insufficient_quota")
        with pytest.raises(PromptError) as caught:
            await prompter.write("x")
        assert caught.value.account and not caught.value.retryable, "no quota: waiting does not help"
        fake_openai.api_key = "sk-another-key"
        with pytest.raises(PromptError) as caught:
            await prompter.write("x")
        assert caught.value.account and "401" in str(caught.value)
        fake_openai.api_key = "sk-test-openai-key"
        fake_openai.reply = "   "
        with pytest.raises(PromptError, match="empty prompt"):
            await prompter.write("x")

    async def test_a_sound_model_gets_an_sfx_cue(self, prompter: Prompter, fake_openai: FakeOpenAI) -> None:
        """Asked for, and added when the writer forgets it; never for a silent model, never twice."""
        fake_openai.reply = "A paper boat drifts down a rainy street."
        assert await prompter.write("a paper boat") == fake_openai.reply
        assert "SFX:" not in fake_openai.requests[-1].body["messages"][0]["content"]
        written = await prompter.write("a paper boat", sound=True)
        assert "SFX:" in fake_openai.requests[-1].body["messages"][0]["content"]
        assert written == f"{fake_openai.reply}\n{DEFAULT_SOUND_CUE}"
        fake_openai.reply = "A paper boat drifts.\nsfx: rain on tin roofs, a gutter gurgling"
        assert await prompter.write("a paper boat", sound=True) == fake_openai.reply
        assert with_sound_cue(with_sound_cue("x")) == with_sound_cue("x") == f"x\n{DEFAULT_SOUND_CUE}"
        assert fallback_prompt("a kite", with_photo=False, sound=True).endswith(f"\n{DEFAULT_SOUND_CUE}")
        assert "SFX" not in fallback_prompt("a kite", with_photo=False)

    def test_fallback_uses_the_users_words(self) -> None:
        assert fallback_prompt("a red kite", with_photo=False).startswith("a red kite. Vertical 9:16 video")
        assert fallback_prompt("", with_photo=True).startswith("Bring this photo to life with natural motion")
        assert fallback_prompt("make it dance", with_photo=True).startswith("Bring this photo to life: make it dance")
