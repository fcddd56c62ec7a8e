"""structlog set-up: JSON lines for machines, readable lines with markers for people.

Event names are dotted (``queue.job.succeeded``) and the data goes in fields. A marker says what
kind of line it is: 💥 critical, ❌ error, ⚠️ warning, and on info lines 🚀 for things starting
and ✅ for things done, chosen by the event name's last word. On console lines it leads the event;
on JSON lines it is the ``marker`` field, so the event name stays exact for filters. Every rendered line passes
through a scrubber that replaces the configured secrets, whatever field or traceback they hit.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog

_LEVEL_MARKERS = {"critical": "💥", "error": "❌", "warning": "⚠️", "exception": "❌"}
_START_WORDS = {"start", "starting", "started", "boot"}
_DONE_WORDS = {"ready", "done", "succeeded", "ok", "applied", "stopped", "delivered", "set"}


def marker(level: str, event: str) -> str | None:
    if level in _LEVEL_MARKERS:
        return _LEVEL_MARKERS[level]
    last_word = event.rsplit(".", 1)[-1]
    if last_word in _START_WORDS:
        return "🚀"
    if last_word in _DONE_WORDS:
        return "✅"
    return None


def _add_marker(_logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    mark = marker(event_dict.get("level", method), str(event_dict.get("event", "")))
    if mark:
        event_dict["event"] = f"{mark} {event_dict['event']}"
    return event_dict


def _add_marker_field(_logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """JSON lines keep the marker in a field of its own: the event name stays exact for filters."""
    mark = marker(event_dict.get("level", method), str(event_dict.get("event", "")))
    if mark:
        event_dict["marker"] = mark
    return event_dict


class SecretScrubber:
    """Last processor: replaces every secret in the rendered line with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in [*self.secrets, *secrets] if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, _logger: Any, _method: str, line: str) -> str:
        return self.redact(line)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


scrubber = SecretScrubber()


def redact(text: str) -> str:
    """``text`` without the configured secrets: for error texts stored in rows, not only in logs."""
    return scrubber.redact(text)


def wants_json(log_format: str, stream: TextIO) -> bool:
    return log_format == "json" or (log_format == "auto" and not stream.isatty())


def configure_logging(
    level: str = "info",
    log_format: str = "auto",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    cache: bool = True,
) -> None:
    stream = stream or sys.stderr
    scrubber.update(secrets)
    as_json = wants_json(log_format, stream)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:
        tail: list[Any] = [
            _add_marker_field,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
    else:
        tail = [_add_marker, structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    # The scrubber runs after the renderer, on the rendered line: structlog's Processor type (an event
    # dict in) cannot say that, hence the list of Any.
    chain: list[Any] = [*shared, *tail, scrubber]
    structlog.configure(
        processors=chain,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=cache,
    )
    _route_stdlib_logging(level, shared, tail, stream)


def _route_stdlib_logging(level: str, shared: list[Any], tail: list[Any], stream: TextIO) -> None:
    """aiohttp, aiogram and asyncpg log through the standard library; give them the same format."""
    handler = logging.StreamHandler(stream)
    chain: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, scrubber]  # see above
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=chain,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request lines of libraries: our own canonical lines (telegram.update.applied, queue.job.*) say more.
    for noisy in ("aiohttp.access", "aiogram.event", "httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
