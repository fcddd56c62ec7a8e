"""A second video provider, for tests only: it proves the pipeline runs through the provider
interface (core/providers/base.py) and nothing else, since its family, its task ids, its callback and
its video host are all its own.

It renders at once (or when ``finish()`` is called, with ``instant = False``): the result is a real
MP4 served by its own little HTTP server on 127.0.0.1, 1080x1920 and 6 seconds long.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from core.catalogue import VideoModel
from core.providers.base import TaskState
from tests.fakes.mp4 import Mp4Spec, chunks

SPEC = Mp4Spec(width=1080, height=1920, duration_s=6.0)
VIDEO_BYTES = 64 * 1024


@dataclass
class EchoTask:
    model: str
    prompt: str
    image_url: str | None
    callback_url: str | None
    done: bool = False


@dataclass
class EchoProvider:
    name: str = "echo"
    families: tuple[str, ...] = ("echo",)
    create_rate: tuple[int, float] = (100, 1.0)
    min_balance: float = 0.0
    instant: bool = True
    tasks: dict[str, EchoTask] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    base_url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def start(self) -> EchoProvider:
        app = web.Application()
        app.router.add_get("/v/{task}.mp4", self._video)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the interface ----------------------------------------------------------------------------

    async def upload_image(self, data: bytes, file_name: str, mime: str = "image/jpeg") -> str:
        url = f"{self.base_url}/img/{len(self.images) + 1}-{file_name}"
        self.images[url] = data
        return url

    async def create(
        self,
        model: VideoModel,
        prompt: str,
        image_url: str | None,
        callback_url: str | None,
        duration_s: int | None = None,
    ) -> str:
        task_id = f"echo-{next(self._ids)}"
        self.tasks[task_id] = EchoTask(model.id, prompt, image_url, callback_url, done=self.instant)
        return task_id

    async def state(self, model: VideoModel, task_id: str) -> TaskState:
        task = self.tasks.get(task_id)
        if task is None or not task.done:
            return TaskState(finished=False)
        return TaskState(finished=True, video_url=f"{self.base_url}/v/{task_id}.mp4")

    async def balance(self) -> float:
        return 1.0

    def callback_task_id(self, body: object) -> str:
        return str(body.get("task", "")) if isinstance(body, dict) else ""

    def callback_authentic(self, task_id: str, headers: Mapping[str, str], now: float) -> bool:
        return True

    # --- its video host ---------------------------------------------------------------------------

    async def _video(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["task"] not in self.tasks:
            raise web.HTTPNotFound()
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        await response.prepare(request)
        for piece in chunks(SPEC, VIDEO_BYTES):
            await response.write(piece)
        await response.write_eof()
        return response
