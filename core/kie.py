"""KIE.ai: upload a photo, create a render task, read its state. Quirks handled here, once:

- the body's ``code`` is the real status, also inside HTTP 200 (429 and 500 arrive that way);
- the message is ``msg`` or ``message``;
- result URLs come as a list, a JSON string of a list, or a bracketed string;
- 9:16 is ``aspect_ratio: "9:16"`` for Veo and Kling but ``"portrait"`` for Sora 2;
- Veo reports ``successFlag`` 0/1/2/3, the Market API ``state`` waiting/queuing/generating/success/fail.

Errors become one ``KieError`` whose ``kind`` says what the pipeline should do with it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp

from core.catalogue import VideoModel

VEO_CREATE, VEO_RECORD = "/api/v1/veo/generate", "/api/v1/veo/record-info"
MARKET_CREATE, MARKET_RECORD = "/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo"
UPLOAD_BASE64 = "/api/file-base64-upload"
UPLOAD_PATH = "reelsmith/photos"


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"  # rate limit, maintenance, server trouble, network: back off and retry
    ACCOUNT = "account"  # key, credits, sub-key quota: nothing a retry fixes; the operator must act
    CONTENT = "content"  # the prompt or photo was refused: the user should try another idea
    FAILED = "failed"  # anything else: this generation cannot be made


_KINDS = {
    **dict.fromkeys((0, 408, 429, 455, 500, 502, 503, 504), ErrorKind.RETRYABLE),
    **dict.fromkeys((401, 402, 433), ErrorKind.ACCOUNT),
    **dict.fromkeys((400, 422, 451), ErrorKind.CONTENT),
}


class KieError(Exception):
    """A KIE call failed. ``code`` is KIE's code (0: no answer at all)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"KIE {code}: {message}" if code else f"KIE unreachable: {message}")
        self.code = code
        self.message = message

    @property
    def kind(self) -> ErrorKind:
        return _KINDS.get(self.code, ErrorKind.FAILED)


@dataclass(frozen=True, slots=True)
class TaskState:
    finished: bool
    video_url: str | None = None
    error_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.finished and self.video_url is not None

    def failure(self) -> KieError:
        return KieError(self.error_code or 501, self.error or "generation failed")


# --- requests and answers, without the network --------------------------------------------------


def create_request(model: VideoModel, prompt: str, image_url: str | None, callback_url: str | None) -> tuple[str, dict]:
    """The endpoint and JSON body that start a vertical render of ``prompt`` (and the photo)."""
    if model.family == "veo":
        body: dict[str, Any] = {"prompt": prompt, "model": model.id, "aspect_ratio": "9:16", "enableTranslation": True}
        if image_url:
            body["imageUrls"] = [image_url]
        if callback_url:
            body["callBackUrl"] = callback_url
        return VEO_CREATE, body
    mode = "image-to-video" if image_url else "text-to-video"
    if model.family == "kling":
        slug = f"{model.id}/{mode}"
        task_input: dict[str, Any] = {"prompt": prompt[:1000], "sound": True, "duration": "5"}
        if image_url:
            task_input["image_urls"] = [image_url]  # the photo decides the framing
        else:
            task_input["aspect_ratio"] = "9:16"
    else:  # sora
        slug = f"{model.id}-{mode}"
        task_input = {"prompt": prompt[:10000], "aspect_ratio": "portrait", "n_frames": "10", "remove_watermark": True}
        if image_url:
            task_input |= {"image_urls": [image_url], "upload_method": "s3"}
    body = {"model": slug, "input": task_input}
    if callback_url:
        body["callBackUrl"] = callback_url
    return MARKET_CREATE, body


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


def parse_veo_record(data: dict) -> TaskState:
    flag = data.get("successFlag")
    if flag == 1:
        response = data.get("response") or {}
        urls = parse_result_urls(response.get("resultUrls")) or parse_result_urls(data.get("resultUrls"))
        if urls:
            return TaskState(finished=True, video_url=urls[0])
        return TaskState(finished=True, error_code=501, error="finished without a video")
    if flag in (2, 3):
        return TaskState(finished=True, error_code=_code(data.get("errorCode"), 501), error=data.get("errorMessage"))
    return TaskState(finished=False)


def parse_market_record(data: dict) -> TaskState:
    state = data.get("state")
    if state == "success":
        urls = parse_result_urls(data.get("resultJson"))
        if urls:
            return TaskState(finished=True, video_url=urls[0])
        return TaskState(finished=True, error_code=501, error="finished without a video")
    if state == "fail":
        return TaskState(finished=True, error_code=_code(data.get("failCode"), 501), error=data.get("failMsg"))
    return TaskState(finished=False)


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


# --- the client -----------------------------------------------------------------------------------


class KieClient:
    def __init__(
        self, http: aiohttp.ClientSession, *, api_key: str, base_url: str, upload_base_url: str, timeout_s: float = 30
    ) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._base_url = base_url.rstrip("/")
        self._upload_base_url = upload_base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def upload_photo(self, photo: bytes, file_name: str, mime: str = "image/jpeg") -> str:
        """Put the photo on KIE's file host; returns the URL KIE renders from (kept 24 h)."""
        encoded = base64.b64encode(photo).decode()
        body = {"base64Data": f"data:{mime};base64,{encoded}", "uploadPath": UPLOAD_PATH, "fileName": file_name}
        data = await self._call("POST", self._upload_base_url + UPLOAD_BASE64, json=body)
        url = (data or {}).get("downloadUrl") or (data or {}).get("fileUrl")
        if not url:
            raise KieError(502, "upload answered without a downloadUrl")
        return url

    async def create(self, model: VideoModel, prompt: str, image_url: str | None, callback_url: str | None) -> str:
        path, body = create_request(model, prompt, image_url, callback_url)
        data = await self._call("POST", self._base_url + path, json=body)
        task_id = (data or {}).get("taskId")
        if not task_id:
            raise KieError(502, "create answered without a taskId")
        return str(task_id)

    async def state(self, model: VideoModel, task_id: str) -> TaskState:
        """The task's state, from the record endpoint: the authority, whatever a callback said."""
        path = VEO_RECORD if model.family == "veo" else MARKET_RECORD
        data = await self._call("GET", self._base_url + path, params={"taskId": task_id})
        if not isinstance(data, dict):
            raise KieError(502, "record answered without data")
        return parse_veo_record(data) if model.family == "veo" else parse_market_record(data)

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            async with self._http.request(
                method, url, headers=self._headers, timeout=self._timeout, **kwargs
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    raise KieError(response.status if response.status >= 400 else 502, "answer is not JSON") from None
                return unwrap(response.status, body)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KieError(0, f"{type(error).__name__}: {error}") from error
