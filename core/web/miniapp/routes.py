"""The Mini App as a web component of the one aiohttp server: the page at ``/app``, its files at
``/app/static/`` (package data: they ship in the wheel), and the JSON API under ``/app/api/``
(the contract's endpoints; anything else under it is a JSON 404)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from core.pipeline.services import App
from core.tasks import Starter
from core.web.miniapp import admin, api, buy, create
from core.web.miniapp.call import endpoint, not_found

STATIC_DIR = Path(__file__).resolve().parent / "static"
API = "/app/api"


class MiniApp:
    def __init__(self, app: App) -> None:
        self.app = app

    def add_routes(self, web_app: web.Application) -> None:
        router, app = web_app.router, self.app
        router.add_get("/app", self.page)
        router.add_get("/app/", self.page)
        if STATIC_DIR.is_dir():
            router.add_static("/app/static", STATIC_DIR, append_version=False)
        router.add_get(f"{API}/texts", endpoint(app, api.get_texts))
        router.add_get(f"{API}/me", endpoint(app, api.get_me))
        router.add_delete(f"{API}/me", endpoint(app, api.delete_me))
        router.add_post(f"{API}/language", endpoint(app, api.post_language))
        router.add_get(f"{API}/catalogue", endpoint(app, api.get_catalogue))
        router.add_get(f"{API}/videos", endpoint(app, api.get_videos))
        router.add_get(f"{API}/videos/{{id}}", endpoint(app, api.get_video))
        router.add_get(f"{API}/videos/{{id}}/thumbnail", endpoint(app, api.get_thumbnail, query_auth=True))
        router.add_post(f"{API}/videos/{{id}}/send", endpoint(app, api.post_send))
        router.add_post(f"{API}/generations", endpoint(app, create.post_generation, status=201))
        router.add_post(f"{API}/invoices", endpoint(app, buy.post_invoice))
        router.add_get(f"{API}/ledger", endpoint(app, api.get_ledger))
        router.add_get(f"{API}/stats", endpoint(app, admin.get_stats, admin=True))
        router.add_get(f"{API}/users/{{who}}", endpoint(app, admin.get_user, admin=True))
        router.add_route("*", API + "{tail:(/.*)?}", self.unknown)

    async def page(self, _request: web.Request) -> web.StreamResponse:
        index = STATIC_DIR / "index.html"
        if not index.is_file():
            return web.json_response({"error": "not_found", "message": "The app is not installed."}, status=404)
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def unknown(self, _request: web.Request) -> web.Response:
        return not_found().response("en")

    async def start(self, _supervisor: Starter) -> None:
        return None

    async def stop(self) -> None:
        return None
