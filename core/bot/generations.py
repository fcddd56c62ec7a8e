"""The buttons on a generation: confirm (the proposal is charged and becomes the generation's status
message), cancel (refunded while it has not reached the provider) and resend (a finished video again)."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage, SendVideo
from aiogram.types import CallbackQuery, Message

from core.bot.turn import Turn
from core.pipeline.accept import Accepted, Refused, accept
from core.pipeline.archive import video_link
from core.pipeline.refunds import cancel as cancel_generation
from core.stars import covering
from core.telegram.replies import EditOrSend
from core.ui.keyboards import CancelGeneration, Confirm, Resend, packages_keyboard
from core.ui.status import status_text, status_view
from core.ui.texts import text
from db import generations as db_generations
from db.generations import Status


def build_generations_router() -> Router:
    router = Router(name="generations")
    router.callback_query.register(on_confirm, Confirm.filter())
    router.callback_query.register(on_resend, Resend.filter())
    router.callback_query.register(on_cancel_generation, CancelGeneration.filter())
    return router


async def on_confirm(callback: CallbackQuery, callback_data: Confirm, turn: Turn, state: FSMContext) -> None:
    result = await accept(turn.db, turn.app, callback_data.draft, turn.user.id)
    if isinstance(result, Refused) and result.key == "not_enough_credits":
        turn.out.add(callback.answer())
        turn.out.add(_packages_offer(turn, int(str(result.params["price"])), int(str(result.params["credits"]))))
    elif isinstance(result, Refused):
        turn.out.add(callback.answer(text(turn.lang, result.key, **result.params), show_alert=True))
    else:
        await state.clear()
        turn.out.add(callback.answer())
        await _show_status(callback, turn, result)


def _packages_offer(turn: Turn, price: int, credits: int) -> SendMessage:
    """One tap from an invoice: the packages that would cover the price."""
    packages = covering(turn.app.settings.product.credit_packages, price - credits)
    offer = text(turn.lang, "not_enough_credits_offer", price=price, credits=credits)
    return SendMessage(chat_id=turn.user.id, text=offer, reply_markup=packages_keyboard(turn.lang, packages))


async def _show_status(callback: CallbackQuery, turn: Turn, accepted: Accepted) -> None:
    """The proposal becomes the generation's status message (a new message when it cannot be edited)."""
    app, generation = turn.app, accepted.generation
    stage = "waiting" if accepted.waiting else "queued"
    await db_generations.claim_status_edit(turn.db, generation.id, 0, True, stage)
    title = app.model(generation.model).title
    status = status_view(
        turn.lang, generation, stage, model_title=title, position=accepted.position, eta_s=accepted.eta_s
    )
    proposal = callback.message.message_id if isinstance(callback.message, Message) else None
    if proposal is not None:
        # Recorded with the charge, so the pipeline edits this message from its first step.
        await db_generations.set_status_message(turn.db, generation.id, proposal)

    async def remember(sent: Message | None) -> None:
        if sent is not None:  # the proposal could not be edited: the new message is the status
            await db_generations.set_status_message(app.pool, generation.id, sent.message_id)

    turn.out.add(EditOrSend(generation.chat_id, proposal, status.text, status.keyboard), then=remember)


async def on_cancel_generation(callback: CallbackQuery, callback_data: CancelGeneration, turn: Turn) -> None:
    """Cancel a paid generation that has not reached the provider yet: a full refund."""
    user, lang = turn.user, turn.lang
    cancelled = await cancel_generation(turn.db, callback_data.generation, user.id)
    if cancelled is None:
        generation = await db_generations.get(turn.db, callback_data.generation)
        mine = generation is not None and generation.user_id == user.id
        key = "cancel_too_late" if mine and generation is not None and generation.unfinished else "draft_gone"
        turn.out.add(callback.answer(text(lang, key), show_alert=True))
        return
    generation, credits = cancelled
    await db_generations.claim_status_edit(turn.db, generation.id, 0, True, "cancelled")
    turn.out.add(callback.answer())
    title = turn.app.model(generation.model).title
    words = status_text(lang, generation, "cancelled", model_title=title, credits=credits)
    turn.out.add(EditOrSend.under(callback, words))


async def on_resend(callback: CallbackQuery, callback_data: Resend, turn: Turn) -> None:
    """A video again: by its Telegram file_id, or (one sent as a link) by a fresh link to the archive."""
    app, user, lang, out = turn.app, turn.user, turn.lang, turn.out
    generation = await db_generations.get(turn.db, callback_data.generation)
    if generation is None or generation.user_id != user.id or generation.status != Status.DONE:
        out.add(callback.answer())
        out.add(SendMessage(chat_id=user.id, text=text(lang, "history_gone")))
        return
    if generation.video_file_id:
        out.add(callback.answer())
        caption = text(lang, "video_caption", idea=generation.idea)
        out.add(SendVideo(chat_id=user.id, video=generation.video_file_id, caption=caption))
        return

    async def send_link(_answered: object) -> None:
        # Asking the archive is a network call: it happens after the commit, like every reply.
        link = await video_link(app.storage, user_id=generation.user_id, generation_id=generation.id)
        words = text(lang, "video_link", url=link) if link else text(lang, "history_gone")
        await app.bot.send_message(user.id, words)

    out.add(callback.answer(), then=send_link)
