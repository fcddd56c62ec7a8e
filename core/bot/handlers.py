"""What the bot does with each message and button. Handlers only touch the database (through the
update's transaction, ``db``) and send short replies; anything slow is a job in the queue.

Besides aiogram's own, handlers receive ``app``, ``db`` (the update's connection), ``user`` (the
sender's row, refreshed by the update's first statement) and ``lang`` (their catalogue language)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.methods import SendMessage, SendVideo, TelegramMethod
from aiogram.types import CallbackQuery, ChatMemberUpdated, InlineKeyboardMarkup, Message

from core.bot.admin import build_admin_router
from core.bot.broadcast import build_broadcast_router
from core.bot.language import build_language_router, on_language
from core.bot.payments import build_payments_router, on_buy, on_paysupport, on_terms
from core.catalogue import VideoModel
from core.pipeline.accept import Accepted, Refused, accept
from core.pipeline.archive import video_link
from core.pipeline.refunds import cancel as cancel_generation
from core.pipeline.services import App
from core.stars import covering
from core.telegram.outbox import Outbox
from core.ui.keyboards import (
    Again,
    CancelGeneration,
    Confirm,
    Drop,
    PickModel,
    Resend,
    confirm_keyboard,
    history_keyboard,
    packages_keyboard,
)
from core.ui.status import status_text, status_view
from core.ui.texts import text
from db import generations as db_generations
from db import providers as db_providers
from db import users as db_users
from db.generations import Generation, Status

HISTORY_SIZE = 10


class Flow(StatesGroup):
    confirming = State()  # data: draft_id, the proposal on screen


# Filters are coroutines: aiogram runs a plain-function filter (a MagicFilter such as F.text) in a
# worker thread, one hop per filter per update, which costs more than the whole handler.


async def in_private_chat(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


async def is_command(message: Message) -> bool:
    return (message.text or "").startswith("/")


async def has_command_text(message: Message) -> bool:
    return (message.text or message.caption or "").startswith("/")


async def has_text(message: Message) -> bool:
    return message.text is not None


async def has_photo(message: Message) -> bool:
    return bool(message.photo)


def build_router() -> Router:
    """The routing table. Each router's filter is checked once, before its handlers, so an update
    visits as few handlers as possible (aiogram checks handlers one by one, at a cost per check):
    payment service messages, then admin commands (one check turns everyone else away; their
    commands fall through to the unknown-command reply), then every user command (one check skips
    them all for a plain message), then ideas, photos and buttons."""
    root = Router(name="reelsmith")
    root.message.filter(in_private_chat)
    admin = build_admin_router()
    admin.include_router(build_broadcast_router())  # behind the admin router's check
    root.include_routers(
        build_payments_router(),
        admin,
        build_commands_router(),
        build_language_router(),
        build_everyday_router(),
    )
    return root


def build_commands_router() -> Router:
    """User commands, the most used first. A caption such as "/start" under a photo counts as a
    command (aiogram's Command reads captions too); the unknown-command reply is for text only,
    so a photo whose caption starts with "/" falls through to the photo handler as before."""
    router = Router(name="commands")
    router.message.filter(has_command_text)
    router.message.register(on_start, CommandStart())
    router.message.register(on_balance, Command("balance"))
    router.message.register(on_help, Command("help"))
    router.message.register(on_buy, Command("buy"))
    router.message.register(on_history, Command("history"))
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_language, Command("language"))
    router.message.register(on_paysupport, Command("paysupport"))
    router.message.register(on_terms, Command("terms"))
    router.message.register(on_unknown_command, is_command)
    return router


def build_everyday_router() -> Router:
    router = Router(name="everyday")

    router.message.register(on_text, has_text)
    router.message.register(on_photo, has_photo)
    router.message.register(on_unsupported)

    router.callback_query.register(on_confirm, Confirm.filter())
    router.callback_query.register(on_drop, Drop.filter())
    router.callback_query.register(on_pick_model, PickModel.filter())
    router.callback_query.register(on_again, Again.filter())
    router.callback_query.register(on_resend, Resend.filter())
    router.callback_query.register(on_cancel_generation, CancelGeneration.filter())

    router.my_chat_member.register(on_membership)
    return router


# --- commands -------------------------------------------------------------------------------------


async def on_start(
    message: Message, app: App, db: asyncpg.Connection, user: asyncpg.Record, lang: str, out: Outbox
) -> None:
    starter = app.settings.product.starter_credits
    granted = starter > 0 and (await db_users.apply_credits(db, user["id"], starter, "starter", str(user["id"])))
    credits = granted if granted is not None and granted is not False else user["credits"]
    lines = [
        text(
            lang,
            "welcome",
            name=message.from_user.first_name if message.from_user else "",
            credits=credits,
            min_price=min(m.price for m in app.settings.product.video_models.values()),
        )
    ]
    if granted:
        lines.append(text(lang, "welcome_starter", starter=starter))
    out.add(message.answer("\n\n".join(lines)))


async def on_help(message: Message, lang: str, out: Outbox) -> None:
    out.add(message.answer(text(lang, "help")))


async def on_balance(message: Message, user: asyncpg.Record, lang: str, out: Outbox) -> None:
    out.add(message.answer(text(lang, "balance", credits=user["credits"])))


async def on_cancel(
    message: Message, db: asyncpg.Connection, user: asyncpg.Record, lang: str, state: FSMContext, out: Outbox
) -> None:
    dropped = await _drop_current_draft(db, user["id"], state)
    await state.clear()
    out.add(message.answer(text(lang, "cancelled" if dropped else "nothing_to_cancel")))


async def on_history(message: Message, db: asyncpg.Connection, user: asyncpg.Record, lang: str, out: Outbox) -> None:
    rows = await db_generations.history(db, user["id"], HISTORY_SIZE)
    if not rows:
        out.add(message.answer(text(lang, "history_empty")))
        return
    items = [(r["id"], r["finished_at"], r["idea"]) for r in rows]
    out.add(message.answer(text(lang, "history"), reply_markup=history_keyboard(lang, items)))


async def on_unknown_command(message: Message, lang: str, out: Outbox) -> None:
    out.add(message.answer(text(lang, "unknown_command")))


# --- ideas ----------------------------------------------------------------------------------------


async def on_text(
    message: Message, app: App, db: asyncpg.Connection, user: asyncpg.Record, lang: str, state: FSMContext, out: Outbox
) -> None:
    await _propose(message, app, db, user, lang, state, out=out, idea=message.text or "", photo_file_id=None)


async def on_photo(
    message: Message, app: App, db: asyncpg.Connection, user: asyncpg.Record, lang: str, state: FSMContext, out: Outbox
) -> None:
    assert message.photo, "registered only for messages with a photo (has_photo)"
    photo = message.photo[-1]  # the largest size
    if photo.file_size and photo.file_size > app.settings.product.photo_max_size:
        out.add(
            message.answer(
                text(
                    lang,
                    "photo_too_big",
                    size_mb=_mb(photo.file_size),
                    limit_mb=_mb(app.settings.product.photo_max_size),
                )
            )
        )
        return
    await _propose(
        message, app, db, user, lang, state, out=out, idea=message.caption or "", photo_file_id=photo.file_id
    )


async def on_unsupported(message: Message, lang: str, out: Outbox) -> None:
    out.add(message.answer(text(lang, "unsupported")))


async def _propose(
    message: Message,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    state: FSMContext,
    *,
    idea: str,
    photo_file_id: str | None,
    out: Outbox,
) -> None:
    idea = idea.strip()
    if len(idea) > app.settings.product.idea_max_length:
        out.add(
            message.answer(text(lang, "idea_too_long", length=len(idea), limit=app.settings.product.idea_max_length))
        )
        return
    model = app.model(app.settings.product.default_model)
    await _offer(
        message.chat.id, app, db, user, lang, state, out=out, model=model, idea=idea, photo_file_id=photo_file_id
    )


async def _offer(
    chat_id: int,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    state: FSMContext,
    *,
    model: VideoModel,
    idea: str,
    photo_file_id: str | None,
    out: Outbox,
) -> None:
    """A new draft, shown with its price and buttons, replacing the user's open one. The proposal
    goes out after the commit; its message id is recorded then (a confirm records it too)."""
    await _drop_current_draft(db, user["id"], state)
    provider = app.provider(model).name
    draft = await db_generations.create_draft(
        db, user["id"], chat_id, model.id, model.price, idea, photo_file_id, secrets.token_urlsafe(24), provider
    )

    async def remember(sent: Message) -> None:
        await db_generations.set_status_message(app.pool, draft.id, sent.message_id)

    proposal = SendMessage(
        chat_id=chat_id,
        text=await _proposal_text(db, app, lang, draft, user["credits"]),
        reply_markup=confirm_keyboard(lang, draft, app.settings.product.video_models.values()),
    )
    out.add(proposal, then=remember)
    await state.set_state(Flow.confirming)
    await state.set_data({"draft_id": draft.id})


async def _proposal_text(db: asyncpg.Connection, app: App, lang: str, draft: Generation, credits: int) -> str:
    """The proposal; while the model's provider is down it says so (confirming then queues the video)."""
    if draft.photo_file_id:
        idea = text(lang, "confirm_photo_idea", idea=draft.idea) if draft.idea else text(lang, "confirm_photo_only")
    else:
        idea = draft.idea
    model = app.model(draft.model)
    words = text(lang, "confirm", idea=idea, model=model.title, price=draft.price, credits=credits)
    health = await db_providers.get(db, app.provider(model).name)
    if health.account_problem:
        return f"{words}\n\n⚠️ {text(lang, 'service_unavailable')}"
    if not health.available:
        return f"{words}\n\n{text(lang, 'proposal_provider_down')}"
    return words


async def _drop_current_draft(db: asyncpg.Connection, user_id: int, state: FSMContext) -> bool:
    draft_id = (await state.get_data()).get("draft_id")
    return draft_id is not None and await db_generations.discard(db, draft_id, user_id) is not None


# --- buttons --------------------------------------------------------------------------------------


async def on_confirm(
    callback: CallbackQuery,
    callback_data: Confirm,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    state: FSMContext,
    out: Outbox,
) -> None:
    result = await accept(db, app, callback_data.draft, user["id"])
    if isinstance(result, Refused) and result.key == "not_enough_credits":
        # One tap from an invoice: the packages that would cover the price.
        price, credits = int(str(result.params["price"])), int(str(result.params["credits"]))
        packages = covering(app.settings.product.credit_packages, price - credits)
        out.add(callback.answer())
        offer = text(lang, "not_enough_credits_offer", price=price, credits=credits)
        out.add(SendMessage(chat_id=user["id"], text=offer, reply_markup=packages_keyboard(lang, packages)))
        return
    if not isinstance(result, Accepted):
        out.add(callback.answer(text(lang, result.key, **result.params), show_alert=True))
        return
    await state.clear()
    stage = "waiting" if result.waiting else "queued"
    await db_generations.claim_status_edit(db, result.generation.id, 0, True, stage)
    out.add(callback.answer())
    status = status_view(
        lang,
        result.generation,
        stage,
        model_title=app.model(result.generation.model).title,
        position=result.position,
        eta_s=result.eta_s,
    )
    if isinstance(callback.message, Message):
        await db_generations.set_status_message(db, result.generation.id, callback.message.message_id)
        out.add(callback.message.edit_text(status.text, reply_markup=status.keyboard))
        return

    async def remember(sent: Message) -> None:
        await db_generations.set_status_message(app.pool, result.generation.id, sent.message_id)

    out.add(
        SendMessage(chat_id=result.generation.chat_id, text=status.text, reply_markup=status.keyboard), then=remember
    )


async def on_cancel_generation(
    callback: CallbackQuery,
    callback_data: CancelGeneration,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    out: Outbox,
) -> None:
    """Cancel a paid generation that has not reached the provider yet: a full refund."""
    cancelled = await cancel_generation(db, callback_data.generation, user["id"])
    if cancelled is None:
        generation = await db_generations.get(db, callback_data.generation)
        mine = generation is not None and generation.user_id == user["id"]
        key = "cancel_too_late" if mine and generation is not None and generation.unfinished else "draft_gone"
        out.add(callback.answer(text(lang, key), show_alert=True))
        return
    generation, credits = cancelled
    await db_generations.claim_status_edit(db, generation.id, 0, True, "cancelled")
    out.add(callback.answer())
    words = status_text(lang, generation, "cancelled", model_title=app.model(generation.model).title, credits=credits)
    out.add(_edit_or_send(callback, words))


async def on_drop(
    callback: CallbackQuery,
    callback_data: Drop,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    state: FSMContext,
    out: Outbox,
) -> None:
    dropped = await db_generations.discard(db, callback_data.draft, user["id"])
    await state.clear()
    out.add(callback.answer())
    if dropped is not None:
        out.add(_edit_or_send(callback, text(lang, "cancelled")))


async def on_pick_model(
    callback: CallbackQuery,
    callback_data: PickModel,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    out: Outbox,
) -> None:
    model = app.settings.product.video_models.get(callback_data.model)
    draft = model and await db_generations.set_model(
        db, callback_data.draft, user["id"], model.id, model.price, app.provider(model).name
    )
    if not draft:
        out.add(callback.answer(text(lang, "draft_gone"), show_alert=True))
        return
    out.add(callback.answer(text(lang, "model_changed")))
    out.add(
        _edit_or_send(
            callback,
            await _proposal_text(db, app, lang, draft, user["credits"]),
            confirm_keyboard(lang, draft, app.settings.product.video_models.values()),
        ),
        then=_remember_status_message(app, draft.id),
    )


async def on_again(
    callback: CallbackQuery,
    callback_data: Again,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    state: FSMContext,
    out: Outbox,
) -> None:
    """Regenerate: the same idea (and photo) as a new proposal, priced again."""
    old = await db_generations.get(db, callback_data.generation)
    out.add(callback.answer())
    if old is None or old.user_id != user["id"]:
        return
    model = app.settings.product.video_models.get(old.model) or app.model(app.settings.product.default_model)
    await _offer(
        user["id"], app, db, user, lang, state, out=out, model=model, idea=old.idea, photo_file_id=old.photo_file_id
    )


async def on_resend(
    callback: CallbackQuery,
    callback_data: Resend,
    app: App,
    db: asyncpg.Connection,
    user: asyncpg.Record,
    lang: str,
    out: Outbox,
) -> None:
    """A video again: by its Telegram file_id, or (one sent as a link) by a fresh link to the archive."""
    generation = await db_generations.get(db, callback_data.generation)
    if generation is None or generation.user_id != user["id"] or generation.status != Status.DONE:
        out.add(callback.answer())
        out.add(SendMessage(chat_id=user["id"], text=text(lang, "history_gone")))
        return
    if generation.video_file_id:
        out.add(callback.answer())
        caption = text(lang, "video_caption", idea=generation.idea)
        out.add(SendVideo(chat_id=user["id"], video=generation.video_file_id, caption=caption))
        return

    async def send_link(_answered: object) -> None:
        # Asking the archive is a network call: it happens after the commit, like every reply.
        link = await video_link(app.storage, user_id=generation.user_id, generation_id=generation.id)
        words = text(lang, "video_link", url=link) if link else text(lang, "history_gone")
        await app.bot.send_message(user["id"], words)

    out.add(callback.answer(), then=send_link)


async def on_membership(event: ChatMemberUpdated, db: asyncpg.Connection) -> None:
    """A private chat's member update says the user blocked (kicked) or unblocked the bot."""
    if event.chat.type == ChatType.PRIVATE:
        await db_users.set_blocked(db, event.chat.id, event.new_chat_member.status == "kicked")


def _edit_or_send(
    callback: CallbackQuery, new_text: str, markup: InlineKeyboardMarkup | None = None
) -> TelegramMethod[Any]:
    """Edit the message under the button; one Telegram no longer lets bots edit (older than 48 h,
    an ``InaccessibleMessage``) is answered with a fresh message instead."""
    if isinstance(callback.message, Message):
        return callback.message.edit_text(new_text, reply_markup=markup)
    return SendMessage(chat_id=callback.from_user.id, text=new_text, reply_markup=markup)


def _remember_status_message(app: App, generation_id: int) -> Callable[[Any], Awaitable[None]]:
    """After a proposal went out as a fresh message, it is the one later edits must target."""

    async def remember(sent: Any) -> None:
        if isinstance(sent, Message):
            await db_generations.set_status_message(app.pool, generation_id, sent.message_id)

    return remember


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".rstrip("0").rstrip(".")
