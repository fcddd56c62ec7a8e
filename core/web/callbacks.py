"""Providers' completion callbacks: ``POST /{provider}/callback/{token}`` (KIE: ``/kie/callback/...``).

The token is the generation's own unguessable secret, so a callback cannot be aimed at someone
else's generation. A provider that signs its callbacks checks the signature (KIE with
KIE_WEBHOOK_HMAC_KEY: ``X-Webhook-Signature`` over ``taskId.timestamp``, fresh within 5 minutes).
Even then the body is not trusted: the callback only wakes the generation's poll job, which asks the
provider's record (the authority); or, for a generation whose create was sent but not answered, enqueues
the adoption of the task it names, which reads that task's record first. So duplicates, forgeries and
replays cannot deliver or charge anything.
"""

from __future__ import annotations

import time

import structlog
from aiohttp import web

from core.pipeline import ADOPT, POLL, job_key
from core.pipeline.services import App
from core.queue import enqueue
from core.web.body import BodyError, read_json_object
from db import generations as db_generations
from db import jobs as db_jobs

log = structlog.get_logger("provider.callback")

MAX_CALLBACK_BYTES = 64 * 1024  # a KIE callback is a few kB


class ProviderCallbacks:
    """The web component that receives the providers' callbacks."""

    def __init__(self, app: App) -> None:
        self.app = app

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post("/{provider}/callback/{token}", self.receive)

    async def start(self, _supervisor: object) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def receive(self, request: web.Request) -> web.Response:
        provider = self.app.providers.named(request.match_info["provider"])
        token = request.match_info["token"]
        if provider is None or not token.isascii() or not token.isprintable() or len(token) > 100:
            return web.json_response({"error": "unknown callback"}, status=404)
        # Anyone may post here: the token is looked up before a byte of the body is read, and the
        # body is small and plain (a compressed body may inflate a thousandfold).
        if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            return web.json_response({"error": "Content-Encoding is not accepted"}, status=415)
        generation = await db_generations.by_callback_token(self.app.pool, token)
        if generation is None or generation.provider != provider.name:
            return web.json_response({"error": "unknown callback"}, status=404)
        try:  # junk gets a 4xx (core/web/body.py); bad paths never get here
            body = await read_json_object(request, max_bytes=MAX_CALLBACK_BYTES)
        except BodyError as error:
            return web.json_response({"error": f"the body is not a JSON object: {error}"}, status=400)
        task_id = provider.callback_task_id(body)
        if not provider.callback_authentic(task_id, request.headers, time.time()):
            log.warning("provider.callback.bad_signature", generation_id=generation.id, task_id=task_id)
            return web.json_response({"error": "bad signature"}, status=401)
        if generation.task_id and task_id and task_id != generation.task_id:
            log.warning("provider.callback.task_mismatch", generation_id=generation.id, task_id=task_id)
            return web.json_response({"error": "not this generation's task"}, status=409)
        if generation.status == "submitting" and generation.creating_since is not None and task_id:
            await self._adopt(generation.id, generation.user_id, task_id)  # the create's answer may be lost
        woken = await db_jobs.wake(self.app.pool, job_key(POLL, generation.id))
        log.info(
            "provider.callback.received",
            provider=provider.name,
            generation_id=generation.id,
            user_id=generation.user_id,
            task_id=task_id,
            status=str(generation.status),
            poll_woken=woken,
        )
        return web.json_response({"received": True})

    async def _adopt(self, generation_id: int, user_id: int, task_id: str) -> None:
        """A task named while its generation's create is unanswered (lost, or not back yet): a job reads its
        record and adopts it (core/pipeline/steps.py), so the generation never pays for a second one."""
        payload = {"generation_id": generation_id, "user_id": user_id, "task_id": task_id}
        key = job_key(ADOPT, f"{generation_id}:{task_id}")
        await enqueue(self.app.pool, self.app.registry, ADOPT, payload, unique_key=key)
        log.info("provider.callback.adopting", generation_id=generation_id, task_id=task_id)
