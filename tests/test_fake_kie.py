"""The fake KIE.ai speaks KIE's documented wire format: checked with plain aiohttp calls, no bot code involved."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from core.pipeline.mp4 import VideoInfo, probe
from tests.fakes.kie import FakeKie, Outcome
from tests.helpers import free_port

VEO_BODY = {"prompt": "a cat surfing at sunset", "model": "veo3_fast", "aspect_ratio": "9:16"}
KLING_BODY = {
    "model": "kling-2.6/text-to-video",
    "input": {"prompt": "a cat surfing", "aspect_ratio": "9:16", "duration": "5", "sound": True},
}
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


class CallbackSink:
    """A stand-in for the bot's webhook: records each callback and answers with ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []
        self.status = 200
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> CallbackSink:
        app = web.Application()
        app.router.add_post("/kie/callback", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/kie/callback"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        return web.json_response({"ok": True}, status=self.status)


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    fake = await FakeKie(render_seconds=None).start()  # tasks end only on finish(): deterministic
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def http(kie: FakeKie) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {kie.api_key}"}) as session:
        yield session


@pytest.fixture
async def sink() -> AsyncIterator[CallbackSink]:
    receiver = await CallbackSink().start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json()


async def create_veo(kie: FakeKie, http: aiohttp.ClientSession, **extra: Any) -> str:
    status, body = await call(http, "POST", f"{kie.base_url}/api/v1/veo/generate", json={**VEO_BODY, **extra})
    assert (status, body["code"], body["msg"]) == (200, 200, "success"), body
    return body["data"]["taskId"]


async def create_market(kie: FakeKie, http: aiohttp.ClientSession, **extra: Any) -> str:
    status, body = await call(http, "POST", f"{kie.base_url}/api/v1/jobs/createTask", json={**KLING_BODY, **extra})
    assert (status, body["code"]) == (200, 200), body
    return body["data"]["taskId"]


async def veo_record(kie: FakeKie, http: aiohttp.ClientSession, task_id: str) -> dict[str, Any]:
    status, body = await call(http, "GET", f"{kie.base_url}/api/v1/veo/record-info", params={"taskId": task_id})
    assert (status, body["code"]) == (200, 200), body
    return body["data"]


async def market_record(kie: FakeKie, http: aiohttp.ClientSession, task_id: str) -> dict[str, Any]:
    status, body = await call(http, "GET", f"{kie.base_url}/api/v1/jobs/recordInfo", params={"taskId": task_id})
    assert (status, body["code"]) == (200, 200), body
    return body["data"]


def expected_signature(key: str, task_id: str, timestamp: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()).decode()


# --- Veo -----------------------------------------------------------------------------------------


async def test_veo_record_info_goes_from_generating_to_success(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    task_id = await create_veo(kie, http)
    assert task_id.startswith("veo_task_") and len(task_id) == len("veo_task_") + 12
    before = await veo_record(kie, http, task_id)
    assert before["successFlag"] == 0
    assert before["response"] is None and before["completeTime"] is None
    assert json.loads(before["paramJson"]) == VEO_BODY  # a JSON string of the create body

    await kie.finish(task_id)
    after = await veo_record(kie, http, task_id)
    assert after["successFlag"] == 1
    assert after["response"]["resultUrls"] == [f"{kie.base_url}/videos/{task_id}.mp4"]
    assert after["response"]["originUrls"]  # filled because 9:16 is not 16:9
    assert after["response"]["resolution"] == "720p"
    assert (after["errorCode"], after["errorMessage"], after["fallbackFlag"]) == (None, None, False)
    assert after["completeTime"] >= after["createTime"]
    created = kie.requests[0]
    assert (created.method, created.path, created.json) == ("POST", "/api/v1/veo/generate", VEO_BODY)
    assert created.headers["Authorization"] == f"Bearer {kie.api_key}"
    assert kie.tasks[task_id].family == "veo" and kie.tasks[task_id].model == "veo3_fast"


async def test_veo_result_urls_can_arrive_as_a_json_string(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.result_urls_as_string = True
    task_id = await create_veo(kie, http, aspect_ratio="16:9")
    await kie.finish(task_id)
    response = (await veo_record(kie, http, task_id))["response"]
    assert isinstance(response["resultUrls"], str)
    assert json.loads(response["resultUrls"]) == [f"{kie.base_url}/videos/{task_id}.mp4"]
    assert response["originUrls"] == []  # 16:9 has no origin video


async def test_veo_scripted_failure_reports_success_flag_2(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    message = "Your request was rejected by Flow(prompt). You may consider using our other fallback channels"
    kie.script(Outcome.failure(422, message))
    failing, fine = await create_veo(kie, http), await create_veo(kie, http)
    await kie.finish(failing)
    await kie.finish(fine)
    record = await veo_record(kie, http, failing)
    assert (record["successFlag"], record["errorCode"], record["errorMessage"]) == (2, 422, message)
    assert record["response"] is None
    assert (await veo_record(kie, http, fine))["successFlag"] == 1  # scripts are consumed one per task


async def test_veo_validation_and_unknown_records(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    url = f"{kie.base_url}/api/v1/veo/generate"
    assert await call(http, "POST", url, json={"prompt": "", "model": "veo3"}) == (
        200,
        {"code": 422, "msg": "prompt is required", "data": None},
    )
    status, body = await call(http, "POST", url, json={"prompt": "x", "aspect_ratio": "portrait"})
    assert (status, body["code"]) == (200, 422)
    status, body = await call(http, "GET", f"{kie.base_url}/api/v1/veo/record-info", params={"taskId": "veo_task_0"})
    assert (status, body) == (200, {"code": 422, "msg": "record is null", "data": None})
    assert kie.tasks == {}


# --- Market --------------------------------------------------------------------------------------


async def test_market_record_info_goes_from_generating_to_success(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "POST", f"{kie.base_url}/api/v1/jobs/createTask", json=KLING_BODY)
    assert (status, body["code"], body["msg"]) == (200, 200, "success")
    task_id = body["data"]["taskId"]
    assert task_id.startswith("task_kling-2.6_text-to-video_") and body["data"]["recordId"]

    before = await market_record(kie, http, task_id)
    assert (before["state"], before["resultJson"], before["failCode"]) == ("generating", "", "")
    assert before["model"] == "kling-2.6/text-to-video"
    assert json.loads(before["param"]) == KLING_BODY

    await kie.finish(task_id)
    after = await market_record(kie, http, task_id)
    assert after["state"] == "success"
    assert isinstance(after["resultJson"], str)
    assert json.loads(after["resultJson"]) == {"resultUrls": [f"{kie.base_url}/videos/{task_id}.mp4"]}
    assert isinstance(after["costTime"], int) and after["completeTime"] >= after["createTime"]


async def test_market_failure_reports_fail_code_as_a_string(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.script(Outcome.failure(500, "Internal server error"))
    task_id = await create_market(kie, http, model="kling-2.6/text-to-video")
    await kie.finish(task_id)
    record = await market_record(kie, http, task_id)
    assert (record["state"], record["failCode"], record["failMsg"]) == ("fail", "500", "Internal server error")
    assert record["resultJson"] == ""


async def test_market_rejects_unknown_models_and_missing_prompts(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    url = f"{kie.base_url}/api/v1/jobs/createTask"
    status, body = await call(http, "POST", url, json={"model": "midjourney/v7", "input": {"prompt": "x"}})
    assert (status, body["code"], body["data"]) == (200, 404, None)
    status, body = await call(http, "POST", url, json={"model": "kling-2.6/text-to-video", "input": {"sound": True}})
    assert (status, body["code"]) == (200, 422)
    status, body = await call(http, "GET", f"{kie.base_url}/api/v1/jobs/recordInfo", params={"taskId": "task_x_1"})
    assert (status, body) == (200, {"code": 422, "msg": "recordInfo is null", "data": None})
    assert kie.tasks == {}


# --- errors, credits -----------------------------------------------------------------------------


async def test_a_bad_key_gets_http_200_with_code_401(kie: FakeKie) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer wrong"}) as wrong:
        status, body = await call(wrong, "POST", f"{kie.base_url}/api/v1/veo/generate", json=VEO_BODY)
        assert (status, body) == (200, {"code": 401, "msg": "You do not have access permissions", "data": None})
        status, body = await call(wrong, "POST", f"{kie.upload_base_url}/api/file-base64-upload", json={})
        assert (status, body["success"], body["code"]) == (200, False, 401)
    async with aiohttp.ClientSession() as anonymous:
        status, body = await call(anonymous, "GET", f"{kie.base_url}/api/v1/chat/credit")
        assert (status, body["code"]) == (200, 401)
    assert kie.tasks == {}
    assert len(kie.requests) == 3  # rejected requests are recorded too


async def test_fail_next_create_answers_the_scripted_code(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.fail_next_create(429, "Rate limited", times=2)
    kie.fail_next_create(455, "Service unavailable", http_status=503)
    veo_url, market_url = f"{kie.base_url}/api/v1/veo/generate", f"{kie.base_url}/api/v1/jobs/createTask"
    assert await call(http, "POST", veo_url, json=VEO_BODY) == (200, {"code": 429, "msg": "Rate limited", "data": None})
    assert (await call(http, "POST", market_url, json=KLING_BODY))[1]["code"] == 429
    status, body = await call(http, "POST", veo_url, json=VEO_BODY)
    assert (status, body["code"]) == (503, 455)
    assert kie.tasks == {}
    assert await create_veo(kie, http) in kie.tasks  # the script is used up


async def test_credit_balance(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    assert await call(http, "GET", f"{kie.base_url}/api/v1/chat/credit") == (
        200,
        {"code": 200, "msg": "success", "data": 10000},
    )


# --- uploads and downloads -----------------------------------------------------------------------


async def test_base64_upload_then_download(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    payload = {
        "base64Data": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
        "uploadPath": "images/tg",
        "fileName": "photo.jpg",
    }
    status, body = await call(http, "POST", f"{kie.upload_base_url}/api/file-base64-upload", json=payload)
    assert (status, body["success"], body["code"], body["msg"]) == (200, True, 200, "File uploaded successfully")
    data = body["data"]
    assert data["downloadUrl"] == f"{kie.upload_base_url}/files/images/tg/photo.jpg"
    assert (data["fileName"], data["filePath"]) == ("photo.jpg", "images/tg/photo.jpg")
    assert (data["fileSize"], data["mimeType"]) == (len(JPEG), "image/jpeg")
    assert data["uploadedAt"]
    assert kie.uploads[data["downloadUrl"]] == JPEG
    async with aiohttp.ClientSession() as anonymous, anonymous.get(data["downloadUrl"]) as response:
        assert response.status == 200
        assert response.content_type == "image/jpeg"
        assert await response.read() == JPEG


async def test_base64_upload_rejects_bad_input(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    url = f"{kie.upload_base_url}/api/file-base64-upload"
    status, body = await call(http, "POST", url, json={"base64Data": "not base64!", "uploadPath": "images"})
    assert (status, body["success"], body["code"], body["msg"]) == (200, False, 400, "invalid base64")
    raw = base64.b64encode(JPEG).decode()
    for path in ("/images", "images/", None):
        status, body = await call(http, "POST", url, json={"base64Data": raw, "uploadPath": path})
        assert (status, body["success"], body["code"]) == (200, False, 400), path
    assert kie.uploads == {}


async def test_stream_upload(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("file", JPEG, filename="frame.png", content_type="image/png")
    form.add_field("uploadPath", "images/tg")
    status, body = await call(http, "POST", f"{kie.upload_base_url}/api/file-stream-upload", data=form)
    assert (status, body["success"], body["code"]) == (200, True, 200)
    assert (body["data"]["fileName"], body["data"]["mimeType"]) == ("frame.png", "image/png")
    async with http.get(body["data"]["downloadUrl"]) as response:
        assert await response.read() == JPEG


async def test_uploads_live_on_their_own_host(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    payload = {"base64Data": base64.b64encode(JPEG).decode(), "uploadPath": "images"}
    async with http.post(f"{kie.base_url}/api/file-base64-upload", json=payload) as response:
        assert response.status == 404
    assert kie.uploads == {}


async def test_video_download_streams_video_bytes() -> None:
    kie = FakeKie(render_seconds=None, video_bytes=200_000)  # not a multiple of the chunk size
    async with kie, aiohttp.ClientSession(headers={"Authorization": f"Bearer {kie.api_key}"}) as session:
        task_id = await create_veo(kie, session)
        async with session.get(f"{kie.base_url}/videos/{task_id}.mp4") as response:
            assert response.status == 404  # no video while generating
        await kie.finish(task_id)
        (url,) = (await veo_record(kie, session, task_id))["response"]["resultUrls"]
        async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as response:  # result hosts are public
            assert response.status == 200
            assert response.content_type == "video/mp4"
            assert response.content_length == 200_000
            video = await response.read()
        assert len(video) == 200_000
        assert video[4:8] == b"ftyp"
        async with session.get(f"{kie.base_url}/videos/task_unknown.mp4") as response:
            assert response.status == 404


# --- callbacks -----------------------------------------------------------------------------------


async def test_veo_success_callback_is_signed(kie: FakeKie, http: aiohttp.ClientSession, sink: CallbackSink) -> None:
    kie.hmac_key = "webhook-secret"
    task_id = await create_veo(kie, http, callBackUrl=sink.url)
    await kie.finish(task_id)

    assert kie.callback_log == [(sink.url, 200)]
    ((headers, body),) = sink.received
    assert body["code"] == 200 and body["msg"] == "Veo3.1 video generated successfully."
    assert body["data"]["taskId"] == task_id and body["data"]["fallbackFlag"] is False
    info = body["data"]["info"]
    assert info["resultUrls"] == [f"{kie.base_url}/videos/{task_id}.mp4"]
    assert info["originUrls"] and info["resolution"] == "720p"
    timestamp = headers["X-Webhook-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    assert hmac.compare_digest(headers["X-Webhook-Signature"], expected_signature("webhook-secret", task_id, timestamp))


async def test_veo_failure_callback(kie: FakeKie, http: aiohttp.ClientSession, sink: CallbackSink) -> None:
    kie.script(Outcome.failure(400, "prompt flagged"))
    task_id = await create_veo(kie, http, callBackUrl=sink.url)
    await kie.finish(task_id)
    ((headers, body),) = sink.received
    assert body == {"code": 400, "msg": "prompt flagged", "data": {"taskId": task_id, "fallbackFlag": False}}
    assert "X-Webhook-Signature" not in headers  # unsigned unless hmac_key is set


async def test_market_callbacks(kie: FakeKie, http: aiohttp.ClientSession, sink: CallbackSink) -> None:
    good = await create_market(kie, http, callBackUrl=sink.url)
    kie.script(Outcome.failure(501, "generation failed"))
    bad = await create_market(kie, http, callBackUrl=sink.url)
    await kie.finish(good)
    await kie.finish(bad)

    (_, success), (_, failure) = sink.received
    assert (success["code"], success["msg"]) == (200, "Playground task completed successfully.")
    data = success["data"]
    assert (data["taskId"], data["model"], data["state"]) == (good, "kling-2.6/text-to-video", "success")
    assert json.loads(data["resultJson"]) == {"resultUrls": [f"{kie.base_url}/videos/{good}.mp4"]}
    assert json.loads(data["param"]) == {**KLING_BODY, "callBackUrl": sink.url}
    assert (data["consumeCredits"], data["remainedCredits"]) == (100, 9900)
    assert {"costTime", "createTime", "completeTime", "updateTime"} <= data.keys()

    assert (failure["code"], failure["msg"]) == (501, "Playground task failed.")
    data = failure["data"]
    assert (data["taskId"], data["state"], data["consumeCredits"]) == (bad, "fail", 0)
    assert (data["failCode"], data["failMsg"]) == ("501", "generation failed")  # failCode is a string


async def test_lost_callbacks_send_nothing(kie: FakeKie, http: aiohttp.ClientSession, sink: CallbackSink) -> None:
    kie.callbacks_enabled = False
    task_id = await create_veo(kie, http, callBackUrl=sink.url)
    await kie.finish(task_id)
    assert (await veo_record(kie, http, task_id))["successFlag"] == 1
    assert sink.received == [] and kie.callback_log == []


async def test_tasks_finish_by_themselves_after_render_seconds(
    kie: FakeKie, http: aiohttp.ClientSession, sink: CallbackSink
) -> None:
    kie.render_seconds = 0.05
    task_id = await create_market(kie, http, callBackUrl=sink.url)
    await kie.wait_for(lambda k: k.callback_log)
    assert kie.tasks[task_id].state == "success"
    assert (await market_record(kie, http, task_id))["state"] == "success"
    assert [body["data"]["taskId"] for _, body in sink.received] == [task_id]


async def test_never_stays_generating(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.render_seconds = 0.0
    kie.script(Outcome.never())
    stuck, done = await create_veo(kie, http), await create_veo(kie, http)
    await kie.wait_for(lambda k: k.tasks[done].terminal)
    assert (await veo_record(kie, http, stuck))["successFlag"] == 0
    with pytest.raises(ValueError, match="never"):
        await kie.finish(stuck)


async def test_send_callback_forges_and_records_the_answer(
    kie: FakeKie, http: aiohttp.ClientSession, sink: CallbackSink
) -> None:
    task_id = await create_veo(kie, http, callBackUrl=sink.url)
    sink.status = 401  # the bot refusing a forged callback
    assert await kie.send_callback(task_id, signature="forged", timestamp=1) == 401
    ((headers, body),) = sink.received
    assert (headers["X-Webhook-Signature"], headers["X-Webhook-Timestamp"]) == ("forged", "1")
    assert body["code"] == 200  # an early success callback while record-info still says generating
    assert (await veo_record(kie, http, task_id))["successFlag"] == 0
    assert kie.callback_log == [(sink.url, 401)]


async def test_unreachable_callback_url_is_logged_as_status_0(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}/kie/callback"  # nothing listens there
    task_id = await create_veo(kie, http, callBackUrl=url)
    await kie.finish(task_id)
    assert kie.callback_log == [(url, 0)]


async def test_wait_for_times_out_with_recent_requests(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    await create_veo(kie, http)
    with pytest.raises(AssertionError, match=r"(?s)recent requests.*POST /api/v1/veo/generate"):
        await kie.wait_for(lambda k: False, timeout=0.05)


# --- result videos are real MP4s -----------------------------------------------------------------


async def download(kie: FakeKie, http: aiohttp.ClientSession, target: Path) -> Path:
    task_id = await create_veo(kie, http)
    await kie.finish(task_id)
    (url,) = (await veo_record(kie, http, task_id))["response"]["resultUrls"]
    async with http.get(url) as response:
        assert response.status == 200
        with target.open("wb") as out:
            async for piece in response.content.iter_chunked(1024 * 1024):
                out.write(piece)
    return target


async def test_videos_carry_their_size_and_duration_in_the_header(
    kie: FakeKie, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    assert probe(await download(kie, http, tmp_path / "default.mp4")) == VideoInfo(720, 1280, 8.0)
    kie.video_size, kie.video_duration_s, kie.video_bytes = (1080, 1920), 5.5, 300_000
    path = await download(kie, http, tmp_path / "custom.mp4")
    assert path.stat().st_size == 300_000
    assert probe(path) == VideoInfo(1080, 1920, 5.5)


async def test_a_200_mb_video_is_streamed_not_built(kie: FakeKie, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    kie.video_bytes = 200 * 1024 * 1024
    tracemalloc.start()
    try:
        path = await download(kie, http, tmp_path / "big.mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size == 200 * 1024 * 1024
    assert probe(path) == VideoInfo(720, 1280, 8.0)
    assert peak < 16 * 1024 * 1024  # server and client together, in this process


# --- outages -------------------------------------------------------------------------------------


async def every_api_call(kie: FakeKie, http: aiohttp.ClientSession) -> list[aiohttp.ClientResponse]:
    """A create, a record read, an upload and a balance read; the responses, bodies already read."""
    upload = {"base64Data": base64.b64encode(JPEG).decode(), "uploadPath": "images"}
    requests = [
        ("POST", f"{kie.base_url}/api/v1/veo/generate", {"json": VEO_BODY}),
        ("GET", f"{kie.base_url}/api/v1/jobs/recordInfo", {"params": {"taskId": "task_x_1"}}),
        ("POST", f"{kie.upload_base_url}/api/file-base64-upload", {"json": upload}),
        ("GET", f"{kie.base_url}/api/v1/chat/credit", {}),
    ]
    responses = []
    for method, url, kwargs in requests:
        async with http.request(method, url, **kwargs) as response:
            await response.read()
            responses.append(response)
    return responses


async def test_http5xx_outage_answers_html_until_recovered(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.outage("http5xx")
    responses = await every_api_call(kie, http)
    assert {r.status for r in responses} == {502, 503}
    assert all(r.content_type == "text/html" for r in responses)
    assert "Bad Gateway" in await responses[1].text() or "Bad Gateway" in await responses[0].text()
    assert [call.path for call in kie.refused] == [
        "/api/v1/veo/generate",
        "/api/v1/jobs/recordInfo",
        "/api/file-base64-upload",
        "/api/v1/chat/credit",
    ]
    assert kie.tasks == {} and kie.uploads == {}
    kie.recover()
    assert await create_veo(kie, http) in kie.tasks
    assert len(kie.refused) == 4


async def test_envelope_outage_answers_http_200_with_500_or_455(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.outage("envelope")
    responses = await every_api_call(kie, http)
    assert {r.status for r in responses} == {200}
    bodies = [await r.json() for r in responses]
    assert {body["code"] for body in bodies} == {500, 455}
    assert bodies[2]["success"] is False  # the upload host's envelope says so too
    assert len(kie.refused) == 4 and kie.tasks == {}


async def test_hang_outage_answers_nothing_until_recovered(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.outage("hang")
    with pytest.raises(TimeoutError):
        await call(http, "GET", f"{kie.base_url}/api/v1/chat/credit", timeout=aiohttp.ClientTimeout(total=0.2))
    pending = asyncio.create_task(call(http, "POST", f"{kie.base_url}/api/v1/veo/generate", json=VEO_BODY))
    await kie.wait_for(lambda k: len(k.refused) == 2)
    assert not pending.done()
    kie.recover()
    with pytest.raises(aiohttp.ContentTypeError):  # the 504 page is HTML
        await pending
    assert kie.tasks == {}  # a hung create never becomes a task
    assert await create_veo(kie, http) in kie.tasks


async def test_a_hung_request_does_not_hold_up_stop() -> None:
    kie = await FakeKie().start()
    kie.outage("hang")
    async with aiohttp.ClientSession() as session:
        pending = asyncio.create_task(session.get(f"{kie.base_url}/api/v1/chat/credit"))
        await kie.wait_for(lambda k: k.refused)
        await kie.stop()
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await pending
    assert kie.outage_mode == "hang"


async def test_unknown_outage_mode_is_refused(kie: FakeKie) -> None:
    with pytest.raises(ValueError, match="outage mode"):
        kie.outage("flaky")  # type: ignore[arg-type]


async def test_an_invalid_key_gets_401_everywhere(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.key_invalid = True
    responses = await every_api_call(kie, http)
    assert [(r.status, (await r.json())["code"]) for r in responses] == [(200, 401)] * 4
    assert kie.tasks == {}


# --- credits -------------------------------------------------------------------------------------


async def test_credits_are_taken_per_task_and_a_create_they_do_not_cover_gets_402(
    kie: FakeKie, http: aiohttp.ClientSession
) -> None:
    kie.credits = 100
    first = await create_veo(kie, http)  # veo3_fast: 60 credits
    url = f"{kie.base_url}/api/v1/veo/generate"
    assert await call(http, "POST", url, json=VEO_BODY) == (
        200,
        {"code": 402, "msg": "Insufficient credits", "data": None},
    )
    kie.script(Outcome.failure(500, "boom"))
    await kie.finish(first)
    assert await call(http, "GET", f"{kie.base_url}/api/v1/chat/credit") == (
        200,
        {"code": 200, "msg": "success", "data": 40},
    )
    assert (await call(http, "POST", url, json=VEO_BODY))[1]["code"] == 402  # 40 left, 60 needed
    kie.credits = 1000
    failing = await create_veo(kie, http)
    await kie.finish(failing)
    assert kie.credits == 1000  # a failed task costs nothing
    kie.costs["kling-2.6/text-to-video"] = 7
    await kie.finish(await create_market(kie, http))
    assert kie.credits == 993
    assert len(kie.create_times) == 3


# --- outcomes ------------------------------------------------------------------------------------


async def test_veo_upstream_failure_reports_success_flag_3(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.script(Outcome.upstream_failure())
    task_id = await create_veo(kie, http)
    await kie.finish(task_id)
    record = await veo_record(kie, http, task_id)
    assert (record["successFlag"], record["errorCode"]) == (3, 500)
    assert record["errorMessage"] and record["response"] is None


async def test_moderation_fails_the_task_after_an_accepted_create(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.script(Outcome.moderated())
    kie.script(Outcome.moderated("flagged: violence"))
    veo, market = await create_veo(kie, http), await create_market(kie, http)
    assert (await veo_record(kie, http, veo))["successFlag"] == 0  # accepted, still generating
    await kie.finish(veo)
    await kie.finish(market)
    record = await veo_record(kie, http, veo)
    assert (record["successFlag"], record["errorCode"]) == (2, 400)
    assert "moderation" in record["errorMessage"]
    record = await market_record(kie, http, market)
    assert (record["state"], record["failCode"], record["failMsg"]) == ("fail", "400", "flagged: violence")


async def test_one_task_can_finish_late(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.script(Outcome.success(after=0.05))
    late, manual = await create_veo(kie, http), await create_veo(kie, http)  # render_seconds=None
    await kie.wait_for(lambda k: k.tasks[late].terminal)
    assert kie.tasks[late].state == "success"
    assert not kie.tasks[manual].terminal
    assert kie.tasks[late].finished is not None and kie.tasks[late].finished - kie.tasks[late].created_at >= 0.05


# --- the create limit ----------------------------------------------------------------------------


async def test_create_limit_answers_429_in_http_200_when_enforced(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.enforce_create_limit = True
    kie.create_window = 0.5
    url = f"{kie.base_url}/api/v1/veo/generate"
    accepted = 0
    while (answer := await call(http, "POST", url, json=VEO_BODY))[1]["code"] == 200:
        accepted += 1
    assert answer == (200, {"code": 429, "msg": "Too many requests", "data": None})
    assert accepted >= 20 and kie.rate_limited == 1  # more only if the first ones already left the window
    while (await call(http, "POST", url, json=VEO_BODY))[1]["code"] == 429:
        await asyncio.sleep(0.02)  # polling the fake's clock
    times = kie.create_times
    assert times[-1] - times[0] >= 0.5 - 0.01  # the 21st in a row waited for the first to leave the window
    assert max(sum(1 for t in times if start <= t < start + 0.5 - 0.01) for start in times) <= 20


async def test_create_limit_is_not_enforced_by_default(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    for _ in range(25):
        await create_veo(kie, http)
    assert kie.rate_limited == 0 and len(kie.create_times) == 25


async def test_create_limit_holds_for_market_creates_too(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.enforce_create_limit = True
    for _ in range(20):
        await create_market(kie, http)
    status, body = await call(http, "POST", f"{kie.base_url}/api/v1/jobs/createTask", json=KLING_BODY)
    assert (status, body["code"], body["msg"]) == (200, 429, "Too many requests")
    assert len(kie.create_times) == 20 and len(kie.tasks) == 20


# --- Kling 3.0 -----------------------------------------------------------------------------------

KLING3_BODY = {"model": "kling-3.0/video", "input": {"prompt": "a cat surfing", "mode": "pro", "aspect_ratio": "9:16"}}


@pytest.mark.parametrize(
    "params",
    [
        {"prompt": "a cat", "aspect_ratio": "9:16"},
        {"prompt": "a cat", "mode": "std", "aspect_ratio": "1:1", "duration": "15", "sound": True},
        {"prompt": "a cat", "mode": "pro", "duration": "3", "image_urls": ["https://x/a.jpg"]},  # ratio optional
        {"prompt": "a cat", "aspect_ratio": "16:9", "image_urls": ["https://x/a.jpg", "https://x/b.jpg"]},
    ],
)
async def test_kling3_accepts_valid_input(kie: FakeKie, http: aiohttp.ClientSession, params: dict[str, Any]) -> None:
    task_id = await create_market(kie, http, model="kling-3.0/video", input=params)
    assert task_id.startswith("task_kling-3.0_video_")
    assert kie.tasks[task_id].cost == 120


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"aspect_ratio": "9:16"}, "prompt is required"),
        ({"prompt": "x" * 2501, "aspect_ratio": "9:16"}, "at most 2500"),
        ({"prompt": "a cat"}, "aspect_ratio is required"),
        ({"prompt": "a cat", "aspect_ratio": "4:3"}, "aspect_ratio must be"),
        ({"prompt": "a cat", "aspect_ratio": "9:16", "mode": "4k"}, "mode must be"),
        ({"prompt": "a cat", "aspect_ratio": "9:16", "duration": "2"}, "duration"),
        ({"prompt": "a cat", "aspect_ratio": "9:16", "duration": "16"}, "duration"),
        ({"prompt": "a cat", "aspect_ratio": "9:16", "duration": 5}, "duration"),
        ({"prompt": "a cat", "aspect_ratio": "9:16", "sound": "yes"}, "sound"),
        ({"prompt": "a cat", "image_urls": []}, "image_urls"),
        ({"prompt": "a cat", "image_urls": ["a", "b", "c"]}, "image_urls"),
        ({"prompt": "a cat", "image_urls": "https://x/a.jpg"}, "image_urls"),
    ],
)
async def test_kling3_rejects_bad_input_with_422(
    kie: FakeKie, http: aiohttp.ClientSession, params: dict[str, Any], message: str
) -> None:
    body = {"model": "kling-3.0/video", "input": params}
    status, answer = await call(http, "POST", f"{kie.base_url}/api/v1/jobs/createTask", json=body)
    assert (status, answer["code"], answer["data"]) == (200, 422, None)
    assert message in answer["msg"]
    assert kie.tasks == {}
