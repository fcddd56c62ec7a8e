"""The message catalogue and the prompt writer."""

from __future__ import annotations

import re

import openai
import pytest

from core.providers.prompter import Prompter, PromptError, fallback_prompt
from core.ui.texts import CATALOGUE, EN, language, placeholders, text
from tests.fakes.openai import FakeOpenAI
from tests.helpers import REPO


class TestCatalogue:
    def test_every_key_used_in_code_exists_and_every_key_is_used(self) -> None:
        code = "\n".join(p.read_text() for p in (REPO / "core").rglob("*.py") if p.name != "texts.py")
        called = set(re.findall(r"""\btext\(\s*[\w"']+,\s*["']([a-z_]+)["']""", code))
        quoted = set(re.findall(r"""["']([a-z_]+)["']""", code))
        # Status keys are built from the stage: text(lang, f"status_{stage}").
        stages = {f"status_{stage}" for stage in ("prompting", "uploading", "done", "done_late", "never_arrived")}
        assert called - set(EN) == set(), "keys used but not in the catalogue"
        assert set(EN) - quoted - stages == set(), "keys in the catalogue nobody uses"

    def test_translations_keep_the_placeholders(self) -> None:
        for lang, entries in CATALOGUE.items():
            for key, template in entries.items():
                assert placeholders(template) == placeholders(EN[key]), f"{lang}:{key}"

    def test_language_choice_and_formatting(self) -> None:
        assert language("en-GB") == "en" and language(None) == "en" and language("xx") == "en"
        assert text("en", "balance", credits=5) == "💳 You have 5 credits."
        assert text("xx", "balance", credits=5) == "💳 You have 5 credits.", "unknown languages read English"


class TestPrompter:
    @pytest.fixture
    async def prompter(self, fake_openai: FakeOpenAI) -> Prompter:
        client = openai.AsyncOpenAI(
            api_key=fake_openai.api_key, base_url=fake_openai.base_url, max_retries=0, timeout=5
        )
        yield Prompter(client, "gpt-test")
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
        fake_openai.reply = "   "
        with pytest.raises(PromptError, match="empty prompt"):
            await prompter.write("x")

    def test_fallback_uses_the_users_words(self) -> None:
        assert fallback_prompt("a red kite", with_photo=False).startswith("a red kite. Vertical 9:16 video")
        assert fallback_prompt("", with_photo=True).startswith("Bring this photo to life with natural motion")
        assert fallback_prompt("make it dance", with_photo=True).startswith("Bring this photo to life: make it dance")
