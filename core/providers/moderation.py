"""OpenAI's moderation: an idea, and its photo, checked before a proposal prices them.

One request (``POST /v1/moderations``, ``omni-moderation-latest``, free) carries the text and the
image together. The check guards the operator's accounts, not the user: KIE moderates what it
renders too, so a check that cannot be made (timeout, network, an error answer) lets the proposal
go out, and the caller logs it. It rides the prompt writer's client, with its own short timeout
and no retry: a user is waiting for the proposal."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai
    from openai.types import ModerationMultiModalInputParam

MODEL = "omni-moderation-latest"


class ModerationError(Exception):
    """The check could not be made: OpenAI unreachable, slow or answering an error."""


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool
    categories: tuple[str, ...] = ()  # what it was flagged for, in OpenAI's names (``violence/graphic``)


class Moderator:
    def __init__(self, client: Callable[[], openai.AsyncOpenAI], *, timeout: float) -> None:
        self._shared = client  # the prompt writer's, made at the first request (OpenAIClient)
        self._timeout = timeout
        self._client: openai.AsyncOpenAI | None = None

    async def check(self, idea: str, photo: bytes | None = None, mime: str = "image/jpeg") -> Verdict:
        """Raises ``ModerationError`` when no verdict could be had."""
        inputs: list[ModerationMultiModalInputParam] = []
        if idea.strip():
            inputs.append({"type": "text", "text": idea.strip()})
        if photo is not None:
            # As data, like the prompt writer's: a Telegram file URL holds the bot token.
            data_url = f"data:{mime};base64,{base64.b64encode(photo).decode()}"
            inputs.append({"type": "image_url", "image_url": {"url": data_url}})
        if not inputs:
            return Verdict(flagged=False)
        import openai  # loaded with the client (OpenAIClient)

        if self._client is None:
            self._client = self._shared().with_options(timeout=self._timeout, max_retries=0)
        try:
            answer = await self._client.moderations.create(model=MODEL, input=inputs)
        except openai.OpenAIError as error:
            raise ModerationError(f"{type(error).__name__}: {error}") from error
        flagged = [result for result in answer.results if result.flagged]
        if not flagged:
            return Verdict(flagged=False)
        categories = {
            name for result in flagged for name, on in result.categories.model_dump(by_alias=True).items() if on
        }
        return Verdict(flagged=True, categories=tuple(sorted(categories)))
