"""OpenAI (or any OpenAI-compatible endpoint) turns an idea, and a photo, into a video prompt."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

from core import metrics
from core.settings.sections import OpenAISettings

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionContentPartParam

SYSTEM_PROMPT = """You write prompts for an AI video model that renders one short vertical video (9:16, \
about 8 seconds, with sound). From the user's idea (and photo, when there is one) write a single \
detailed prompt in English: the subject and what happens, the setting, camera framing and movement \
for a vertical frame, lighting and mood, visual style, and the sounds. When there is a photo, the \
video starts from it: keep its subject and composition and describe how it comes to life. Keep it \
under 120 words. Answer with the prompt only, no title, no quotes, no commentary."""
# Models that render sound fail less with an explicit cue: Veo's "unable to generate audio" verdict came in
# about 40 % of image-to-video runs with an "SFX:" line against 80 % without (shared/reference/kie_api.md 13.3).
SOUND_CUE_RULE = (
    ' End the prompt with one more line that starts with "SFX:" and names, in a few words, the two or three'
    " sounds heard in the video."
)
SFX = "SFX:"
DEFAULT_SOUND_CUE = "SFX: natural ambient sound of the scene, soft and clear."


def with_sound_cue(prompt: str) -> str:
    """The prompt with an "SFX:" line, added when the writer left it out (a short, generic cue)."""
    if any(line.strip().upper().startswith(SFX) for line in prompt.splitlines()):
        return prompt
    return f"{prompt.rstrip()}\n{DEFAULT_SOUND_CUE}"


class PromptError(Exception):
    """The prompt could not be written; ``retryable`` when waiting may help; ``account`` when OpenAI
    refused the key or the quota (an operator must act: every prompt falls back until then)."""

    def __init__(self, message: str, *, retryable: bool, account: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.account = account


def fallback_prompt(idea: str, with_photo: bool, sound: bool = False, style: str | None = None) -> str:
    """The user's own words, framed for a vertical video: used when the prompt writer is down. ``style``:
    the chosen preset's prompt addition, which then stands in for our default look."""
    idea = idea.strip()
    if with_photo:
        subject = f"Bring this photo to life: {idea}" if idea else "Bring this photo to life with natural motion"
    else:
        subject = idea
    look = f"Style: {style.strip().rstrip('.')}." if style else "cinematic lighting, smooth camera movement."
    prompt = f"{subject}. Vertical 9:16 video, {look}"
    return with_sound_cue(prompt) if sound else prompt


def style_rule(style: str) -> str:
    """The instruction that makes the chosen preset's prompt addition guide the whole prompt."""
    return f" The user chose a visual style: follow it in every part of the prompt. Style: {style.strip()}"


def openai_client(settings: OpenAISettings, *, timeout: float | None = None, retries: int = 1) -> openai.AsyncOpenAI:
    """A client as the OPENAI_* variables describe it; ``timeout`` shortens the wait."""
    import openai  # see OpenAIClient

    return openai.AsyncOpenAI(
        api_key=settings.api_key.get_secret_value(),
        base_url=settings.base_url,  # None: the SDK's default (it reads no environment here)
        timeout=timeout or settings.timeout,
        max_retries=retries,
    )


class OpenAIClient:
    """The SDK's client, made at the first request: importing the openai package costs about 20 MB of
    RSS and 500 modules (a pydantic model per API type), which an idle process never needs."""

    def __init__(self, settings: OpenAISettings) -> None:
        self._settings = settings
        self._client: openai.AsyncOpenAI | None = None

    def __call__(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = openai_client(self._settings)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class Prompter:
    def __init__(self, client: Callable[[], openai.AsyncOpenAI], model: str) -> None:
        self._client = client  # made at the first prompt (OpenAIClient)
        self._model = model

    async def write(
        self,
        idea: str,
        photo: bytes | None = None,
        mime: str = "image/jpeg",
        *,
        sound: bool = False,
        style: str | None = None,
    ) -> str:
        """The video prompt; ``sound``: the model renders sound, so the prompt ends with an "SFX:" cue;
        ``style``: the chosen preset's prompt addition (PRESETS), which the instructions carry."""
        system = SYSTEM_PROMPT + SOUND_CUE_RULE if sound else SYSTEM_PROMPT
        if style:
            system += style_rule(style)
        content: list[ChatCompletionContentPartParam] = [
            {"type": "text", "text": f"Idea: {idea.strip() or '(no words, only the photo)'}"}
        ]
        if photo is not None:
            # The photo travels as data, never as a Telegram file URL (that URL holds the bot token).
            data_url = f"data:{mime};base64,{base64.b64encode(photo).decode()}"
            content.append({"type": "image_url", "image_url": {"url": data_url}})
        import openai  # loaded with the client (OpenAIClient)

        try:
            completion = await self._client().chat.completions.create(
                model=self._model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": content}],
                max_completion_tokens=400,
            )
        except openai.OpenAIError as error:
            metrics.openai_error(getattr(error, "status_code", None) or type(error).__name__)
            raise prompt_error(error) from error
        choices = completion.choices or []
        prompt = (choices[0].message.content or "").strip() if choices else ""
        if not prompt:
            raise PromptError("OpenAI answered with an empty prompt", retryable=True)
        return with_sound_cue(prompt) if sound else prompt


def prompt_error(error: openai.OpenAIError) -> PromptError:
    """What a failed request means for the prompt: worth retrying or not."""
    import openai  # loaded with the client (OpenAIClient)

    match error:
        case openai.AuthenticationError() | openai.PermissionDeniedError():
            return PromptError(f"OpenAI {error.status_code}: {error.message}", retryable=False, account=True)
        case openai.RateLimitError() if error.code == "insufficient_quota":
            # A 429 that waiting does not cure: the project is out of quota (billing).
            return PromptError(f"OpenAI {error.status_code}: {error.message}", retryable=False, account=True)
        case openai.APIConnectionError() | openai.RateLimitError() | openai.InternalServerError():
            return PromptError(f"{type(error).__name__}: {error}", retryable=True)
        case openai.APIStatusError():
            return PromptError(f"OpenAI {error.status_code}: {error.message}", retryable=False)
        case _:
            return PromptError(f"{type(error).__name__}: {error}", retryable=False)
