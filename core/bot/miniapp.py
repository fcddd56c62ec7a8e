"""/app: a button that opens the Mini App (core/web/miniapp), where Telegram allows one: a web app
button needs an https address, so without one (a local run, long polling) the command says so."""

from __future__ import annotations

from aiogram.types import Message

from core.bot.turn import Turn
from core.pipeline.services import App
from core.ui.keyboards import app_keyboard
from core.ui.texts import text

APP_PATH = "/app"


def app_url(app: App) -> str | None:
    """The Mini App's address; None when PUBLIC_BASE_URL is not https (Telegram opens only https)."""
    base = app.settings.telegram.public_base_url
    return f"{base}{APP_PATH}" if base and str(base).startswith("https://") else None


async def on_app(message: Message, turn: Turn) -> None:
    url = app_url(turn.app)
    if url is None:
        turn.out.add(message.answer(text(turn.lang, "miniapp_command_no_https")))
        return
    turn.out.add(message.answer(text(turn.lang, "miniapp_command"), reply_markup=app_keyboard(turn.lang, url)))
