"""Our readers of environment text: text in, value out, ``ValueError`` with a short reason otherwise
(the reason becomes the variable's line in the error message).

Ours rather than pydantic's because the written forms are documented: ``50MB`` is 50 * 1024**2 bytes
(pydantic's ByteSize reads 10**6), durations are 500ms/25s/15m/24h/7d, and booleans are exactly
1/true/yes/on and 0/false/no/off."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, SecretStr

Reader = Callable[[str], Any]
N = TypeVar("N", int, float)
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_BYTES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def reads(reader: Reader) -> BeforeValidator:
    """Environment text goes through ``reader``; a value set in code (a test's copy) passes as is."""
    return BeforeValidator(lambda raw: reader(raw) if isinstance(raw, str) else raw)


def text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def optional(reader: Reader) -> Reader:
    return lambda raw: reader(raw) if raw.strip() else None


def boolean(raw: str) -> bool:
    if (value := _BOOLEANS.get(raw.strip().lower())) is None:
        raise ValueError("must be true or false")
    return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Reader:
    def read(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
        return _in_range(value, minimum, maximum)

    return read


def duration(minimum: float = 0.0) -> Reader:
    """Seconds, written as 25, 25s, 500ms, 15m, 24h or 7d."""

    def read(raw: str) -> float:
        amount, unit = _amount(raw, r"ms|s|m|h|d", "must be a duration such as 500ms, 25s, 15m, 24h or 7d")
        return _in_range(amount * _SECONDS[unit or "s"], minimum, None)

    return read


def size(raw: str) -> int:
    """Bytes, written as 10MB, 2000MB, 512KB or a plain number of bytes."""
    amount, unit = _amount(raw, r"b|kb|mb|gb", "must be a size such as 10MB, 50MB or 2GB")
    return int(amount * _BYTES[unit or "b"])


def choice(*options: str) -> Reader:
    def read(raw: str) -> str:
        if (value := raw.strip().lower()) not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return read


def matching(pattern: str, reason: str) -> Reader:
    def read(raw: str) -> str:
        if not re.fullmatch(pattern, value := text(raw)):
            raise ValueError(reason)
        return value

    return read


def http_url(raw: str) -> str:
    parts = urlsplit(value := text(raw).rstrip("/"))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http(s):// URL")
    return value


def postgres_dsn(raw: str) -> str:
    if urlsplit(value := text(raw)).scheme not in {"postgres", "postgresql"}:
        raise ValueError("must be a postgresql:// URL")
    return value


telegram_token = matching(r"\d+:[A-Za-z0-9_-]{20,}", "does not look like a bot token from @BotFather (digits:letters)")
# Telegram's allowed set; at least 32 characters so it cannot be guessed (openssl rand -hex 16 gives 32).
secret_token = matching(r"[A-Za-z0-9_-]{32,256}", "must be 32-256 characters of A-Z, a-z, 0-9, _ and -")


def id_list(raw: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError("must be Telegram user ids separated by commas") from None


def kind_limits(raw: str) -> dict[str, int]:
    """``kind=limit`` pairs separated by commas, e.g. ``video.deliver=2,video.submit=4``."""
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kind, sep, number = part.partition("=")
        if not sep or not kind.strip():
            raise ValueError(f"{part!r} is not kind=limit")
        try:
            limits[kind.strip()] = integer(minimum=1)(number)
        except ValueError as error:
            raise ValueError(f"{part!r}: the limit {error}") from None
    return limits


def _amount(raw: str, units: str, reason: str) -> tuple[float, str | None]:
    match = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*({units})?", raw.strip().lower())
    if not match:
        raise ValueError(reason)
    return float(match.group(1)), match.group(2)


def _in_range(value: N, minimum: float | None, maximum: float | None) -> N:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum:g}")
    return value


# The shapes most variables share; the rest are spelled where they are declared.
Text = Annotated[str, reads(text)]
Flag = Annotated[bool, reads(boolean)]
Count = Annotated[int, reads(integer(minimum=1))]
Natural = Annotated[int, reads(integer(minimum=0))]
Duration = Annotated[float, reads(duration())]
Seconds = Annotated[float, reads(duration(minimum=1))]
Size = Annotated[int, reads(size)]
HttpUrl = Annotated[str, reads(http_url)]
Secret = Annotated[SecretStr, reads(text)]
Folder = Annotated[Path, reads(lambda raw: Path(text(raw)))]
