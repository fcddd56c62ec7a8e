"""A fake OpenAI-compatible API: ``POST /v1/chat/completions``, ``POST /v1/moderations`` and
``GET /v1/models/{model}`` as the openai SDK calls them.

Knobs: ``fail_next(status, times)`` answers OpenAI's error envelope; ``down = True`` answers 503 to
everything (the SDK retries, then gives up); ``reply`` decides the prompt text. ``requests`` keeps
every body received, so tests can check what the model was shown (the photo as a data URL). ``models``
are the models the key may use; any other answers 404 ``model_not_found`` as OpenAI does.

Moderation has knobs of its own (so a test of the prompt writer's failures is not moved by it):
``flagged`` holds the categories every check flags (empty: clean), ``moderation_down`` answers 503,
``moderation_delay`` seconds pass before each answer, and ``moderations`` keeps their bodies. The
answer is OpenAI's: one result with ``flagged``, ``categories``, ``category_scores`` and
``category_applied_input_types`` for every category.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class OpenAICall:
    path: str
    body: dict[str, Any]
    authorization: str


class FakeOpenAI:
    def __init__(self, api_key: str = "sk-test-openai-key") -> None:
        self.api_key = api_key
        self.requests: list[OpenAICall] = []
        self.down = False
        self._failures: list[tuple[int, str, str | None]] = []
        self.models = {"gpt-4.1-mini", "gpt-4.1"}
        # As a model that follows the system prompt answers: the sound cue on its own line.
        self.reply = "A slow dolly shot of the idea, vertical 9:16, golden hour light.\nSFX: soft wind, distant gulls."
        self.flagged: set[str] = set()
        self.moderation_down = False
        self.moderation_delay = 0.0
        self.moderations: list[OpenAICall] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> FakeOpenAI:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models/{model}", self._model)
        app.router.add_post("/v1/moderations", self._moderations)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def fail_next(
        self, status: int, *, times: int = 1, message: str = "The server had an error", code: str | None = None
    ) -> None:
        """``code``: OpenAI's error code (and type), e.g. ``insufficient_quota`` on a 429 that waiting won't cure."""
        self._failures += [(status, message, code)] * times

    async def _model(self, request: web.Request) -> web.Response:
        self.requests.append(OpenAICall(request.path, {}, request.headers.get("Authorization", "")))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        model = request.match_info["model"]
        if model not in self.models:
            return _error(
                404, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found"
            )
        return web.json_response({"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "system"})

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(OpenAICall(request.path, body, request.headers.get("Authorization", "")))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        if self.down:
            return _error(503, "The engine is currently overloaded, please try again later", "overloaded")
        if self._failures:
            status, message, code = self._failures.pop(0)
            if code is not None:
                return _error(status, message, code, kind=code)
            return _error(status, message, "server_error" if status >= 500 else "rate_limit_exceeded")
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "gpt-test"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.reply, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 30, "total_tokens": 80},
            }
        )

    async def _moderations(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.moderations.append(OpenAICall(request.path, body, request.headers.get("Authorization", "")))
        if self.moderation_delay:
            await asyncio.sleep(self.moderation_delay)  # the service's own latency, not synchronisation
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        if self.moderation_down:
            return _error(503, "The engine is currently overloaded, please try again later", "overloaded")
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        kinds = sorted(
            {"image" if isinstance(item, dict) and item.get("type") == "image_url" else "text" for item in inputs}
        )
        flagged = self.flagged
        return web.json_response(
            {
                "id": f"modr-{len(self.moderations)}",
                "model": body.get("model", "omni-moderation-latest"),
                "results": [
                    {
                        "flagged": bool(flagged),
                        "categories": {name: name in flagged for name in MODERATION_CATEGORIES},
                        "category_scores": {
                            name: 0.93 if name in flagged else 0.0004 for name in MODERATION_CATEGORIES
                        },
                        "category_applied_input_types": {
                            name: [kind for kind in kinds if kind == "text" or name in IMAGE_CATEGORIES]
                            for name in MODERATION_CATEGORIES
                        },
                    }
                ],
            }
        )


MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
# The categories omni-moderation also judges images on; the rest are judged on text only.
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status)
