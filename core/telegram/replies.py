"""Editing a message the bot sent, and a new message when Telegram will not edit it.

Telegram says why an edit failed only in its error's description. Those words are read here and
nowhere else: "message is not modified" (it already reads so: done, no error), and the reasons it
will never edit a message (deleted, too old, not the bot's to edit), which ``edit_or_send`` answers
with a fresh message. Any other refusal (a bad text, a bad keyboard) is a bug and is raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

NOT_MODIFIED = "message is not modified"
# Telegram's descriptions (after "Bad Request: ") of an edit it will never make.
CANNOT_EDIT = (
    "message to edit not found",  # deleted
    "message can't be edited",  # older than 48 h, or not the bot's
    "MESSAGE_ID_INVALID",
    "there is no text in the message to edit",  # a photo or a video: its caption is no text
    "not enough rights",
    "CHAT_ADMIN_REQUIRED",
)


def not_modified(error: TelegramBadRequest) -> bool:
    """The edit changed nothing: the message already read so."""
    return NOT_MODIFIED in error.message


def cannot_edit(error: TelegramBadRequest) -> bool:
    """Telegram will never make this edit; a new message is the way to say it."""
    return any(reason in error.message for reason in CANNOT_EDIT)


async def edit(
    bot: Bot, chat_id: int, message_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Make a message read ``text``; one that already does is no error. Raises what Telegram refused."""
    try:
        await bot(EditMessageText(chat_id=chat_id, message_id=message_id, text=text, reply_markup=reply_markup))
    except TelegramBadRequest as error:
        if not not_modified(error):
            raise


async def edit_or_send(
    bot: Bot, chat_id: int, message_id: int | None, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Edit the message, or send ``text`` as a new one when there is none to edit (``message_id``
    None) or Telegram will not edit it. Returns the new message; None when the old one was edited."""
    if message_id is not None:
        try:
            await edit(bot, chat_id, message_id, text, reply_markup)
            return None
        except TelegramBadRequest as error:
            if not cannot_edit(error):
                raise
    return await bot(SendMessage(chat_id=chat_id, text=text, reply_markup=reply_markup))


@dataclass(frozen=True, slots=True)
class EditOrSend:
    """``edit_or_send`` as a reply a handler queues in its outbox (core/telegram/outbox.py); the
    outbox's ``then`` gets the new message, or None when the old one was edited."""

    __api_method__: ClassVar[str] = "editMessageText"  # what the outbox's logs call it

    chat_id: int
    message_id: int | None  # None: nothing to edit, send at once
    text: str
    reply_markup: InlineKeyboardMarkup | None = None

    @classmethod
    def under(cls, callback: CallbackQuery, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> EditOrSend:
        """For the message under a button. One Telegram no longer shows the bot (older than 48 h, an
        ``InaccessibleMessage``) is not tried: a new message goes to the chat at once."""
        message = callback.message
        if isinstance(message, Message):
            return cls(message.chat.id, message.message_id, text, reply_markup)
        return cls(callback.from_user.id, None, text, reply_markup)

    async def send(self, bot: Bot) -> Message | None:
        return await edit_or_send(bot, self.chat_id, self.message_id, self.text, self.reply_markup)
