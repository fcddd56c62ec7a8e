"""Ideas and their proposals: a text or a photo becomes a priced draft shown with its buttons
(confirm, another model or length, a style from PRESETS, drop); "again" under a finished video
proposes its idea anew. The draft on screen is the conversation state (``Flow.confirming``); a new
idea replaces it."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message

from core.bot.moderation import CheckedProposal
from core.bot.turn import Turn
from core.catalogue import VideoModel
from core.growth import find_preset
from core.pipeline.services import App
from core.telegram.replies import EditOrSend
from core.ui.keyboards import Again, Drop, PickLength, PickModel, PickPreset, confirm_keyboard
from core.ui.texts import preset_name, text
from db import generations as db_generations
from db import models as db_models
from db import providers as db_providers
from db.generations import Generation


class Flow(StatesGroup):
    confirming = State()  # data: draft_id, the proposal on screen


# Filters are coroutines: aiogram runs a plain-function filter in a worker thread (core/bot/handlers.py).


async def has_text(message: Message) -> bool:
    return message.text is not None


async def has_photo(message: Message) -> bool:
    return bool(message.photo)


async def is_preset_tap(callback: CallbackQuery) -> bool:
    """Any data with the style prefix, well-formed or not: a junk one gets a polite answer, not silence."""
    return (callback.data or "").startswith(PickPreset.__prefix__ + ":")


def build_proposals_router() -> Router:
    """Every message no router before it took (the last word is "unsupported"), and the proposal's buttons."""
    router = Router(name="proposals")
    router.message.register(on_text, has_text)
    router.message.register(on_photo, has_photo)
    router.message.register(on_unsupported)
    router.callback_query.register(on_drop, Drop.filter())
    router.callback_query.register(on_pick_model, PickModel.filter())
    router.callback_query.register(on_pick_length, PickLength.filter())
    router.callback_query.register(on_pick_preset, is_preset_tap)
    router.callback_query.register(on_again, Again.filter())
    return router


async def on_text(message: Message, turn: Turn, state: FSMContext) -> None:
    await _propose(message, turn, state, idea=message.text or "", photo_file_id=None)


async def on_photo(message: Message, turn: Turn, state: FSMContext) -> None:
    assert message.photo, "registered only for messages with a photo (has_photo)"
    photo = message.photo[-1]  # the largest size
    limit = turn.app.settings.product.photo_max_size
    if photo.file_size and photo.file_size > limit:
        words = text(turn.lang, "photo_too_big", size_mb=_mb(photo.file_size), limit_mb=_mb(limit))
        turn.out.add(message.answer(words))
        return
    await _propose(message, turn, state, idea=message.caption or "", photo_file_id=photo.file_id)


async def on_unsupported(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "unsupported")))


async def _propose(message: Message, turn: Turn, state: FSMContext, *, idea: str, photo_file_id: str | None) -> None:
    settings = turn.app.settings
    idea = idea.strip()
    if len(idea) > settings.product.idea_max_length:
        turn.out.add(
            message.answer(text(turn.lang, "idea_too_long", length=len(idea), limit=settings.product.idea_max_length))
        )
        return
    model = turn.app.model(settings.product.default_model)
    await _offer(message.chat.id, turn, state, model=model, idea=idea, photo_file_id=photo_file_id)


async def _offer(
    chat_id: int,
    turn: Turn,
    state: FSMContext,
    *,
    model: VideoModel,
    idea: str,
    photo_file_id: str | None,
    preset: str | None = None,
) -> None:
    """A new draft, shown with its price and buttons, replacing the user's open one. The proposal
    goes out after the commit, once moderation passed it (core/bot/moderation.py); its message id is
    recorded then (a confirm records it too). ``preset``: a style id already chosen (regenerate keeps
    the old video's), kept only while PRESETS offers it."""
    app, lang = turn.app, turn.lang
    await drop_current_draft(turn, state)
    offered = await _offered(turn)
    if model not in offered and offered:
        model = offered[0]  # the model asked for is withdrawn for now (paused by its provider)
    provider = app.provider(model).name
    draft = await db_generations.create_draft(
        turn.db,
        *(turn.user.id, chat_id, model.id, model.price, idea, photo_file_id, secrets.token_urlsafe(24), provider),
        duration_s=model.default_duration,
        preset=preset if find_preset(app.settings.growth.presets, preset) else None,
    )
    proposal = SendMessage(
        chat_id=chat_id,
        text=await _proposal_text(turn, draft),
        reply_markup=confirm_keyboard(lang, draft, offered, app.settings.growth.presets),
    )
    checked = CheckedProposal(app, app.moderator, draft, lang, proposal) if app.moderator else proposal
    turn.out.add(checked, then=_remember_status_message(app, draft.id))
    await state.set_state(Flow.confirming)
    await state.set_data({"draft_id": draft.id})


async def _offered(turn: Turn) -> list[VideoModel]:
    """The models on a proposal's buttons: every one of VIDEO_MODELS not withdrawn (core/pipeline/models.py)."""
    gone = await db_models.unavailable(turn.db)
    return [model for model in turn.app.settings.product.video_models.values() if model.id not in gone]


async def _proposal_text(turn: Turn, draft: Generation) -> str:
    """The proposal; while the model's provider is down it says so (confirming then queues the video)."""
    app, lang = turn.app, turn.lang
    if draft.photo_file_id:
        idea = text(lang, "confirm_photo_idea", idea=draft.idea) if draft.idea else text(lang, "confirm_photo_only")
    else:
        idea = draft.idea
    model = app.model(draft.model)
    title = model.title
    if draft.duration_s is not None:
        title = text(lang, "model_with_length", model=title, seconds=draft.duration_s)
    preset = find_preset(app.settings.growth.presets, draft.preset)
    if preset is not None:  # under the idea, as part of what the video will be
        idea = f"{idea}\n{text(lang, 'proposal_preset', name=preset_name(lang, preset))}"
    words = text(lang, "confirm", idea=idea, model=title, price=draft.price, credits=turn.user.credits)
    health = await db_providers.get(turn.db, app.provider(model).name)
    if health.account_problem:
        return f"{words}\n\n⚠️ {text(lang, 'service_unavailable')}"
    if not health.available:
        return f"{words}\n\n{text(lang, 'proposal_provider_down')}"
    return words


async def drop_current_draft(turn: Turn, state: FSMContext) -> bool:
    """Discard the proposal on screen, if any; True when there was one."""
    draft_id = (await state.get_data()).get("draft_id")
    return draft_id is not None and await db_generations.discard(turn.db, draft_id, turn.user.id) is not None


async def on_drop(callback: CallbackQuery, callback_data: Drop, turn: Turn, state: FSMContext) -> None:
    dropped = await db_generations.discard(turn.db, callback_data.draft, turn.user.id)
    await state.clear()
    turn.out.add(callback.answer())
    if dropped is not None:
        turn.out.add(EditOrSend.under(callback, text(turn.lang, "cancelled")))


async def on_pick_model(callback: CallbackQuery, callback_data: PickModel, turn: Turn) -> None:
    app = turn.app
    model = app.settings.product.video_models.get(callback_data.model)
    draft = None
    if model is not None:
        draft = await db_generations.set_model(
            turn.db,
            *(callback_data.draft, turn.user.id, model.id, model.price, app.provider(model).name),
            duration_s=model.default_duration,
        )
    await _show_changed(callback, turn, draft, "model_changed")


async def on_pick_length(callback: CallbackQuery, callback_data: PickLength, turn: Turn) -> None:
    """Another length of the draft's model (priced per second): the price, and later the charge, follow it."""
    app = turn.app
    draft = await db_generations.get(turn.db, callback_data.draft)
    mine = draft is not None and draft.user_id == turn.user.id
    model = app.settings.product.video_models.get(draft.model) if draft is not None and mine else None
    price = model.price_for(callback_data.seconds) if model is not None and model.durations else None
    changed = None
    if model is not None and price is not None:
        changed = await db_generations.set_model(
            turn.db,
            *(callback_data.draft, turn.user.id, model.id, price, app.provider(model).name),
            duration_s=callback_data.seconds,
        )
    await _show_changed(callback, turn, changed, "length_changed")


async def on_pick_preset(callback: CallbackQuery, turn: Turn) -> None:
    """Choose a style for the draft, or clear it by tapping the chosen one again; the price stays. Data that
    does not parse, or names a style PRESETS no longer offers, gets a short answer and changes nothing."""
    try:
        tap = PickPreset.unpack(callback.data or "")
    except (TypeError, ValueError):
        tap = None
    preset = find_preset(turn.app.settings.growth.presets, tap.preset) if tap else None
    if tap is None or preset is None:
        turn.out.add(callback.answer(text(turn.lang, "preset_unknown"), show_alert=True))
        return
    draft = await db_generations.get(turn.db, tap.draft)
    changed = None
    if draft is not None and draft.user_id == turn.user.id:
        chosen = None if draft.preset == preset.id else preset.id
        changed = await db_generations.set_preset(turn.db, draft.id, turn.user.id, chosen)
    what = "preset_cleared" if changed is not None and changed.preset is None else "preset_changed"
    await _show_changed(callback, turn, changed, what)


async def _show_changed(callback: CallbackQuery, turn: Turn, draft: Generation | None, what: str) -> None:
    """The proposal again after its model or length changed (or why it cannot be)."""
    app, lang = turn.app, turn.lang
    if not draft:
        turn.out.add(callback.answer(text(lang, "draft_gone"), show_alert=True))
        return
    turn.out.add(callback.answer(text(lang, what)))
    keyboard = confirm_keyboard(lang, draft, await _offered(turn), app.settings.growth.presets)
    turn.out.add(
        EditOrSend.under(callback, await _proposal_text(turn, draft), keyboard),
        then=_remember_status_message(app, draft.id),
    )


async def on_again(callback: CallbackQuery, callback_data: Again, turn: Turn, state: FSMContext) -> None:
    """Regenerate: the same idea (and photo) as a new proposal, priced again."""
    app, user = turn.app, turn.user
    old = await db_generations.get(turn.db, callback_data.generation)
    turn.out.add(callback.answer())
    if old is None or old.user_id != user.id:
        return
    model = app.settings.product.video_models.get(old.model) or app.model(app.settings.product.default_model)
    await _offer(user.id, turn, state, model=model, idea=old.idea, photo_file_id=old.photo_file_id, preset=old.preset)


def _remember_status_message(app: App, generation_id: int) -> Callable[[Any], Awaitable[None]]:
    """After a proposal went out as a fresh message, it is the one later edits must target."""

    async def remember(sent: Any) -> None:
        if isinstance(sent, Message):
            await db_generations.set_status_message(app.pool, generation_id, sent.message_id)

    return remember


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".rstrip("0").rstrip(".")
