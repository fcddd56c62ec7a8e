"""The Mini App's read and account endpoints (the contract: /work/briefs/miniapp_contract.md, kept in
the module docstrings here): texts, me, language, catalogue, videos, resend, ledger, erasure. Each acts
only for the caller (core/web/miniapp/call.py) and runs the chat's own code for what the chat does too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aiogram.exceptions import TelegramAPIError
from aiohttp import web

from core.growth import Plan, invite_link, share_link
from core.pipeline.archive import video_link
from core.pipeline.erasure import erase
from core.pipeline.status import render_progress
from core.ui import texts
from core.web.body import BodyError, read_json_object
from core.web.miniapp.call import ApiError, Call, bad_request, not_found
from core.web.miniapp.views import video
from db import miniapp as db_miniapp
from db import models as db_models
from db import nudges as db_nudges
from db import referrals as db_referrals
from db import subscriptions as db_subscriptions
from db import users as db_users
from db.generations import Status

PAGE = 20  # videos per page
LEDGER = 50  # receipts shown
MAX_JSON = 4 * 1024  # every JSON body of this API is a few fields
APP_PREFIX = "app_"
MAX_ID = 2**63 - 1
MAX_THUMBNAIL = 1024 * 1024  # Telegram's thumbnails are a few kB (320 px)


@cache
def page_texts(lang: str) -> dict[str, str]:
    """Every ``app_*`` entry of the language's catalogue, without the prefix (the page's own words)."""
    return {
        key.removeprefix(APP_PREFIX): template
        for key, template in texts.keys(lang).items()
        if key.startswith(APP_PREFIX) and isinstance(template, str)
    } | {
        key.removeprefix(APP_PREFIX): template
        for key, template in texts.keys(texts.DEFAULT_LANGUAGE).items()
        if key.startswith(APP_PREFIX) and isinstance(template, str) and not texts.keys(lang).get(key)
    }


async def get_texts(call: Call) -> dict[str, Any]:
    return {"lang": call.lang, "texts": page_texts(call.lang)}


async def get_me(call: Call) -> dict[str, Any]:
    user, app = call.user, call.app
    link = invite_link(await app.bot_username(), user.id)
    invited = await db_referrals.stats(app.pool, user.id)
    return {
        "id": user.id,
        "first_name": call.who.user.first_name,
        "language": call.lang,
        "balance": user.credits,
        "is_admin": call.is_admin,
        "notifications": await db_nudges.notifications(app.pool, user.id),  # /notifications on|off
        "invite": {
            "link": link,
            "share_url": share_link(link, texts.text(call.lang, "invite_share_text")),
            "joined": invited.joined,
            "earned": invited.earned,
        },
    }


async def json_body(call: Call) -> dict[str, Any]:
    try:
        return await read_json_object(call.request, max_bytes=MAX_JSON)
    except BodyError:
        raise bad_request() from None


async def post_language(call: Call) -> dict[str, Any]:
    chosen = (await json_body(call)).get("language")
    if not isinstance(chosen, str) or chosen not in texts.LANGUAGES:
        raise bad_request()
    await db_users.set_language(call.app.pool, call.user.id, chosen)
    return {"language": chosen}


async def get_catalogue(call: Call) -> dict[str, Any]:
    settings = call.app.settings
    gone = await db_models.unavailable(call.app.pool)
    models = [
        {
            "id": model.id,
            "title": model.title,
            "price": model.price,
            "image_input": True,  # every family renders from a photo too (core/providers: image-to-video)
            "durations": [{"seconds": s, "price": model.price_for(s)} for s in model.durations],
        }
        for model in settings.product.video_models.values()
        if model.id not in gone
    ]
    return {
        "balance": call.user.credits,
        "models": models,
        "presets": [{"id": p.id, "name": texts.preset_name(call.lang, p)} for p in settings.growth.presets],
        "packages": [{"id": p.id, "credits": p.credits, "stars": p.stars} for p in settings.product.credit_packages],
        "plans": [{"id": p.id, "credits": p.credits, "stars": p.stars} for p in settings.growth.subscription_plans],
        "subscription": await subscription(call),
    }


async def subscription(call: Call) -> dict[str, Any] | None:
    """The plan running now (as /subscription shows it), if any."""
    now = datetime.now(UTC)
    running = [s for s in await db_subscriptions.of_user(call.app.pool, call.user.id, 5) if s.expires_at > now]
    if not running:
        return None
    latest = running[0]
    return {
        "plan_id": Plan(latest.credits, latest.stars).id,
        "renews_at": latest.expires_at.isoformat(),
        "canceled": latest.canceled,
    }


def int_param(raw: str | None) -> int | None:
    """A positive id from a path or query; ApiError for anything else."""
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_ID:
        raise bad_request()
    return int(raw)


async def shown(call: Call, found: db_miniapp.Video) -> dict[str, Any]:
    """The Video, with a fresh link to the archived file (storage is asked only when it is configured)."""
    generation = found.generation
    shown = video(call.app, call.lang, generation, thumbnail=found.thumbnail)
    if generation.status == Status.RENDERING:  # the chat's status bar's estimate (cached medians)
        progress = await render_progress(call.app, generation)
        fraction, eta, late = round(progress.fraction, 3), progress.eta_seconds, progress.late
        shown["progress"] = {"fraction": fraction, "eta_seconds": eta, "late": late}
    if call.app.storage is not None and generation.status == Status.DONE:
        shown["video_url"] = await video_link(call.app.storage, user_id=generation.user_id, generation_id=generation.id)
    return shown


async def get_videos(call: Call) -> dict[str, Any]:
    before = int_param(call.request.query.get("before"))
    rows = await db_miniapp.videos(call.app.pool, call.user.id, before, PAGE + 1)
    page = rows[:PAGE]
    videos = await asyncio.gather(*(shown(call, found) for found in page))
    return {"videos": list(videos), "next": page[-1].generation.id if len(rows) > PAGE else None}


def path_id(call: Call) -> int:
    generation_id = int_param(call.request.match_info["id"])
    assert generation_id is not None
    return generation_id


async def mine(call: Call) -> db_miniapp.Video:
    found = await db_miniapp.video(call.app.pool, call.user.id, path_id(call))
    if found is None:
        raise not_found()
    return found


async def get_video(call: Call) -> dict[str, Any]:
    return await shown(call, await mine(call))


async def get_thumbnail(call: Call) -> web.Response:
    """The delivered video's thumbnail, fetched through the bot (getFile, then the download)."""
    file_id = await db_miniapp.thumbnail(call.app.pool, call.user.id, path_id(call))
    if file_id is None:
        raise not_found()
    try:
        found = await call.app.bot.get_file(file_id)
        if not found.file_path or (found.file_size or 0) > MAX_THUMBNAIL:
            raise not_found()
        data = await call.app.bot.download_file(found.file_path)
    except TelegramAPIError as error:
        raise ApiError(503, "unavailable", "api_unavailable") from error
    body = data.read() if data is not None else b""
    return web.Response(body=body, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


async def post_send(call: Call) -> dict[str, Any]:
    """The video to the user's chat again, as the chat's "resend" does: by its file_id, else a link."""
    generation = (await mine(call)).generation
    if generation.status != Status.DONE:
        raise not_found()
    app, lang = call.app, call.lang
    try:
        if generation.video_file_id:
            caption = texts.text(lang, "video_caption", idea=generation.idea)[:1024]
            await app.bot.send_video(call.user.id, generation.video_file_id, caption=caption)
        else:
            link = await video_link(app.storage, user_id=generation.user_id, generation_id=generation.id)
            await app.bot.send_message(
                call.user.id, texts.text(lang, "video_link", url=link) if link else texts.text(lang, "history_gone")
            )
    except TelegramAPIError as error:
        raise ApiError(503, "unavailable", "api_unavailable") from error
    return {"ok": True}


async def get_ledger(call: Call) -> dict[str, Any]:
    entries = await db_users.ledger_tail(call.app.pool, call.user.id, LEDGER)
    return {
        "entries": [
            {
                "at": entry.created_at.isoformat(),
                "delta": entry.delta,
                "reason": entry.reason,
                "reason_text": reason_text(call.lang, entry.reason),
            }
            for entry in entries
        ]
    }


def reason_text(lang: str, reason: str) -> str:
    try:
        return texts.text(lang, f"api_ledger_{reason}")
    except KeyError:  # a reason added later than its wording
        return reason


async def delete_me(call: Call) -> dict[str, Any]:
    """The same erasure as /deletemydata's button, once the body says ``{"confirm": true}``."""
    if (await json_body(call)).get("confirm") is not True:
        raise bad_request("api_erase_confirm")
    async with call.app.pool.acquire() as conn, conn.transaction():
        refunded = await erase(conn, call.app, call.user.id)
    if refunded is None:
        raise ApiError(409, "busy", "erase_busy")
    return {"ok": True}
