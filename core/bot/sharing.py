"""Sharing through inline mode: typing ``@<bot> words`` in any chat (or the Share button under a
delivered video, which types it) offers the user's OWN delivered videos whose idea has the words, in
order, newest first. Each is sent by its Telegram file_id, with its idea as the caption and a "Make your own"
button that deep-links to the bot with the sharer's invitation payload (core/growth.invite_link).

The answer is personal (``is_personal``: Telegram caches it for this user only) and cached briefly, so
a video delivered a moment ago shows up; the database query takes only the sender's rows, so another
user's query never sees them. More than a page (50, Telegram's limit) pages on with ``next_offset``.
Nothing to offer: a button that opens the bot's chat to make a first video. Someone who never wrote to
the bot (who tapped "via @bot" on a shared video, say) gets only that button and no users row
(update_begin, core/bot/updates.py), so their /start is still their first contact, where an invitation
counts.

Inline queries come through the same update processor as messages (core/bot/updates.py): recorded
once by update_id, refused while the user floods (they do not count as messages: one is sent per
pause in typing) or is banned.
"""

from __future__ import annotations

from datetime import date, datetime

from aiogram import Router
from aiogram.methods import AnswerInlineQuery
from aiogram.types import InlineQuery, InlineQueryResultCachedVideo, InlineQueryResultsButton, InlineQueryResultUnion

from core.bot.turn import Turn
from core.growth import Preset, find_preset, invite_link
from core.ui.keyboards import make_your_own_keyboard
from core.ui.texts import preset_name, text
from db import generations as db_generations
from db.generations import Delivered

PAGE = 50  # Telegram takes at most 50 results per answer
CACHE_TIME_S = 10  # short: a video just delivered appears on the next query
MAX_OFFSET = 100_000  # pages beyond it are junk, not a user's videos
EMPTY_START = "inline"  # the /start payload of the "Make a video" button: a plain /start
_TITLE = 64


def build_sharing_router() -> Router:
    router = Router(name="sharing")
    router.inline_query.register(on_inline_query)
    return router


def read_offset(offset: str) -> int:
    """The page's first row from ``offset`` (ours: ASCII digits); anything else starts at the top."""
    ours = offset.isascii() and offset.isdecimal() and len(offset) <= 6
    return int(offset) if ours and int(offset) <= MAX_OFFSET else 0


def pattern_of(query: str) -> str:
    """The ILIKE pattern an idea must match: the query's words in order, anything between them (so any
    spacing or line break in the idea matches); '' for no words. LIKE's own characters are escaped, so
    "100%" is looked for, not everything. Telegram caps a query at 256 characters."""
    words = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in query[:256].split()]
    return f"%{'%'.join(words)}%" if words else ""


async def on_inline_query(query: InlineQuery, turn: Turn) -> None:
    skip = read_offset(query.offset)
    found = await db_generations.shareable(turn.db, turn.user.id, pattern_of(query.query), PAGE + 1, skip)
    page, more = found[:PAGE], len(found) > PAGE
    bot = await turn.app.bot_username()
    shared = _Shared(turn.lang, bot, turn.app.settings.growth.presets, invite_link(bot, turn.user.id))
    results: list[InlineQueryResultUnion] = [shared.result(video) for video in page]
    button = _make_a_video(turn.lang) if not results and skip == 0 else None
    turn.out.add(
        query.answer(
            results,
            cache_time=CACHE_TIME_S,
            is_personal=True,
            next_offset=str(skip + PAGE) if more else "",
            button=button,
        )
    )


def newcomer_answer(query: InlineQuery, lang: str) -> AnswerInlineQuery:
    """For someone who never wrote to the bot (no row, none made: core/bot/updates.py): nothing of theirs
    to share, only the button that opens the bot."""
    return query.answer([], cache_time=CACHE_TIME_S, is_personal=True, button=_make_a_video(lang))


def _make_a_video(lang: str) -> InlineQueryResultsButton:
    """Above an answer with nothing to share: opens the bot's chat (a plain /start) to make a first video."""
    return InlineQueryResultsButton(text=text(lang, "share_empty_button"), start_parameter=EMPTY_START)


class _Shared:
    """What the results of one answer share, made once per answer rather than per video: the "Make your
    own" keyboard and each day's words (a page of 50 cost 4.3 ms to build before, measured in-process)."""

    def __init__(self, lang: str, bot: str, presets: tuple[Preset, ...], link: str) -> None:
        self.lang, self.bot, self.presets = lang, bot, presets
        self.keyboard = make_your_own_keyboard(lang, link)
        self._days: dict[date, str] = {}

    def made_on(self, when: datetime) -> str:
        day = when.date()
        if day not in self._days:
            self._days[day] = text(self.lang, "share_description", when=when)
        return self._days[day]

    def result(self, video: Delivered) -> InlineQueryResultCachedVideo:
        """One video: sent by its file_id, captioned in the sharer's language, with their invitation."""
        idea = " ".join(video.idea.split())
        title = idea if len(idea) <= _TITLE else idea[: _TITLE - 1] + "…"
        preset = find_preset(self.presets, video.preset)
        description = self.made_on(video.finished_at)
        if preset is not None:
            description = f"{description} · {preset_name(self.lang, preset)}"
        caption = text(self.lang, "share_caption", idea=video.idea[:900] or "📷", bot=self.bot)
        return InlineQueryResultCachedVideo(
            id=f"g{video.id}",
            video_file_id=video.video_file_id or "",
            title=title or text(self.lang, "share_untitled", when=video.finished_at),
            description=description,
            caption=caption[:1024],
            reply_markup=self.keyboard,
        )
