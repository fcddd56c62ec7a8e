"""The bot-wide Telegram sending budget, shared by every process, and the pace of status edits.

Telegram allows a bot about 30 messages a second in total; we keep to SEND_RATE (25). The policy:

- **Replies** to a user's own update count against the budget but never wait: a person who just
  wrote gets the answer at once, whatever the load (``note_reply``, counted locally and added to
  the shared count a window later, in one statement).
- **Bulk work** (anything a job sends: deliveries, status edits, broadcasts) waits for a slot
  (``wait``) and so fills whatever the replies leave. Under a webhook storm bulk sends slow down;
  replies never do. A caller that took its slot itself (a broadcast) is not charged again.
- **A 429 on a bulk send** pauses this process's bulk sends for its ``retry_after`` (``pause``).
- **A 429 on a reply** backs off that chat only (``ChatBackoff``): its later replies wait, and bulk
  sends to it are retried later, but nobody else waits. A user tapping a button fast enough to draw
  429s would otherwise stall every delivery, status edit and broadcast of the process.
- **Status edits** are bulk work too; their spacing is the pipeline's: a generation's status line
  ticks at most every 15 s, a chat's (all its generations together) at most every 3 s, and
  otherwise changes only when its stage does (``core/pipeline/status.py``, claimed in the
  database, so across processes).

How the budget is shared cheaply: time is cut into windows of WINDOW_S holding SEND_RATE·WINDOW_S
slots, counted in ``send_windows`` (one row per window). A process leases slots for as many
senders as are waiting, up to the window's size, with one upsert (no lock held past it), and hands
them out locally; a full window means sleeping until the next one. So a message costs no query of
its own: at most one lease per window per process. Windows are short so that a burst at the end
of one window and at the start of the next stays within Telegram's limit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from contextvars import ContextVar

import asyncpg
import structlog

from db import telegram as db_telegram

log = structlog.get_logger("telegram.limiter")

# Set when wait() handed the current context a slot; the session middleware spends it instead of
# waiting again (a broadcast takes its slot before claiming a recipient, then sends).
slot_taken: ContextVar[bool] = ContextVar("slot_taken", default=False)

SEND_RATE = 25  # per second, bot-wide; Telegram's own limit is about 30
WINDOW_S = 0.2  # 5 slots per window at 25/s
BUCKET = "telegram.send"
PRUNE_EVERY = 300  # leases; old windows are deleted now and then, not on every lease


class ChatBackoff:
    """Chats Telegram asked us to leave alone for a while: a 429 on a reply holds that chat alone."""

    MAX_CHATS = 10_000  # past this, chats whose back-off ended are forgotten

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[int, float] = {}

    def back_off(self, chat_id: int, seconds: float) -> None:
        now = self._clock()
        if len(self._until) >= self.MAX_CHATS:
            self._until = {chat: until for chat, until in self._until.items() if until > now}
        self._until[chat_id] = max(self._until.get(chat_id, 0.0), now + seconds)

    def remaining(self, chat_id: int | None) -> float:
        """Seconds until chat ``chat_id`` may be sent to again; 0 when it may now."""
        if chat_id is None or chat_id not in self._until:
            return 0.0
        left = self._until[chat_id] - self._clock()
        if left <= 0:
            del self._until[chat_id]
            return 0.0
        return left


class SendLimiter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        rate: int = SEND_RATE,
        window_s: float = WINDOW_S,
        bucket: str = BUCKET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._bucket = bucket
        self._window_s = window_s
        self._per_window = max(1, round(rate * window_s))
        self._clock = clock
        self._lock = asyncio.Lock()
        self._window = -1
        self._left = 0  # slots leased in self._window, not yet handed out
        self._full = False  # the shared window has nothing more to lease
        self._waiting = 0
        self._replies = 0  # sent without asking, not yet added to the shared count
        self._flusher: asyncio.Task[None] | None = None
        self._leases = 0
        self._paused_until = 0.0
        self.chats = ChatBackoff()  # chats held by a 429 on a reply; the session middleware keeps it

    async def wait(self) -> None:
        """Return once this process may send one bulk message. The slot is remembered in the
        caller's context, so the session middleware does not take a second one for that send."""
        self._waiting += 1
        try:
            async with self._lock:  # one leaser at a time; the others queue behind it in order
                while True:
                    if (pause := self._paused_until - self._clock()) > 0:  # Telegram said to wait
                        await asyncio.sleep(pause)
                        continue
                    window = self._current_window()
                    if window != self._window:
                        self._window, self._left, self._full = window, 0, False
                    if self._left == 0 and not self._full:
                        want = min(self._per_window, self._waiting)
                        self._left = await self._lease(window, want)
                        self._full = self._left < want
                    if self._left > 0:
                        self._left -= 1
                        slot_taken.set(True)
                        return
                    await asyncio.sleep(max(0.0, (window + 1) * self._window_s - self._clock()))
        finally:
            self._waiting -= 1

    def pause(self, seconds: float) -> None:
        """Telegram answered 429: no bulk message leaves this process for ``seconds``."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def note_reply(self) -> None:
        """A reply went out without waiting: count it against the shared budget, a window later."""
        self._replies += 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_replies(), name="telegram.limiter.replies")

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    def _current_window(self) -> int:
        return math.floor(self._clock() / self._window_s)

    async def _flush_replies(self) -> None:
        await asyncio.sleep(self._window_s)
        sent, self._replies = self._replies, 0
        try:
            await self._lease(self._current_window(), 0, sent)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("telegram.limiter.replies_uncounted", replies=sent, error=str(error) or type(error).__name__)

    async def _lease(self, window: int, want: int, sent: int = 0) -> int:
        sent, self._replies = sent + self._replies, 0  # replies ride along with any lease
        async with self._pool.acquire() as conn:
            granted = await db_telegram.lease_send_slots(conn, self._bucket, window, want, self._per_window, sent)
            self._leases += 1
            if self._leases % PRUNE_EVERY == 0:
                await db_telegram.prune_send_windows(conn, self._bucket, window - 100)
        return granted
