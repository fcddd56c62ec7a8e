"""KIE.ai, the first video provider: Veo 3.1 and the Market API (Kling 2.6, Kling 3.0, Seedance 2).

Quirks handled here, once:
- the body's ``code`` is the real status, also inside HTTP 200 (429 and 500 arrive that way);
- the message is ``msg`` or ``message``;
- result URLs come as a list, a JSON string of a list, or a bracketed string;
- 9:16 is ``aspect_ratio: "9:16"`` for Veo and Kling but ``"portrait"`` for Sora 2;
- Veo reports ``successFlag`` 0 running, 1 done, 2 and 3 failed (3: "created but upstream generation
  failed"); the Market API ``state`` waiting/queuing/generating/success/fail. Both failures are final
  verdicts: a task that failed is never read again in the hope it recovers;
- content can be refused after the task was accepted (asynchronous moderation): the record then says
  failed with code 400 or 422.

Families: ``veo`` (model id = Veo's model, e.g. veo3_fast), ``kling`` (Market ``<id>/text-to-video`` and
``<id>/image-to-video``, e.g. kling-2.6), ``kling3`` (Market ``kling-3.0/video``; the id's last part is
the mode: kling-3.0-std, kling-3.0-pro), ``seedance`` (Market ``bytedance/<id>``: seedance-2, seedance-2-fast,
seedance-2-mini; shape in tests/fixtures/kie/seedance-2.json), ``sora`` (Market ``<id>-text-to-video``; retired:
KIE answers every Sora model "temporarily paused", so it is in no default, kept only for an operator who insists).
A Market model of a known family is a line of VIDEO_MODELS, no code. The length a user chose (``duration_s``,
for models priced per second) goes into the request; Veo's clip is always 8 s.

Every failure leaves as one of the provider-neutral errors of core/providers/base.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from core.catalogue import VideoModel
from core.providers.base import (
    AccountProblem,
    ContentRefused,
    FinalFailure,
    ModelUnavailable,
    ProviderError,
    Retryable,
    TaskState,
    Unanswered,
    WorthAnotherTry,
)
from core.settings.sections import KieSettings, reveal

VEO_CREATE, VEO_RECORD = "/api/v1/veo/generate", "/api/v1/veo/record-info"
MARKET_CREATE, MARKET_RECORD = "/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo"
CREDIT = "/api/v1/chat/credit"
UPLOAD_BASE64 = "/api/file-base64-upload"
UPLOAD_PATH = "reelsmith/photos"
REPLAY_WINDOW_S = 300  # KIE documents none; a signed callback older than this is refused


class KieError(Exception):
    """A KIE answer that is not a success. ``code`` is KIE's code (0: no answer at all)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"KIE {code}: {message}" if code else f"KIE unreachable: {message}")
        self.code = code
        self.message = message


RETRYABLE = frozenset({0, 408, 429, 455, 500, 502, 503, 504})
ACCOUNT = frozenset({401, 402, 433})
CONTENT = frozenset({400, 422})
FINAL = frozenset({501, 505})  # generation failed, feature disabled: not a passing trouble
# Veo's verdict on about half its image-to-video runs; a new task with the same input often succeeds (13.3).
NO_AUDIO = "unable to generate audio"
MAINTENANCE_WAIT_S = 30.0  # 455: KIE is under maintenance; minutes, not seconds


def neutral(error: KieError, *, reading: bool = False) -> ProviderError:
    """What a failed call means for us. ``reading``: a record read, where 422 ("record is null") only
    means the task is not visible yet."""
    code, text = error.code, str(error)
    if code in RETRYABLE or (code >= 500 and code not in FINAL) or (reading and code == 422):
        return Retryable(text, retry_after=MAINTENANCE_WAIT_S if code == 455 else None, code=str(code))
    if code in ACCOUNT:
        return AccountProblem(text, code=str(code))
    if code in CONTENT:
        return ContentRefused(text, code=str(code))
    return FinalFailure(text, code=str(code))


def verdict(code: int, message: str | None) -> ProviderError:
    """A task's own final failure (Veo successFlag 2/3, Market state fail): the task is never read again.
    Content refusals (400, 422: asynchronous moderation) ask the user for another idea; "unable to generate
    audio" is worth one new task."""
    text = f"KIE {code}: {message or 'generation failed'}"
    if code in CONTENT:
        return ContentRefused(text, code=str(code))
    if NO_AUDIO in (message or "").lower():
        return WorthAnotherTry(text, code=str(code))
    return FinalFailure(text, code=str(code))


# --- requests and answers, without the network --------------------------------------------------


def create_request(
    model: VideoModel, prompt: str, image_url: str | None, callback_url: str | None, duration_s: int | None = None
) -> tuple[str, dict[str, Any]]:
    """The endpoint and JSON body that start a vertical render of ``prompt`` (and the photo)."""
    if model.family == "veo":
        body: dict[str, Any] = {"prompt": prompt, "model": model.id, "aspect_ratio": "9:16", "enableTranslation": True}
        if image_url:
            body["imageUrls"] = [image_url]
    else:
        slug = market_slug(model, image_url is not None)
        body = {"model": slug, "input": market_input(model, prompt, image_url, duration_s or model.default_duration)}
    if callback_url:
        body["callBackUrl"] = callback_url
    return (VEO_CREATE if model.family == "veo" else MARKET_CREATE), body


def market_slug(model: VideoModel, with_image: bool) -> str:
    mode = "image-to-video" if with_image else "text-to-video"
    match model.family:
        case "kling":
            return f"{model.id}/{mode}"
        case "kling3":
            return f"{model.id.rsplit('-', 1)[0]}/video"
        case "seedance":
            return f"bytedance/{model.id}"
        case _:  # sora
            return f"{model.id}-{mode}"


def market_input(
    model: VideoModel, prompt: str, image_url: str | None, duration_s: int | None = None
) -> dict[str, Any]:
    seconds = duration_s or 5
    match model.family:
        case "kling":
            task: dict[str, Any] = {"prompt": prompt[:1000], "sound": True, "duration": str(seconds)}
            if image_url:
                task["image_urls"] = [image_url]  # no aspect field: the (9:16) photo decides the framing
            else:
                task["aspect_ratio"] = "9:16"
        case "kling3":
            mode = model.id.rsplit("-", 1)[-1]
            task = {"prompt": prompt[:2500], "mode": mode if mode in ("std", "pro") else "std", "sound": True}
            task |= {"duration": str(seconds), "aspect_ratio": "9:16"}
            if image_url:
                task["image_urls"] = [image_url]
        case "seedance":
            # The photo is the first frame (never also a reference: KIE takes one or the other).
            task = {"prompt": prompt, "aspect_ratio": "9:16", "resolution": "720p", "duration": seconds}
            task["generate_audio"] = True
            if image_url:
                task["first_frame_url"] = image_url
        case _:  # sora
            task = {"prompt": prompt[:10000], "aspect_ratio": "portrait", "n_frames": "10", "remove_watermark": True}
            if image_url:
                task |= {"image_urls": [image_url], "upload_method": "s3"}
    return task


def parse_result_urls(value: object) -> list[str]:
    """Result URLs as a list, whether KIE sent a list, a JSON string of one, or '[a, b]'."""
    if isinstance(value, list):
        return [str(url) for url in value if url]
    if not isinstance(value, str) or not value.strip():
        return []
    text = value.strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = [part.strip(" '\"") for part in text.strip("[]").split(",")]
    if isinstance(decoded, dict):
        decoded = decoded.get("resultUrls", [])
    return parse_result_urls(decoded) if isinstance(decoded, list) else [str(decoded)]


def parse_veo_record(data: dict[str, Any]) -> TaskState:
    flag = data.get("successFlag")
    if flag == 1:
        response = data.get("response") or {}
        urls = parse_result_urls(response.get("resultUrls")) or parse_result_urls(data.get("resultUrls"))
        if urls:
            return TaskState(finished=True, video_url=urls[0], cost=reported_cost(data))
        return TaskState(finished=True, failure=FinalFailure("KIE: finished without a video"))
    if flag in (2, 3):
        return TaskState(finished=True, failure=verdict(_code(data.get("errorCode"), 501), data.get("errorMessage")))
    return TaskState(finished=False)


def parse_market_record(data: dict[str, Any]) -> TaskState:
    state = data.get("state")
    if state == "success":
        urls = parse_result_urls(data.get("resultJson"))
        if urls:
            return TaskState(finished=True, video_url=urls[0], cost=reported_cost(data))
        return TaskState(finished=True, failure=FinalFailure("KIE: finished without a video"))
    if state == "fail":
        return TaskState(finished=True, failure=verdict(_code(data.get("failCode"), 501), data.get("failMsg")))
    return TaskState(finished=False)


def reported_cost(data: dict[str, Any]) -> float | None:
    """KIE's own figure for a task's cost, in credits: ``creditsConsumed`` (Veo records) or
    ``consumeCredits`` (Market callbacks, some records); None when the record gives none."""
    for key in ("creditsConsumed", "consumeCredits"):
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def _code(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def unwrap(status: int, body: object) -> Any:
    """The ``data`` of a KIE answer, or the KieError it really is (whatever the HTTP status said)."""
    if not isinstance(body, dict):
        raise KieError(status if status >= 400 else 502, "answer is not a JSON object")
    code = _code(body.get("code"), status)
    if code != 200 or body.get("success") is False:
        raise KieError(code if code != 200 else 500, str(body.get("msg") or body.get("message") or "no message"))
    return body.get("data")


def signature(key: str, task_id: str, timestamp: int) -> str:
    """KIE's X-Webhook-Signature: base64(HMAC-SHA256(key, "<taskId>.<timestamp>")); the body is not signed."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_valid(key: str, task_id: str, timestamp: str | None, given: str | None, now: float) -> bool:
    if not (task_id and timestamp and given and timestamp.isdigit()):
        return False
    if abs(now - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    return hmac.compare_digest(signature(key, task_id, int(timestamp)), given)


# KIE's words when one model is refused while the others work (kie_api.md §13.6): Sora's code 500
# "This interface is temporarily paused", a slug it no longer serves. The code alone would read as an
# outage (500) or a bad request (404, 422).
MODEL_GONE = ("temporarily paused", "not supported", "unknown model", "model not found", "model does not exist")


def model_gone(error: KieError) -> bool:
    """Whether a create's refusal says the model is unavailable (rather than KIE, or this prompt)."""
    return error.code != 0 and any(words in error.message.lower() for words in MODEL_GONE)


def create_timeout(timeout_s: float, shutdown_grace_s: float | None) -> float:
    """KIE_TIMEOUT, but at most 80 % of SHUTDOWN_GRACE: the drain then always outlasts a create in flight,
    with time left to save its task id."""
    return min(timeout_s, shutdown_grace_s * 0.8) if shutdown_grace_s else timeout_s


def answer_lost(error: BaseException | None) -> bool:
    """Whether a request that failed in transport may have reached KIE: a timeout or a connection dropped
    mid-answer may follow a create KIE made; a connection never opened (refused, DNS) sent nothing."""
    return isinstance(error, TimeoutError | aiohttp.ClientError) and not isinstance(
        error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError | aiohttp.InvalidURL
    )


# --- the provider ---------------------------------------------------------------------------------


class KieProvider:
    name = "kie"
    families: tuple[str, ...] = ("veo", "kling", "kling3", "seedance", "sora")

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str,
        upload_base_url: str,
        hmac_key: str | None = None,
        creates_per_10s: int = 20,
        min_balance: float = 0,
        timeout_s: float = 30,
        create_timeout_s: float | None = None,
    ) -> None:
        self.create_rate = (creates_per_10s, 10.0)  # KIE refuses more than 20 new tasks per 10 s
        self.min_balance = min_balance
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._base_url = base_url.rstrip("/")
        self._upload_base_url = upload_base_url.rstrip("/")
        self._hmac_key = hmac_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._create_timeout = aiohttp.ClientTimeout(total=min(timeout_s, create_timeout_s or timeout_s))

    @classmethod
    def configured(
        cls,
        settings: KieSettings,
        http: aiohttp.ClientSession,
        *,
        timeout_s: float | None = None,
        shutdown_grace_s: float | None = None,
    ) -> KieProvider:
        """The provider as the KIE_* variables describe it; ``timeout_s`` shortens the wait (preflight).
        A create's own timeout stays under ``shutdown_grace_s`` (SHUTDOWN_GRACE), so the drain awaits a
        create in flight instead of cutting it: KIE may make and bill a task whose answer was cut."""
        return cls(
            http,
            api_key=settings.api_key.get_secret_value(),
            base_url=settings.base_url,
            upload_base_url=settings.upload_base_url,
            hmac_key=reveal(settings.webhook_hmac_key),
            creates_per_10s=settings.creates_per_10s,
            min_balance=settings.min_balance,
            timeout_s=timeout_s or settings.timeout,
            create_timeout_s=create_timeout(settings.timeout, shutdown_grace_s),
        )

    async def upload_image(self, data: bytes, file_name: str, mime: str = "image/jpeg") -> str:
        """Put the image on KIE's file host; the URL KIE renders from (kept 24 h)."""
        encoded = base64.b64encode(data).decode()
        body = {"base64Data": f"data:{mime};base64,{encoded}", "uploadPath": UPLOAD_PATH, "fileName": file_name}
        answer = await self._call("POST", self._upload_base_url + UPLOAD_BASE64, json=body)
        url = (answer or {}).get("downloadUrl") or (answer or {}).get("fileUrl") if isinstance(answer, dict) else None
        if not url:
            raise Retryable("KIE upload answered without a downloadUrl")
        return str(url)

    async def create(
        self,
        model: VideoModel,
        prompt: str,
        image_url: str | None,
        callback_url: str | None,
        duration_s: int | None = None,
    ) -> str:
        path, body = create_request(model, prompt, image_url, callback_url, duration_s)
        answer = await self._create_call(self._base_url + path, body)
        task_id = answer.get("taskId") if isinstance(answer, dict) else None
        if not task_id:
            raise Retryable("KIE create answered without a taskId")
        return str(task_id)

    async def state(self, model: VideoModel, task_id: str) -> TaskState:
        """The task's state, from the record endpoint: the authority, whatever a callback said."""
        path = VEO_RECORD if model.family == "veo" else MARKET_RECORD
        data = await self._call("GET", self._base_url + path, reading=True, params={"taskId": task_id})
        if not isinstance(data, dict):
            raise Retryable("KIE record answered without data")
        return parse_veo_record(data) if model.family == "veo" else parse_market_record(data)

    async def balance(self) -> float:
        data = await self._call("GET", self._base_url + CREDIT)
        try:
            return float(data)
        except (TypeError, ValueError):
            raise Retryable(f"KIE credit answered {data!r}") from None

    def callback_task_id(self, body: object) -> str:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return ""
        return str(data.get("taskId") or data.get("task_id") or "")[:200]

    def callback_authentic(self, task_id: str, headers: Mapping[str, str], now: float) -> bool:
        if not self._hmac_key:
            return True  # unsigned callbacks: the token in the URL and the record re-read protect us
        timestamp, given = headers.get("X-Webhook-Timestamp"), headers.get("X-Webhook-Signature")
        return signature_valid(self._hmac_key, task_id, timestamp, given, now)

    async def _create_call(self, url: str, body: dict[str, Any]) -> Any:
        """The create's POST: an answer lost after the request left is ``Unanswered`` (KIE may have
        made, and will bill, the task); the pipeline then waits for its callback instead of creating again."""
        try:
            return await self._request("POST", url, json=body, timeout=self._create_timeout)
        except KieError as error:
            if error.code == 0 and answer_lost(error.__cause__):
                raise Unanswered(str(error), code="lost") from error
            if model_gone(error):
                raise ModelUnavailable(str(error), code=str(error.code)) from error
            raise neutral(error) from error

    async def _call(self, method: str, url: str, *, reading: bool = False, **kwargs: Any) -> Any:
        try:
            return await self._request(method, url, **kwargs)
        except KieError as error:
            raise neutral(error, reading=reading) from error

    async def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        try:
            async with self._http.request(method, url, headers=self._headers, **kwargs) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    raise KieError(response.status if response.status >= 400 else 502, "answer is not JSON") from None
                return unwrap(response.status, body)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KieError(0, f"{type(error).__name__}: {error}") from error
