"""The Mini App's API as /work/briefs/miniapp_contract.md describes it, in memory: the page's browser tests
and its bench run against it where the real API would need a whole scenario (an admin's 14 days of
stats, a render in progress with an estimate). tests/test_miniapp_browser.py drives the real bot instead.

It serves the page from the package like the bot (``GET /app``, ``/app/static/``) and checks the
``Authorization: tma`` header with aiogram as the bot does. Texts come from the real catalogues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import Any

from aiogram.utils.web_app import safe_parse_webapp_init_data
from aiohttp import web
from PIL import Image, ImageDraw

from core.ui.texts import keys

STATIC = Path(str(resources.files("core.web.miniapp") / "static"))


def thumbnail_png(seed: int) -> bytes:
    """A 9:16 gradient with a circle: something a screenshot shows as an image."""
    image = Image.new("RGB", (90, 160))
    draw = ImageDraw.Draw(image)
    for y in range(160):
        draw.line([(0, y), (90, y)], fill=(40 + y // 2, 80 + (seed * 37) % 120, 200 - y // 2))
    draw.ellipse([25, 60, 65, 100], fill=(255, 220, 120))
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class FakeMiniAppApi:
    token: str
    admin: bool = False
    lang: str = "en"
    balance: int = 100
    videos: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)  # invoice links the test paid
    requests: list[tuple[str, str]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    erased: bool = False
    photos: list[int] = field(default_factory=list)  # the sizes of the photos sent with ideas
    page_size: int = 20

    def __post_init__(self) -> None:
        self.models = [
            {"id": "veo3_fast", "title": "Veo 3 Fast", "price": 60, "image_input": True, "durations": []},
            {
                "id": "seedance_2",
                "title": "Seedance 2",
                "price": 40,
                "image_input": False,
                "durations": [{"seconds": 5, "price": 40}, {"seconds": 10, "price": 80}],
            },
        ]
        now = datetime.now(UTC)
        self.videos = [
            self._video(3, "A red fox runs through a snowy forest at sunrise", "rendering", now - timedelta(minutes=2)),
            self._video(2, "A lighthouse in a storm, waves crashing", "done", now - timedelta(hours=3)),
            self._video(1, "A cat surfing a huge wave", "failed", now - timedelta(days=1)),
        ]
        self.ledger = [
            {"at": (now - timedelta(days=2)).isoformat(), "delta": 100, "reason": "starter"},
            {"at": (now - timedelta(days=1)).isoformat(), "delta": -60, "reason": "generation"},
            {"at": (now - timedelta(days=1)).isoformat(), "delta": 60, "reason": "refund"},
        ]

    def _video(self, vid: int, idea: str, state: str, at: datetime, model: str = "veo3_fast") -> dict[str, Any]:
        done = state == "done"
        return {
            "id": vid,
            "status": {"rendering": "rendering", "done": "delivered", "failed": "failed"}[state],
            "state": state,
            "idea": idea,
            "model": model,
            "model_title": next(m["title"] for m in self.models if m["id"] == model),
            "seconds": 8,
            "price": 60,
            "preset": None,
            "created_at": at.isoformat(),
            "thumbnail": f"/app/api/videos/{vid}/thumbnail" if done else None,
            "video_url": "/app/static/nothing.mp4" if done else None,
            "progress": {"fraction": 0.35, "eta_seconds": 95, "late": False} if state == "rendering" else None,
            "error": "The provider could not render it. 60 credits were refunded." if state == "failed" else None,
        }

    # --- the server ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/app", self._page)
        app.router.add_static("/app/static/", STATIC)
        get, post = app.router.add_get, app.router.add_post
        get("/app/api/texts", self._texts)
        get("/app/api/me", self._me)
        app.router.add_delete("/app/api/me", self._erase)
        post("/app/api/language", self._language)
        get("/app/api/catalogue", self._catalogue)
        get("/app/api/videos", self._videos)
        get("/app/api/videos/{id}", self._one)
        get("/app/api/videos/{id}/thumbnail", self._thumbnail)
        post("/app/api/videos/{id}/send", self._send)
        post("/app/api/generations", self._generate)
        post("/app/api/invoices", self._invoice)
        get("/app/api/ledger", self._ledger)
        get("/app/api/stats", self._stats)
        get("/app/api/users/{who}", self._user)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        if request.path.startswith("/app/api/"):
            header = request.headers.get("Authorization", "")
            raw = header[4:] if header.startswith("tma ") else request.query.get("auth", "")
            try:
                safe_parse_webapp_init_data(self.token, raw)
            except ValueError:
                return _error(401, "unauthorized", "Open the app from the bot.")
        return await handler(request)

    async def _page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _texts(self, _request: web.Request) -> web.Response:
        texts = {k[4:]: v for k, v in keys(self.lang).items() if k.startswith("app_") and isinstance(v, str)}
        return web.json_response({"lang": self.lang, "texts": texts})

    async def _me(self, _request: web.Request) -> web.Response:
        link = "https://t.me/reelsmith_bot?start=i_601"
        return web.json_response(
            {
                "id": 601,
                "first_name": "Ann",
                "language": self.lang,
                "balance": self.balance,
                "is_admin": self.admin,
                "notifications": True,
                "invite": {"link": link, "share_url": f"https://t.me/share/url?url={link}", "joined": 2, "earned": 40},
            }
        )

    async def _erase(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body != {"confirm": True}:
            return _error(400, "bad_request", "Confirm first.")
        self.erased = True
        return web.json_response({"ok": True})

    async def _language(self, request: web.Request) -> web.Response:
        self.lang = (await request.json())["language"]
        return web.json_response({"language": self.lang})

    async def _catalogue(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "balance": self.balance,
                "models": self.models,
                "presets": [{"id": "cinematic", "name": "Cinematic"}, {"id": "anime", "name": "Anime"}],
                "packages": [{"id": "100", "credits": 100, "stars": 50}, {"id": "300", "credits": 300, "stars": 140}],
                "plans": [{"id": "monthly", "credits": 500, "stars": 200}],
                "subscription": None,
            }
        )

    async def _videos(self, request: web.Request) -> web.Response:
        """Newest first, ``page_size`` a page (the bot's is 20); ``next`` is the id to ask ``before``."""
        before = int(request.query.get("before", 0)) or None
        older = [v for v in self.videos if before is None or v["id"] < before]
        page = older[: self.page_size]
        more = len(older) > self.page_size
        return web.json_response({"videos": page, "next": page[-1]["id"] if more else None})

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        return next((v for v in self.videos if str(v["id"]) == request.match_info["id"]), None)

    async def _one(self, request: web.Request) -> web.Response:
        video = self._find(request)
        if video is None:
            return _error(404, "not_found", "No such video.")
        if video["state"] == "rendering":  # each look moves it on, and the third finds it done
            fraction = video["progress"]["fraction"] + 0.3
            if fraction >= 1:
                video.update(self._video(video["id"], video["idea"], "done", datetime.now(UTC)))
            else:
                video["progress"] = {"fraction": fraction, "eta_seconds": 40, "late": False}
        return web.json_response(video)

    async def _thumbnail(self, request: web.Request) -> web.Response:
        headers = {"Cache-Control": "private, max-age=86400"}
        return web.Response(
            body=thumbnail_png(int(request.match_info["id"])), content_type="image/png", headers=headers
        )

    async def _send(self, request: web.Request) -> web.Response:
        self.sent.append(int(request.match_info["id"]))
        return web.json_response({"ok": True})

    async def _generate(self, request: web.Request) -> web.Response:
        form = await request.post()
        photo = form.get("photo")
        if isinstance(photo, web.FileField):
            self.photos.append(len(photo.file.read()))
        model = next(m for m in self.models if m["id"] == form["model"])
        price = next(
            (d["price"] for d in model["durations"] if str(d["seconds"]) == form.get("seconds")), model["price"]
        )
        if price > self.balance:
            return web.json_response(
                {"error": "balance", "message": "Not enough credits.", "balance": self.balance, "price": price},
                status=402,
            )
        self.balance -= price
        video = self._video(len(self.videos) + 10, str(form["idea"]), "rendering", datetime.now(UTC), model["id"])
        video["progress"] = {"fraction": 0.05, "eta_seconds": 120, "late": False}
        self.videos.insert(0, video)
        return web.json_response({"video": video, "balance": self.balance}, status=201)

    async def _invoice(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"link": f"https://t.me/$invoice-{body['kind']}-{body['id']}"})

    def credit(self, link: str) -> None:
        """What successful_payment does in the bot: the package's credits."""
        self.paid.append(link)
        self.balance += int(link.rsplit("-", 1)[1]) if "package" in link else 500

    async def _ledger(self, _request: web.Request) -> web.Response:
        names = {"starter": "Welcome credits", "generation": "Video", "refund": "Refund"}
        entries = [{**e, "reason_text": names[e["reason"]]} for e in reversed(self.ledger)]
        return web.json_response({"entries": entries})

    async def _stats(self, _request: web.Request) -> web.Response:
        if not self.admin:
            return _error(403, "forbidden", "Admins only.")
        today = date.today()
        days = [
            {
                "date": (today - timedelta(days=13 - i)).isoformat(),
                "revenue_stars": (i * 37) % 300,
                "generations": {"veo3_fast": (i * 3) % 11, "seedance_2": (i * 5) % 7},
                "failure_rate": ((i * 7) % 10) / 50,
            }
            for i in range(14)
        ]
        summary = {"users": {"total": 120, "today": 4}, "generations": {"delivered": 310, "failed": 12}, "stars": 5400}
        return web.json_response({"summary": summary, "days": days})

    async def _user(self, request: web.Request) -> web.Response:
        if not self.admin:
            return _error(403, "forbidden", "Admins only.")
        who = request.match_info["who"]
        if who not in {"601", "@ann"}:
            return _error(404, "not_found", "No such user.")
        return web.json_response({"id": 601, "username": "ann", "credits": self.balance, "banned": False})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.Response(
        text=json.dumps({"error": code, "message": message}), status=status, content_type="application/json"
    )
