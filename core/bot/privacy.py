"""/privacy says what is kept and for how long; /deletemydata, once confirmed with its button,
erases what the user wrote, sent and is called.

Erasing runs in the tap's transaction: generations still waiting for the provider are cancelled
and refunded (core/pipeline/refunds.py), then sql/privacy.sql ``privacy_erase`` scrubs the rest.
A generation already at the provider (rendering, being delivered) cannot be called back: while one
is, nothing is erased and the user is asked to tap again when it ended, a few minutes at most, so
a video never arrives for a user whose data is gone. What accounting needs stays: the ledger and
the payments, tied to the numeric id that the tombstone row keeps, which is also why a second
/start grants no starter credits. Archived photos and videos go in a job after the commit
(``privacy.erase``), since storage is a network call."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from core.bot.turn import Turn
from core.pipeline.erasure import erase
from core.telegram.replies import EditOrSend
from core.ui.keyboards import EraseData, erase_keyboard
from core.ui.texts import text


def build_privacy_router() -> Router:
    router = Router(name="privacy")
    router.callback_query.register(on_erase, EraseData.filter())
    return router


async def on_privacy(message: Message, turn: Turn) -> None:
    days = turn.app.settings.product.retention_days
    turn.out.add(message.answer(text(turn.lang, "privacy", days=days)))


async def on_deletemydata(message: Message, turn: Turn) -> None:
    turn.out.add(message.answer(text(turn.lang, "erase_confirm"), reply_markup=erase_keyboard(turn.lang)))


async def on_erase(callback: CallbackQuery, turn: Turn, state: FSMContext) -> None:
    lang = turn.lang
    refunded = await erase(turn.db, turn.app, turn.user.id)
    if refunded is None:
        turn.out.add(callback.answer(text(lang, "erase_busy"), show_alert=True))
        return
    await state.clear()
    turn.out.add(callback.answer())
    turn.out.add(EditOrSend.under(callback, text(lang, "erased", refunded=refunded)))
