"""Inline keyboards and the callback data behind their buttons."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, MenuButtonWebApp, WebAppInfo

from core.catalogue import VideoModel
from core.growth import Preset, find_preset, share_link
from core.stars import Package
from core.ui.texts import preset_name, text
from db.generations import Generation


class Confirm(CallbackData, prefix="go"):
    draft: int


class Drop(CallbackData, prefix="drop"):
    draft: int


class PickModel(CallbackData, prefix="model"):
    draft: int
    model: str


class PickLength(CallbackData, prefix="len"):
    draft: int
    seconds: int


class PickPreset(CallbackData, prefix="style"):
    """A style on the proposal; tapping the chosen one again clears it. At most 6 + 20 + 1 + 24 = 51 bytes of
    Telegram's 64 (a bigint draft id, a preset id of at most 24 characters: core/growth.parse_presets)."""

    draft: int
    preset: str


class Again(CallbackData, prefix="again"):
    generation: int


class Resend(CallbackData, prefix="send"):
    generation: int


class CancelGeneration(CallbackData, prefix="stop"):
    generation: int


def _button(label: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=data.pack())


def confirm_keyboard(
    lang: str, draft: Generation, models: Iterable[VideoModel], presets: Iterable[Preset] = ()
) -> InlineKeyboardMarkup:
    """Confirm at the draft's price; the lengths of its model (priced per second), each with its price;
    the other models at their first price; the styles (PRESETS, the chosen one marked); cancel."""
    models = list(models)
    current = next((m for m in models if m.id == draft.model), None)
    lengths = [
        _button(
            text(lang, "button_length_chosen" if s == draft.duration_s else "button_length", seconds=s, price=price),
            PickLength(draft=draft.id, seconds=s),
        )
        for s in (current.durations if current else ())
        if (price := current and current.price_for(s)) is not None
    ]
    others = [
        _button(text(lang, "button_model", model=m.title, price=m.price), PickModel(draft=draft.id, model=m.id))
        for m in models
        if m.id != draft.model
    ]
    rows = [[_button(text(lang, "button_confirm", price=draft.price), Confirm(draft=draft.id))]]
    rows += [lengths[i : i + 3] for i in range(0, len(lengths), 3)]
    rows += [others[i : i + 2] for i in range(0, len(others), 2)]
    styles = [
        _button(
            text(lang, "button_preset_chosen" if p.id == draft.preset else "button_preset", name=preset_name(lang, p)),
            PickPreset(draft=draft.id, preset=p.id),
        )
        for p in presets
    ]
    rows += [styles[i : i + 3] for i in range(0, len(styles), 3)]
    rows.append([_button(text(lang, "button_cancel"), Drop(draft=draft.id))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def regenerate_keyboard(lang: str, generation_id: int, share_query: str | None = None) -> InlineKeyboardMarkup:
    """Under a delivered video: regenerate, and (``share_query`` not None: the video is held by Telegram, so
    inline mode can offer it) Share, which opens inline mode in a chat the user picks with ``share_query``
    typed after the bot's name (core/bot/sharing.py answers it)."""
    row = [_button(text(lang, "button_regenerate"), Again(generation=generation_id))]
    if share_query is not None:
        row.append(InlineKeyboardButton(text=text(lang, "button_share"), switch_inline_query=share_query))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def share_query(idea: str, limit: int = 48) -> str:
    """What the Share button types after the bot's name: the idea's first whole words, so the inline query
    (which matches ideas with those words in order) offers this video first; empty (all of them) for a
    photo alone."""
    query = ""
    for word in idea.split():
        longer = f"{query} {word}".strip()
        if len(longer) > limit:
            break
        query = longer
    return query


def make_your_own_keyboard(lang: str, link: str) -> InlineKeyboardMarkup:
    """Under a video shared through inline mode: ``link`` opens the bot with the sharer's invitation."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text(lang, "button_make_your_own"), url=link)]]
    )


def cancel_generation_keyboard(lang: str, generation_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(text(lang, "button_cancel_generation"), CancelGeneration(generation=generation_id))]]
    )


def history_keyboard(
    lang: str, rows: Iterable[tuple[int, datetime, str, str | None]], presets: Iterable[Preset] = ()
) -> InlineKeyboardMarkup:
    """rows: (generation id, when it was made, idea, preset id); a preset shows by its name in PRESETS."""
    presets = tuple(presets)
    buttons = []
    for gid, when, idea, preset_id in rows:
        preset = find_preset(presets, preset_id)
        key, extra = (
            ("button_history_item_preset", {"preset": preset_name(lang, preset)})
            if preset
            else ("button_history_item", {})
        )
        buttons.append([_button(text(lang, key, when=when, idea=_short(idea), **extra), Resend(generation=gid))])
    return InlineKeyboardMarkup(inline_keyboard=buttons)


def _short(idea: str, limit: int = 32) -> str:
    idea = " ".join(idea.split()) or "📷"
    return idea if len(idea) <= limit else idea[: limit - 1] + "…"


class BuyPackage(CallbackData, prefix="buy"):
    credits: int
    stars: int


class SetLanguage(CallbackData, prefix="lang"):
    language: str


def packages_keyboard(lang: str, packages: Iterable[Package]) -> InlineKeyboardMarkup:
    """One button per package; a tap sends its invoice."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    text(lang, "button_package", credits=p.credits, stars=p.stars),
                    BuyPackage(credits=p.credits, stars=p.stars),
                )
            ]
            for p in packages
        ]
    )


def language_keyboard(languages: Iterable[str]) -> InlineKeyboardMarkup:
    """Each language named in itself."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(text(code, "language_name"), SetLanguage(language=code))] for code in languages]
    )


class ContactSupport(CallbackData, prefix="support"):
    pass


def support_keyboard(lang: str) -> InlineKeyboardMarkup:
    """Under a receipt, a failure and an operator's answer: the user's next message goes to support."""
    return InlineKeyboardMarkup(inline_keyboard=[[_button(text(lang, "button_support"), ContactSupport())]])


class EraseData(CallbackData, prefix="erase"):
    pass


def erase_keyboard(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_button(text(lang, "button_erase"), EraseData())]])


class RefundCharge(CallbackData, prefix="refund"):
    """An admin's answer to a refund's preview: ``digest`` names the charge (db.payments.digest)."""

    digest: str
    go: bool


def refund_keyboard(lang: str, charge_digest: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(text(lang, "button_refund"), RefundCharge(digest=charge_digest, go=True)),
                _button(text(lang, "button_cancel"), RefundCharge(digest=charge_digest, go=False)),
            ]
        ]
    )


class BroadcastSend(CallbackData, prefix="bcast"):
    """An admin's answer to a broadcast's preview: send ``message`` of ``chat`` to everyone, or not."""

    chat: int
    message: int
    go: bool


def broadcast_keyboard(lang: str, chat_id: int, message_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(text(lang, "button_send"), BroadcastSend(chat=chat_id, message=message_id, go=True)),
                _button(text(lang, "button_cancel"), BroadcastSend(chat=chat_id, message=message_id, go=False)),
            ]
        ]
    )


# --- Mini App ---


def app_keyboard(lang: str, url: str) -> InlineKeyboardMarkup:
    """/app's button: opens the Mini App at ``url`` (an https address, as Telegram requires)."""
    button = InlineKeyboardButton(text=text(lang, "miniapp_command_button"), web_app=WebAppInfo(url=url))
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def app_menu_button(url: str) -> MenuButtonWebApp:
    """The chat's menu button (one for everyone, so in the default language): opens the Mini App."""
    return MenuButtonWebApp(text=text("en", "miniapp_menu_button"), web_app=WebAppInfo(url=url))


def invite_keyboard(lang: str, link: str) -> InlineKeyboardMarkup:
    """/invite: one button that opens Telegram's share sheet with the link and a line about the bot."""
    share = share_link(link, text(lang, "invite_share_text"))
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text(lang, "button_share_link"), url=share)]]
    )
