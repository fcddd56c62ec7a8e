"""``POST /app/api/generations``: the Create form, confirmed and charged as the chat's confirm button is.

The form (multipart/form-data: idea, model, seconds, preset, photo) becomes a draft like a chat
proposal, moderation checks it like a proposal, and ``core.pipeline.accept.accept`` confirms it in
its own transaction: the same checks (budget, withdrawn model, active limit, balance) and the same
debit. Three short transactions, with the network calls between them, never inside one.

The photo: sent with sendPhoto to the user's own chat with the bot, and the draft keeps the largest
size's file_id. Why: the pipeline, moderation, erasure and retention already work from a Telegram
file_id (downloaded when the prompt is written, made 9:16, stored until the provider has it), so an
app photo takes exactly the chat photo's path with no second store to keep and erase; Telegram
checks that it is an image; and the chat shows what the video is made from. It is sent before any
transaction starts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import BufferedInputFile
from aiohttp import BodyPartReader, web

from core.catalogue import VideoModel
from core.pipeline.accept import Accepted, Refused, accept
from core.pipeline.moderation import check, refuse
from core.pipeline.photos import image_type
from core.ui.status import status_view
from core.ui.texts import text
from core.web.body import clean_text
from core.web.miniapp.call import ApiError, Call, bad_request
from core.web.miniapp.views import video
from db import generations as db_generations
from db import models as db_models

log = structlog.get_logger("miniapp")

FIELD_BYTES = 16 * 1024  # a text field: the idea is at most IDEA_MAX_LENGTH (3000) characters
MAX_PARTS = 8
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")  # what sendPhoto takes as a photo
TEXT_FIELDS = ("idea", "model", "seconds", "preset")
URLENCODED = "application/x-www-form-urlencoded"

# accept()'s refusals as the contract's errors: status and code
REFUSALS = {
    "not_enough_credits": (402, "balance"),
    "too_many_active": (409, "busy"),
    "already_started": (409, "busy"),
    "service_unavailable": (503, "unavailable"),
    "budget_reached": (503, "unavailable"),
    "model_withdrawn": (503, "unavailable"),
    "draft_gone": (503, "unavailable"),  # the operator removed the model between the draft and the confirm
}


@dataclass(frozen=True, slots=True)
class Form:
    idea: str
    model: VideoModel
    seconds: int | None
    price: int
    photo: bytes | None


async def post_generation(call: Call) -> dict[str, Any]:
    form = await read_form(call)
    app, user = call.app, call.user
    if form.model.id in await db_models.unavailable(app.pool):
        raise ApiError(503, "unavailable", "model_withdrawn")
    photo_file_id = await upload_photo(call, form.photo) if form.photo else None
    draft = await db_generations.create_draft(
        app.pool,
        *(user.id, user.id, form.model.id, form.price, form.idea, photo_file_id, secrets.token_urlsafe(24)),
        app.provider(form.model).name,
        duration_s=form.seconds,
    )
    if app.moderator is not None:
        verdict = await check(app, app.moderator, draft)
        if verdict is not None and verdict.flagged:
            await refuse(app, draft, verdict)
            raise ApiError(422, "bad_request", "moderation_refused")
    async with app.pool.acquire() as conn, conn.transaction():
        result = await accept(conn, app, draft.id, user.id)
        if isinstance(result, Refused):
            await db_generations.discard(conn, draft.id, user.id)
    if isinstance(result, Refused):
        status, code = REFUSALS.get(result.key, (409, "busy"))
        fields = {}
        if result.key == "not_enough_credits":
            fields = {"balance": result.params["credits"], "price": result.params["price"]}
        raise ApiError(status, code, result.key, params=result.params, fields=fields)
    await announce(call, result)
    return {"video": video(app, call.lang, result.generation, thumbnail=False), "balance": result.credits}


async def announce(call: Call, accepted: Accepted) -> None:
    """The chat gets the generation's status message too, as after the chat's confirm (with its cancel
    button); the pipeline edits it from then on. After the commit, and a courtesy: if it cannot be
    sent the video is made all the same (and still arrives in the chat)."""
    app, generation = call.app, accepted.generation
    stage = "waiting" if accepted.waiting else "queued"
    title = app.model(generation.model).title
    view = status_view(
        call.lang, generation, stage, model_title=title, position=accepted.position, eta_s=accepted.eta_s
    )
    await db_generations.claim_status_edit(app.pool, generation.id, 0, True, stage)
    try:
        sent = await app.bot.send_message(generation.chat_id, view.text, reply_markup=view.keyboard)
    except TelegramAPIError as error:
        log.warning("miniapp.status_not_sent", generation_id=generation.id, error=str(error))
        return
    await db_generations.set_status_message(app.pool, generation.id, sent.message_id)


async def read_form(call: Call) -> Form:
    """The form, each part bounded as it streams in (aiohttp's client_max_size does not cover multipart)."""
    settings = call.app.settings.product
    request = call.request
    if request.content_type == URLENCODED:  # a form without a photo may come this way
        return _form(call, await _urlencoded(request), None)
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "bad_request", "api_bad_request")
    if request.content_length is not None and request.content_length > settings.photo_max_size + 64 * 1024:
        raise ApiError(413, "bad_request", "api_too_large")
    fields: dict[str, str] = {}
    photo: bytes | None = None
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise bad_request()
            if part.name == "photo" and part.filename is not None:
                photo = await _read(part, settings.photo_max_size) or None
            elif part.name in TEXT_FIELDS:
                fields[part.name] = clean_text((await _read(part, FIELD_BYTES)).decode("utf-8"))
            else:
                await part.release()
        else:
            raise bad_request()
    except (ValueError, AssertionError, UnicodeDecodeError):  # a broken multipart body
        raise bad_request() from None
    return _form(call, fields, photo)


async def _urlencoded(request: web.Request) -> dict[str, str]:
    if request.content_length is not None and request.content_length > FIELD_BYTES:
        raise ApiError(413, "bad_request", "api_too_large")
    raw = await request.content.read(FIELD_BYTES + 1)
    if len(raw) > FIELD_BYTES:
        raise ApiError(413, "bad_request", "api_too_large")
    try:
        pairs = parse_qsl(raw.decode("ascii"), errors="strict", max_num_fields=MAX_PARTS)
    except (ValueError, UnicodeDecodeError):
        raise bad_request() from None
    return {name: clean_text(value) for name, value in pairs if name in TEXT_FIELDS}


async def _read(part: BodyPartReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "bad_request", "api_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _form(call: Call, fields: dict[str, str], photo: bytes | None) -> Form:
    settings = call.app.settings.product
    idea = fields.get("idea", "").strip()
    if len(idea) > settings.idea_max_length:
        raise bad_request("idea_too_long", length=len(idea), limit=settings.idea_max_length)
    if not idea and photo is None:
        raise bad_request("api_idea_empty")
    model = settings.video_models.get(fields.get("model", ""))
    if model is None:
        raise bad_request("api_model_unknown")
    seconds: int | None = model.default_duration
    raw_seconds = fields.get("seconds", "").strip()
    if raw_seconds:
        if not raw_seconds.isascii() or not raw_seconds.isdigit() or int(raw_seconds) not in model.durations:
            raise bad_request("api_seconds_unknown")
        seconds = int(raw_seconds)
    price = model.price_for(seconds) if model.durations else model.price
    if price is None:
        raise bad_request("api_seconds_unknown")
    if photo is not None and image_type(photo)[1] not in PHOTO_TYPES:
        raise bad_request("api_photo_unreadable")
    # "preset": accepted and not used until generations keep a preset (the "share" branch)
    return Form(idea, model, seconds, price, photo)


async def upload_photo(call: Call, photo: bytes) -> str:
    """The photo sent to the user's chat: its largest size's file_id (see the module docstring)."""
    extension, _ = image_type(photo)
    try:
        sent = await call.app.bot.send_photo(
            call.user.id,
            BufferedInputFile(photo, filename=f"photo.{extension}"),
            caption=text(call.lang, "api_photo_caption"),
        )
    except TelegramForbiddenError:  # they blocked the bot: nothing can reach their chat
        raise ApiError(403, "forbidden", "api_blocked") from None
    except TelegramAPIError as error:
        if getattr(error, "message", "").startswith("Bad Request"):
            raise bad_request("api_photo_unreadable") from None
        raise ApiError(503, "unavailable", "api_unavailable") from error
    if not sent.photo:
        raise bad_request("api_photo_unreadable")
    return sent.photo[-1].file_id
