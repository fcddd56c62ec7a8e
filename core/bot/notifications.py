"""/notifications on | off: the user's switch for the nudges (core/pipeline/nudges.py). Without a word,
or with one it does not know, it says which way the switch is and how to flip it. Routed with the
other user commands (core/bot/commands.py)."""

from __future__ import annotations

from aiogram.filters import CommandObject
from aiogram.types import Message

from core.bot.turn import Turn
from core.ui.texts import text
from db import nudges as db_nudges

# What a user may type after the command, in either language we speak.
SWITCH = {"on": True, "off": False, "вкл": True, "выкл": False}


async def on_notifications(message: Message, command: CommandObject, turn: Turn) -> None:
    wanted = SWITCH.get((command.args or "").strip().lower())
    if wanted is None:
        on = await db_nudges.notifications(turn.db, turn.user.id)
    else:
        on = wanted
        await db_nudges.set_notifications(turn.db, turn.user.id, on)
    turn.out.add(message.answer(text(turn.lang, "notifications_on" if on else "notifications_off")))
