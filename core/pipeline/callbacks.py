"""KIE's completion callback: ``POST /kie/callback/{token}``.

The token is the generation's own unguessable secret, so a callback cannot be aimed at someone
else's generation. With KIE_WEBHOOK_HMAC_KEY set, ``X-Webhook-Signature`` (base64 HMAC-SHA256 of
``taskId.timestamp``) must match and the timestamp must be within REPLAY_WINDOW_S. Even then the
body is not trusted: the callback only wakes the generation's poll job, which asks KIE's record
endpoint (the authority). So duplicates, forgeries and replays cannot deliver or charge anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import structlog
from aiohttp import web

from core.app import App
from core.web import BodyError, read_json_object
from db import generations as db_generations
from db import jobs as db_jobs

log = structlog.get_logger("kie.callback")

REPLAY_WINDOW_S = 300


def signature(key: str, task_id: str, timestamp: int) -> str:
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_valid(key: str, task_id: str, timestamp: str | None, given: str | None, now: float) -> bool:
    if not (task_id and timestamp and given and timestamp.isdigit()):
        return False
    if abs(now - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    return hmac.compare_digest(signature(key, task_id, int(timestamp)), given)


def task_id_of(body: object) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return ""
    return str(data.get("taskId") or data.get("task_id") or "")


class KieCallbacks:
    """The web component that receives KIE's callbacks."""

    def __init__(self, app: App) -> None:
        self.app = app

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post("/kie/callback/{token}", self.receive)

    async def start(self, _supervisor: object) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def receive(self, request: web.Request) -> web.Response:
        try:  # junk gets a 4xx (core/web.py); bad paths never get here
            body = await read_json_object(request)
        except BodyError as error:
            return web.json_response({"error": f"the body is not a JSON object: {error}"}, status=400)
        generation = await db_generations.by_callback_token(self.app.pool, request.match_info["token"])
        if generation is None:
            return web.json_response({"error": "unknown callback"}, status=404)
        task_id = task_id_of(body)
        key = self.app.settings.kie_webhook_hmac_key
        headers = request.headers
        if key and not signature_valid(
            key, task_id, headers.get("X-Webhook-Timestamp"), headers.get("X-Webhook-Signature"), time.time()
        ):
            log.warning("kie.callback.bad_signature", generation_id=generation.id, task_id=task_id)
            return web.json_response({"error": "bad signature"}, status=401)
        if generation.kie_task_id and task_id and task_id != generation.kie_task_id:
            log.warning("kie.callback.task_mismatch", generation_id=generation.id, task_id=task_id)
            return web.json_response({"error": "not this generation's task"}, status=409)
        woken = await db_jobs.wake(self.app.pool, f"poll:{generation.id}")
        log.info(
            "kie.callback.received",
            generation_id=generation.id,
            task_id=task_id,
            status=generation.status,
            code=body.get("code"),
            poll_woken=woken,
        )
        return web.json_response({"received": True})
