"""A fake KIE.ai: the video API the bot renders through, speaking KIE's wire format (docs: shared/reference/kie_api.md).

Two local servers stand in for KIE's two hosts: ``base_url`` for the API (``https://api.kie.ai``) and
``upload_base_url`` for uploads (``https://kieai.redpandaai.co``), so a client that mixes them up gets a 404.

Imitated: Veo 3.1 (``/api/v1/veo/generate``, ``/api/v1/veo/record-info``), the Market jobs API
(``/api/v1/jobs/createTask``, ``/api/v1/jobs/recordInfo``; ``kling-3.0/video`` input is validated as KIE does, and
each model with a contract fixture in tests/fixtures/kie/ against it: 422 with KIE's kind of message on a violation),
credits, base64 and stream uploads, completion callbacks (optionally HMAC-signed), and downloads of uploaded
files and of result videos.

KIE's quirks, reproduced on purpose:
- The HTTP status is 200 even for errors; the real status is the body ``code`` (401 bad key, 402 credits,
  422 validation, 404 unknown model, 429 over the create limit, and whatever ``fail_next_create`` scripts).
- Final failures arrive after an accepted create: Veo ``successFlag`` 2 or 3, Market ``state: fail``, and
  asynchronous moderation (errorCode 400), all scripted with ``Outcome``.
- ``paramJson``/``param`` and ``resultJson`` are JSON *strings*; Market ``failCode`` is a string, Veo ``errorCode``
  an int. Veo reports ``successFlag`` 0/1/2, Market a ``state`` string; their callbacks differ in shape.
- ``result_urls_as_string``: Veo ``resultUrls`` arrives as a JSON string (as in KIE's sample code and schema).
- ``originUrls`` is filled only when the aspect ratio is not 16:9.
- Market ``costTime`` is milliseconds in recordInfo but seconds in the callback (as in KIE's examples).
- Uploads answer with their own envelope, which adds ``success``.
- The HMAC signature covers only ``taskId.timestamp``, never the body.
- Every Sora model is refused at create with ``{"code": 500, "msg": "This interface is temporarily paused"}``, as
  KIE has answered since mid-2026 (shared/reference/kie_api.md section 13.1).
- ``Outcome.no_audio()``: Veo's "The Google model was unable to generate audio" verdict (about half of Veo's
  image-to-video runs, section 13.3), a failed record like any other.

Knobs: ``render_seconds`` (simulated render time; ``None`` = only ``finish()`` ends a task), ``script()``
(per-task outcome, optionally finishing after its own render time), ``fail_next_create()``,
``callbacks_enabled`` (lost callbacks), ``hmac_key``, ``result_urls_as_string``, ``video_bytes``,
``video_size`` and ``video_duration_s`` (result videos are real minimal MP4s, tests/fakes/mp4.py),
``credits`` and ``costs``, ``key_invalid``, ``outage()``/``recover()``, ``enforce_create_limit``.

Credits: a create answers 402 unless the balance covers the model's cost on top of what the tasks still
generating will cost; a task's cost is taken when it succeeds (failed tasks cost nothing, as the Market
callback's ``consumeCredits: 0`` shows). A finished task's record tells its cost as KIE's do (Veo
``creditsConsumed``, Market ``creditsConsumed`` in recordInfo, ``consumeCredits`` in the callback);
``report_costs = False`` leaves the records without it (the bot then falls back on its price table).

Outages: while ``outage(mode)`` lasts, every ``/api/`` call on either host is refused (and recorded in
``refused``): ``"http5xx"`` answers HTTP 502/503 with an HTML page, as a proxy in front of a dead service
does; ``"envelope"`` answers HTTP 200 with body code 500 or 455; ``"hang"`` accepts the request and answers
nothing until ``recover()`` (then HTTP 504, with no side effect) or until the client gives up.

Deviation from the real service: ``/files/...`` and ``/videos/...`` need no API key, since KIE's file and result
hosts are public and the bot must never send its key to them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import mimetypes
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from tests.fakes import mp4

VEO_MODELS = frozenset({"veo3", "veo3_fast", "veo3_lite"})
VEO_ASPECT_RATIOS = frozenset({"16:9", "9:16", "Auto"})
MARKET_PREFIXES = ("kling-", "sora-", "wan/", "hailuo/", "bytedance/", "veo-")
KLING3 = "kling-3.0/video"
KLING3_ASPECT_RATIOS = frozenset({"9:16", "16:9", "1:1"})
KLING3_MODES = frozenset({"std", "pro"})
KLING3_DURATIONS = frozenset(str(seconds) for seconds in range(3, 16))
KLING3_PROMPT_LIMIT = 2500
NO_ACCESS = "You do not have access permissions"
INSUFFICIENT = "Insufficient credits"
TOO_MANY = "Too many requests"
MODERATED = "Your prompt or image was flagged by content moderation. Please adjust it and try again."
PAUSED = "This interface is temporarily paused"
UPSTREAM_FAILED = "Video generation failed upstream. Please try again later."
NO_AUDIO = "The Google model was unable to generate audio. Please try again with a different prompt or image."
CONTRACTS = Path(__file__).parent.parent / "fixtures" / "kie"
CHUNK = 64 * 1024
CALLBACK_TIMEOUT = aiohttp.ClientTimeout(total=15)  # KIE's documented callback timeout
MARKET_CREDITS_PER_TASK = 100  # the cost of any Market model not in COSTS
# Rough per-task prices in credits (shared/reference/kie_api.md section 9); a test may change FakeKie.costs.
COSTS = {"veo3_fast": 60, "veo3": 250, "veo3_lite": 30, KLING3: 120}
CREATE_LIMIT = 20  # creates accepted per CREATE_WINDOW seconds, per account (KIE's documented limit)
CREATE_WINDOW = 10.0
OutageMode = Literal["http5xx", "envelope", "hang"]
OUTAGE_MODES: tuple[OutageMode, ...] = ("http5xx", "envelope", "hang")


@dataclass(frozen=True)
class Outcome:
    """How a task ends: ``success()``, ``failure(code, message)``, ``upstream_failure()``, ``moderated()`` or
    ``never()`` (generating forever). ``after`` gives the task its own render time in seconds, overriding
    ``FakeKie.render_seconds`` (even ``None``): one task that finishes late."""

    kind: Literal["success", "failure", "never"]
    code: int = 200
    message: str = ""
    after: float | None = None
    veo_flag: int = 2  # Veo's successFlag once failed: 2, or 3 "created but upstream generation failed"

    @classmethod
    def success(cls, *, after: float | None = None) -> Outcome:
        return cls("success", after=after)

    @classmethod
    def failure(cls, code: int, message: str, *, after: float | None = None) -> Outcome:
        return cls("failure", code, message, after=after)

    @classmethod
    def upstream_failure(
        cls, code: int = 500, message: str = UPSTREAM_FAILED, *, after: float | None = None
    ) -> Outcome:
        """Veo ``successFlag`` 3 (Market: ``state: fail``): accepted, then the generation failed upstream."""
        return cls("failure", code, message, after=after, veo_flag=3)

    @classmethod
    def moderated(cls, message: str = MODERATED, *, after: float | None = None) -> Outcome:
        """Asynchronous moderation: the create succeeds, the record later fails with errorCode 400."""
        return cls("failure", 400, message, after=after)

    @classmethod
    def no_audio(cls, *, after: float | None = None) -> Outcome:
        """Veo's audio verdict: the record fails (successFlag 2) with errorCode 501 and this message. The
        code is our guess (a generation failure); the message is the one users and MCP's runs report."""
        return cls("failure", 501, NO_AUDIO, after=after)

    @classmethod
    def never(cls) -> Outcome:
        return cls("never")


@dataclass(frozen=True)
class KieCall:
    """One request the fake received, on either host. ``at`` is ``time.time()``."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float


@dataclass
class FakeTask:
    task_id: str
    family: Literal["veo", "market"]
    model: str
    body: dict[str, Any]  # the create request as sent
    outcome: Outcome
    created_at: float  # epoch seconds
    cost: int  # credits taken when it succeeds
    state: Literal["generating", "success", "fail"] = "generating"
    finished: float | None = None  # epoch seconds when it became terminal

    @property
    def callback_url(self) -> str | None:
        return self.body.get("callBackUrl") or None

    @property
    def terminal(self) -> bool:
        return self.state != "generating"


def webhook_signature(key: str, task_id: str, timestamp: int) -> str:
    """KIE's ``X-Webhook-Signature``: base64(HMAC-SHA256(key, "<taskId>.<timestamp>"))."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _reply(code: int, msg: str, data: Any = None, *, upload: bool = False, status: int = 200) -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg, "data": data}
    if upload:
        body = {"success": code == 200, **body}
    return web.json_response(body, status=status)


def _outage_page(status: int) -> web.Response:
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[status]
    title = f"{status} {reason}"
    page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
    return web.Response(status=status, text=page, content_type="text/html")


def kling3_problem(params: dict[str, Any]) -> str | None:
    """What is wrong with a ``kling-3.0/video`` input, in the 422 message KIE would send, or None."""
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    if len(prompt) > KLING3_PROMPT_LIMIT:
        return f"prompt must be at most {KLING3_PROMPT_LIMIT} characters"
    images = params.get("image_urls")
    if images is not None and (
        not isinstance(images, list) or not 1 <= len(images) <= 2 or not all(isinstance(u, str) and u for u in images)
    ):
        return "image_urls must be a list of 1 or 2 image URLs"
    ratio = params.get("aspect_ratio")
    if ratio is None and not images:
        return "aspect_ratio is required when no image_urls are given"
    if ratio is not None and ratio not in KLING3_ASPECT_RATIOS:
        return "aspect_ratio must be one of 9:16, 16:9, 1:1"
    if params.get("mode", "std") not in KLING3_MODES:
        return "mode must be std or pro"
    if params.get("duration", "5") not in KLING3_DURATIONS:
        return 'duration must be a string from "3" to "15"'
    if not isinstance(params.get("sound", False), bool):
        return "sound must be a boolean"
    return None


def load_contracts() -> dict[str, dict[str, Any]]:
    """The request shapes confirmed from KIE's pages (tests/fixtures/kie/*.json), by Market model slug."""
    contracts: dict[str, dict[str, Any]] = {}
    for path in sorted(CONTRACTS.glob("*.json")):
        contract = json.loads(path.read_text())
        contracts |= dict.fromkeys(contract["models"], contract)
    return contracts


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "array": list, "boolean": bool, "object": dict}


def contract_problem(contract: dict[str, Any], params: dict[str, Any]) -> str | None:
    """What is wrong with a Market ``input`` against its contract fixture, as KIE's 422 would say, or None."""
    shape = contract["input"]
    for name in shape["required"]:
        if params.get(name) in (None, "", []):
            return f"{name} is required"
    for name, value in params.items():
        kind = shape["types"].get(name)
        if kind is None:
            return f"{name} is not a known parameter"
        wanted = _JSON_TYPES.get(kind)
        ok = (type(value) is int) if kind == "integer" else isinstance(value, wanted or object)
        if not ok:
            return f"{name} must be of type {kind}"
        if name in shape.get("enums", {}) and value not in shape["enums"][name]:
            return f"{name} must be one of {', '.join(shape['enums'][name])}"
        low_high = shape.get("ranges", {}).get(name)
        if low_high and not low_high[0] <= value <= low_high[1]:
            return f"{name} must be between {low_high[0]} and {low_high[1]}"
        limit = shape.get("max_items", {}).get(name)
        if limit is not None and len(value) > limit:
            return f"{name} takes at most {limit} items"
    if exclusive := shape.get("exclusive"):  # two groups of fields: one or the other, never both
        first, second = exclusive
        if any(params.get(a) for a in first) and any(params.get(b) for b in second):
            return f"{' / '.join(first)} cannot be combined with {' / '.join(second)}"
    for name, needed in shape.get("requires", {}).items():
        if params.get(name) and not params.get(needed):
            return f"{name} needs {needed}"
    return None


class FakeKie:
    def __init__(
        self,
        api_key: str = "kie-test-key",
        *,
        render_seconds: float | None = 0.0,
        video_bytes: int = 256 * 1024,
        video_size: tuple[int, int] = (720, 1280),
        video_duration_s: float = 8.0,
        enforce_create_limit: bool = False,
    ) -> None:
        self.api_key = api_key
        self.render_seconds = render_seconds
        self.video_bytes = video_bytes
        self.video_size = video_size
        self.video_duration_s = video_duration_s
        self.enforce_create_limit = enforce_create_limit
        self.create_limit = CREATE_LIMIT  # with enforce_create_limit: this many creates per create_window seconds
        self.create_window = CREATE_WINDOW
        self.hmac_key: str | None = None
        self.callbacks_enabled = True
        self.result_urls_as_string = False
        self.credits = 10000
        self.costs = dict(COSTS)
        self.report_costs = True
        self.key_invalid = False  # True: every API call answers 401, whatever key it carries
        self.outage_mode: OutageMode | None = None
        self.refused: list[KieCall] = []  # API calls answered by an outage
        self.create_times: list[float] = []  # time.time() of every accepted create, to check a client's pace
        self.rate_limited = 0  # creates answered 429 by enforce_create_limit
        self.base_url = ""
        self.upload_base_url = ""
        self.requests: list[KieCall] = []
        self.tasks: dict[str, FakeTask] = {}
        self.uploads: dict[str, bytes] = {}
        self.callback_log: list[tuple[str, int]] = []
        self._outcomes: deque[Outcome] = deque()
        self._create_failures: deque[tuple[int, str, int]] = deque()
        self._files: dict[str, tuple[bytes, str]] = {}  # "<uploadPath>/<fileName>" -> (bytes, mime type)
        self._renders: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Condition()
        self._runners: list[web.AppRunner] = []
        self._session: aiohttp.ClientSession | None = None
        self._last_ms = 0
        self._recent_creates: deque[float] = deque()  # monotonic times inside the create window
        self._recovered = asyncio.Event()
        self._recovered.set()
        self.lost_answers = 0  # with lose_create_answers(): creates made whose answers the next ones lose
        self.lost_answer_ratio = 0.0  # each accepted create's answer is lost with this probability
        self.answers_lost = 0
        self.hold_answers = False  # True: accepted creates' answers wait for release_create_answers()
        self.held = 0  # create answers being held now
        self._release = asyncio.Event()
        self.paused_models: set[str] = set()  # slug prefixes whose creates answer code 500 "temporarily paused"
        self.paused_refusals = 0
        self.contracts = load_contracts()

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> FakeKie:
        api = web.Application(middlewares=[self._middleware])
        api.router.add_post("/api/v1/veo/generate", self._veo_generate)
        api.router.add_get("/api/v1/veo/record-info", self._veo_record)
        api.router.add_post("/api/v1/jobs/createTask", self._market_create)
        api.router.add_get("/api/v1/jobs/recordInfo", self._market_record)
        api.router.add_get("/api/v1/chat/credit", self._credit)
        api.router.add_get("/videos/{name}", self._video)
        uploads = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024 * 1024)
        uploads.router.add_post("/api/file-base64-upload", self._base64_upload)
        uploads.router.add_post("/api/file-stream-upload", self._stream_upload)
        uploads.router.add_get("/files/{path:.+}", self._file)
        self.base_url = await self._serve(api)
        self.upload_base_url = await self._serve(uploads)
        self._session = aiohttp.ClientSession(timeout=CALLBACK_TIMEOUT)
        return self

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._recovered.set()  # release hung requests, or the runners would wait for them
        pending = list(self._background)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> FakeKie:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- knobs for tests -------------------------------------------------------------------------

    def script(self, outcome: Outcome) -> None:
        """The next created task (either family) gets ``outcome``; unscripted tasks succeed."""
        self._outcomes.append(outcome)

    def outage(self, mode: OutageMode) -> None:
        """From now on every API call on either host is refused as ``mode`` says, until ``recover()``."""
        if mode not in OUTAGE_MODES:
            raise ValueError(f"unknown outage mode {mode!r}")
        self.outage_mode = mode
        self._recovered.clear()

    def recover(self) -> None:
        self.outage_mode = None
        self._recovered.set()

    def fail_next_create(self, code: int, msg: str, *, http_status: int = 200, times: int = 1) -> None:
        """The next ``times`` creates answer ``{"code": code, "msg": msg, "data": null}`` with ``http_status``."""
        self._create_failures.extend([(code, msg, http_status)] * times)

    def pause_model(self, prefix: str) -> None:
        """Creates of models starting with ``prefix`` answer as KIE answers Sora since mid-2026 (kie_api.md §13.1):
        HTTP 200, ``{"code": 500, "msg": "This interface is temporarily paused"}``; other models still work."""
        self.paused_models.add(prefix)

    def _paused_refusal(self, model: str) -> web.Response | None:
        if not any(model.startswith(prefix) for prefix in self.paused_models):
            return None
        self.paused_refusals += 1
        return _reply(500, PAUSED)

    def lose_create_answers(self, times: int = 1) -> None:
        """The next ``times`` accepted creates make their task, then drop the connection without answering
        (the client sees a disconnect: the task exists, billed, and it does not know its id)."""
        self.lost_answers += times

    def release_create_answers(self) -> None:
        """Answer the creates ``hold_answers`` kept waiting (to a client that may be gone)."""
        self.hold_answers = False
        self._release.set()

    async def _answer_create(self, request: web.Request, answer: web.Response) -> web.Response:
        """An accepted create's answer, unless a knob loses it (the task is made either way)."""
        if self.hold_answers:
            self._release.clear()
            self.held += 1
            await self._notify()
            try:
                await self._release.wait()
            finally:
                self.held -= 1
        lose = self.lost_answers > 0 or (
            self.lost_answer_ratio > 0 and secrets.randbelow(10_000) < self.lost_answer_ratio * 10_000
        )
        if lose:
            self.lost_answers = max(0, self.lost_answers - 1)
            self.answers_lost += 1
            if request.transport is not None:
                request.transport.abort()  # a dropped connection: no status line, no body
        return answer

    async def finish(self, task_id: str) -> None:
        """Make the task terminal now, with its outcome, and deliver its callback (awaited)."""
        task = self.tasks[task_id]
        if task.outcome.kind == "never":
            raise ValueError(f"{task_id} is scripted never to finish")
        render = self._renders.pop(task_id, None)
        if task.terminal:
            if render is not None:
                await asyncio.wait([render])  # its callback may still be in flight; let it land
            return
        if render is not None:
            render.cancel()
        await self._complete(task)

    async def send_callback(
        self,
        task_id: str,
        *,
        body: dict[str, Any] | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> int:
        """POST a callback for the task now, even with callbacks disabled; return the bot's HTTP status (0: no answer).

        The default body is the documented one for the task's state; for a task still generating it is the body its
        outcome will produce, i.e. an early callback that record-info contradicts. ``signature``/``timestamp``
        replace the HMAC headers (sent even without ``hmac_key``) to forge or replay them."""
        task = self.tasks[task_id]
        body = self._callback_body(task) if body is None else body
        return await self._post_callback(task, body, signature, timestamp)

    async def wait_for(self, predicate: Callable[[FakeKie], object], timeout: float = 10.0) -> object:
        """Wait until ``predicate(self)`` is truthy, re-checked on every request and task change; return its value."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                return await self._changed.wait_for(lambda: predicate(self))
        except TimeoutError:
            raise AssertionError(f"FakeKie: condition not met within {timeout}s\n{self.describe()}") from None

    def describe(self) -> str:
        """Recent requests, tasks and callbacks, for failure messages."""
        lines = ["recent requests:"]
        for call in self.requests[-15:]:
            query = f"?{urlencode(call.query)}" if call.query else ""
            body = f" {_compact(call.json)[:200]}" if call.json is not None else ""
            lines.append(f"  {call.method} {call.path}{query}{body}")
        lines.append("tasks: " + (", ".join(f"{t.task_id}={t.state}" for t in self.tasks.values()) or "none"))
        lines.append(f"callbacks: {self.callback_log}")
        return "\n".join(lines)

    # --- plumbing --------------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = None
        if request.content_type == "application/json" and request.can_read_body:
            try:
                body = await request.json()  # aiohttp caches the body, so handlers can read it again
            except ValueError:
                body = None
        self.requests.append(
            KieCall(request.method, request.path, dict(request.query), body, dict(request.headers), time.time())
        )
        await self._notify()
        try:
            if not request.path.startswith("/api/"):
                return await handler(request)  # result and upload downloads are public on the real hosts
            if self.outage_mode is not None:
                return await self._refuse(
                    self.requests[-1], self.outage_mode, upload=request.path.startswith("/api/file-")
                )
            if self.key_invalid or request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _reply(401, NO_ACCESS, upload=request.path.startswith("/api/file-"))
            return await handler(request)
        finally:
            await self._notify()  # the handler may have created a task

    async def _refuse(self, call: KieCall, mode: OutageMode, *, upload: bool) -> web.Response:
        self.refused.append(call)
        turn = len(self.refused) % 2  # alternate the two answers each mode has
        if mode == "http5xx":
            return _outage_page((502, 503)[turn])
        if mode == "envelope":
            code, msg = ((500, "Server Error"), (455, "Service unavailable"))[turn]
            return _reply(code, msg, upload=upload)
        await self._recovered.wait()
        return _outage_page(504)  # the proxy gave up on it: nothing behind it happened

    def _create_refusal(self, model: str) -> web.Response | None:
        """A create's answer when the create limit or the balance refuses it, else None (and the create counts)."""
        if self.enforce_create_limit:
            now = time.monotonic()
            while self._recent_creates and self._recent_creates[0] <= now - self.create_window:
                self._recent_creates.popleft()
            if len(self._recent_creates) >= self.create_limit:
                self.rate_limited += 1
                return _reply(429, TOO_MANY)
        held = sum(task.cost for task in self.tasks.values() if not task.terminal)
        if self.credits - held < self.cost(model):
            return _reply(402, INSUFFICIENT)
        self._recent_creates.append(time.monotonic())
        self.create_times.append(time.time())
        return None

    def cost(self, model: str) -> int:
        return self.costs.get(model, MARKET_CREDITS_PER_TASK)

    @staticmethod
    async def _json_object(request: web.Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _take_create_failure(self) -> web.Response | None:
        if not self._create_failures:
            return None
        code, msg, status = self._create_failures.popleft()
        return _reply(code, msg, status=status)

    def _create_task(self, task_id: str, family: Literal["veo", "market"], model: str, body: dict[str, Any]) -> None:
        outcome = self._outcomes.popleft() if self._outcomes else Outcome.success()
        task = FakeTask(task_id, family, model, body, outcome, time.time(), self.cost(model))
        self.tasks[task_id] = task
        seconds = self.render_seconds if outcome.after is None else outcome.after
        if seconds is not None and outcome.kind != "never":
            self._renders[task_id] = self._spawn(self._render(task, seconds))

    async def _render(self, task: FakeTask, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the simulated render time
        await self._complete(task)

    async def _complete(self, task: FakeTask) -> None:
        # Terminal before the callback goes out, so a bot that re-checks record-info on the callback sees it.
        task.state = "success" if task.outcome.kind == "success" else "fail"
        task.finished = time.time()
        if task.state == "success":
            self.credits -= task.cost
        await self._notify()
        if self.callbacks_enabled and task.callback_url:
            await self._post_callback(task, self._callback_body(task), None, None)

    async def _post_callback(
        self, task: FakeTask, body: dict[str, Any], signature: str | None, timestamp: int | None
    ) -> int:
        url = task.callback_url
        if url is None:
            raise ValueError(f"{task.task_id} has no callBackUrl")
        assert self._session is not None, "FakeKie.start() was not awaited"
        headers: dict[str, str] = {}
        if self.hmac_key is not None or signature is not None or timestamp is not None:
            stamp = int(time.time()) if timestamp is None else timestamp
            headers["X-Webhook-Timestamp"] = str(stamp)
            if signature is None and self.hmac_key is not None:
                signature = webhook_signature(self.hmac_key, task.task_id, stamp)
            if signature is not None:
                headers["X-Webhook-Signature"] = signature
        try:
            async with self._session.post(url, json=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            status = 0  # unreachable or too slow: KIE just logs it
        self.callback_log.append((url, status))
        await self._notify()
        return status

    # --- wire format -----------------------------------------------------------------------------

    def _video_url(self, task: FakeTask, suffix: str = "") -> str:
        return f"{self.base_url}/videos/{task.task_id}{suffix}.mp4"

    def _veo_result(self, task: FakeTask) -> dict[str, Any]:
        urls: list[str] | str = [self._video_url(task)]
        if self.result_urls_as_string:
            urls = _compact(urls)
        vertical = task.body.get("aspect_ratio", "16:9") != "16:9"
        return {
            "taskId": task.task_id,
            "resultUrls": urls,
            "originUrls": [self._video_url(task, "-origin")] if vertical else [],
            "resolution": task.body.get("resolution") or "720p",
        }

    def _veo_data(self, task: FakeTask) -> dict[str, Any]:
        failed = task.state == "fail"
        return {
            "taskId": task.task_id,
            "paramJson": _compact(task.body),
            "createTime": _ms(task.created_at),
            "completeTime": _ms(task.finished) if task.finished else None,
            "successFlag": {"generating": 0, "success": 1, "fail": task.outcome.veo_flag}[task.state],
            "response": self._veo_result(task) if task.state == "success" else None,
            "errorCode": task.outcome.code if failed else None,
            "errorMessage": task.outcome.message if failed else None,
            "fallbackFlag": False,
        } | self._consumed(task, "creditsConsumed")

    def _consumed(self, task: FakeTask, key: str) -> dict[str, Any]:
        """A finished task's cost as its record tells it (failed tasks cost nothing)."""
        if not self.report_costs or not task.terminal:
            return {}
        return {key: task.cost if task.state == "success" else 0}

    def _market_data(self, task: FakeTask, state: str) -> dict[str, Any]:
        finished = task.finished or time.time()
        terminal = state in ("success", "fail")
        result = {"resultUrls": [self._video_url(task)]}
        return {
            "taskId": task.task_id,
            "model": task.model,
            "state": state,
            "param": _compact(task.body),
            "resultJson": _compact(result) if state == "success" else "",
            "failCode": str(task.outcome.code) if state == "fail" else "",
            "failMsg": task.outcome.message if state == "fail" else "",
            "costTime": _ms(finished - task.created_at) if terminal else 0,
            "completeTime": _ms(finished) if terminal else None,
            "createTime": _ms(task.created_at),
            "updateTime": _ms(finished if terminal else task.created_at),
        }

    def _callback_body(self, task: FakeTask) -> dict[str, Any]:
        success = task.state == "success" if task.terminal else task.outcome.kind != "failure"
        if task.family == "veo":
            if success:
                info = self._veo_result(task)
                del info["taskId"]
                data = {"taskId": task.task_id, "info": info, "promptJson": task.body, "fallbackFlag": False}
                return {"code": 200, "msg": "Veo3.1 video generated successfully.", "data": data}
            return {
                "code": task.outcome.code,
                "msg": task.outcome.message,
                "data": {"taskId": task.task_id, "fallbackFlag": False},
            }
        data = self._market_data(task, "success" if success else "fail")
        consumed = task.cost if success else 0
        data |= {
            "consumeCredits": consumed,
            # A terminal task's cost is already taken; an early (forged) callback announces it.
            "remainedCredits": self.credits if task.terminal else self.credits - consumed,
            "costTime": round(data["costTime"] / 1000),  # seconds here, milliseconds in recordInfo
        }
        if success:
            del data["failCode"], data["failMsg"]
            return {"code": 200, "msg": "Playground task completed successfully.", "data": data}
        return {"code": 501, "msg": "Playground task failed.", "data": data}

    # --- API host --------------------------------------------------------------------------------

    async def _veo_generate(self, request: web.Request) -> web.Response:
        if failure := self._take_create_failure():
            return failure
        body = await self._json_object(request)
        if body is None:
            return _reply(422, "request body must be a JSON object")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _reply(422, "prompt is required")
        model = body.get("model", "veo3_fast")
        if model not in VEO_MODELS:
            return _reply(422, f"model {model!r} is not supported")
        if body.get("aspect_ratio", "16:9") not in VEO_ASPECT_RATIOS:
            return _reply(422, "aspect_ratio must be one of 16:9, 9:16, Auto")
        images = body.get("imageUrls", [])
        if not isinstance(images, list) or not all(isinstance(url, str) for url in images):
            return _reply(422, "imageUrls must be a list of URLs")
        if paused := self._paused_refusal(model):
            return paused
        if refusal := self._create_refusal(model):
            return refusal
        task_id = f"veo_task_{secrets.token_hex(6)}"
        self._create_task(task_id, "veo", model, body)
        return await self._answer_create(request, _reply(200, "success", {"taskId": task_id}))

    async def _veo_record(self, request: web.Request) -> web.Response:
        task = self.tasks.get(request.query.get("taskId", ""))
        if task is None or task.family != "veo":
            return _reply(422, "record is null")
        return _reply(200, "success", self._veo_data(task))

    async def _market_create(self, request: web.Request) -> web.Response:
        if failure := self._take_create_failure():
            return failure
        body = await self._json_object(request)
        if body is None:
            return _reply(422, "request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _reply(422, "model is required")
        if not model.startswith(MARKET_PREFIXES):
            return _reply(404, "model not found")
        if model.startswith("sora-"):
            return _reply(500, PAUSED)
        params = body.get("input")
        if not isinstance(params, dict):
            return _reply(422, "input is required")
        problem = kling3_problem(params) if model == KLING3 else None
        if model in self.contracts:
            problem = contract_problem(self.contracts[model], params)
        prompt = params.get("prompt")
        if problem is None and (not isinstance(prompt, str) or not prompt.strip()):
            problem = "prompt is required"
        if problem is not None:
            return _reply(422, problem)
        if paused := self._paused_refusal(model):
            return paused
        if refusal := self._create_refusal(model):
            return refusal
        self._last_ms = max(_ms(time.time()), self._last_ms + 1)  # ids embed the ms; keep them unique
        task_id = f"task_{model.replace('/', '_')}_{self._last_ms}"
        self._create_task(task_id, "market", model, body)
        return await self._answer_create(
            request, _reply(200, "success", {"taskId": task_id, "recordId": uuid.uuid4().hex})
        )

    async def _market_record(self, request: web.Request) -> web.Response:
        task = self.tasks.get(request.query.get("taskId", ""))
        if task is None or task.family != "market":
            return _reply(422, "recordInfo is null")
        return _reply(200, "success", self._market_data(task, task.state) | self._consumed(task, "creditsConsumed"))

    async def _credit(self, request: web.Request) -> web.Response:
        return _reply(200, "success", self.credits)

    async def _video(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        task = self.tasks.get(name.removesuffix(".mp4").removesuffix("-origin"))
        if not name.endswith(".mp4") or task is None or task.state != "success":
            raise web.HTTPNotFound()
        width, height = self.video_size
        spec = mp4.Mp4Spec(width=width, height=height, duration_s=self.video_duration_s)
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = mp4.file_size(spec, self.video_bytes)
        await response.prepare(request)
        for piece in mp4.chunks(spec, self.video_bytes, CHUNK):
            await response.write(piece)
        await response.write_eof()
        return response

    # --- upload host -----------------------------------------------------------------------------

    async def _base64_upload(self, request: web.Request) -> web.Response:
        body = await self._json_object(request)
        if body is None:
            return _reply(400, "request body must be a JSON object", upload=True)
        encoded = body.get("base64Data")
        if not isinstance(encoded, str) or not encoded:
            return _reply(400, "base64Data is required", upload=True)
        mime = None
        if encoded.startswith("data:"):
            header, _, encoded = encoded.partition(",")
            if not header.endswith(";base64"):
                return _reply(400, "invalid base64", upload=True)
            mime = header.removeprefix("data:").removesuffix(";base64") or None
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            return _reply(400, "invalid base64", upload=True)
        if not data:
            return _reply(400, "invalid base64", upload=True)
        return self._store(data, body.get("uploadPath"), body.get("fileName"), mime)

    async def _stream_upload(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            return _reply(400, "multipart/form-data expected", upload=True)
        fields: dict[str, str] = {}
        data, part_name, mime = None, None, None
        async for part in await request.multipart():
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.name == "file":
                data, part_name = await part.read(), part.filename
                mime = part.headers.get(aiohttp.hdrs.CONTENT_TYPE)
            elif part.name:
                fields[part.name] = await part.text()
        if not data:
            return _reply(400, "file is required", upload=True)
        if mime == "application/octet-stream":
            mime = None  # aiohttp's default for file parts; guess from the name instead
        return self._store(bytes(data), fields.get("uploadPath"), fields.get("fileName") or part_name, mime)

    def _store(self, data: bytes, upload_path: object, file_name: object, mime: str | None) -> web.Response:
        if not isinstance(upload_path, str) or not upload_path.strip("/"):
            return _reply(400, "uploadPath is required", upload=True)
        if upload_path.startswith("/") or upload_path.endswith("/"):
            return _reply(400, "uploadPath must not start or end with '/'", upload=True)
        if file_name is not None and not isinstance(file_name, str):
            return _reply(400, "fileName must be a string", upload=True)
        if not file_name:
            file_name = uuid.uuid4().hex + ((mime and mimetypes.guess_extension(mime)) or ".bin")
        mime = mime or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        path = f"{upload_path}/{file_name}"
        url = f"{self.upload_base_url}/files/{quote(path)}"
        self._files[path] = (data, mime)
        self.uploads[url] = data
        uploaded_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        info = {
            "fileName": file_name,
            "filePath": path,
            "downloadUrl": url,
            "fileSize": len(data),
            "mimeType": mime,
            "uploadedAt": uploaded_at,
        }
        return _reply(200, "File uploaded successfully", info, upload=True)

    async def _file(self, request: web.Request) -> web.Response:
        entry = self._files.get(request.match_info["path"])
        if entry is None:
            raise web.HTTPNotFound()
        data, mime = entry
        return web.Response(body=data, content_type=mime)
