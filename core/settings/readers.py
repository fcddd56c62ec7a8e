"""The written forms pydantic does not read as documented: ``50MB`` is 50 * 1024**2 bytes (pydantic's ByteSize
reads 10**6), durations are 500ms/25s/15m/24h/7d, lists are comma-separated. A reader raises ``ValueError`` with
a short reason, the variable's line in the error message; numbers, booleans and choices are pydantic's own."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr

_SECONDS = {"": 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_BYTES = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def reads(reader: Callable[[str], Any]) -> BeforeValidator:
    """Text (the environment's, or a default as written in .env) goes through ``reader``; other values pass."""
    return BeforeValidator(lambda raw: reader(raw) if isinstance(raw, str) else raw)


def matching(pattern: str, reason: str) -> BeforeValidator:
    """The text as written, when it matches ``pattern``."""

    def read(raw: str) -> str:
        if not re.fullmatch(pattern, raw):
            raise ValueError(reason)
        return raw

    return reads(read)


def _amount(units: Mapping[str, float], reason: str) -> Callable[[str], float]:
    """A number and a unit (``25s``, ``50MB``): the number times the unit's value."""

    def read(raw: str) -> float:
        if not (match := re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", raw.lower())) or match[2] not in units:
            raise ValueError(reason)
        return float(match[1]) * units[match[2]]

    return read


def _ids(raw: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError("must be Telegram user ids separated by commas") from None


def _limits(raw: str) -> dict[str, int]:
    pairs = [part.partition("=") for part in raw.replace(" ", "").split(",") if part]
    if not all(kind and sep and limit.isdecimal() and int(limit) > 0 for kind, sep, limit in pairs):
        raise ValueError("must be kind=limit pairs separated by commas, each limit a whole number of at least 1")
    return {kind: int(limit) for kind, _, limit in pairs}


# The shapes the variables share.
seconds = reads(_amount(_SECONDS, "must be a duration such as 500ms, 25s, 15m, 24h or 7d"))
_bytes = _amount(_BYTES, "must be a size such as 10MB, 50MB or 2GB")
Size = Annotated[int, reads(lambda raw: int(_bytes(raw)))]
Duration = Annotated[float, seconds, Field(ge=0)]
Seconds = Annotated[float, seconds, Field(ge=1)]
Count = Annotated[int, Field(ge=1)]
Natural = Annotated[int, Field(ge=0)]
Lowered = reads(str.lower)
Secret = Annotated[SecretStr, Field(min_length=1)]
Ids = Annotated[tuple[int, ...], reads(_ids)]
Limits = Annotated[dict[str, int], reads(_limits)]
Http = matching(r"(?i)https?://[^/?#]+.*", "must be an http(s):// URL")
HttpUrl = Annotated[str, Http, AfterValidator(lambda url: url.rstrip("/"))]
Dsn = Annotated[SecretStr | None, matching(r"(?i)postgres(ql)?:.*", "must be a postgresql:// URL")]
BotToken = Annotated[
    SecretStr, matching(r"\d+:[A-Za-z0-9_-]{20,}", "does not look like a bot token from @BotFather (digits:letters)")
]
# Telegram's allowed set; at least 32 characters so it cannot be guessed (openssl rand -hex 16 gives 32).
WebhookSecret = Annotated[
    SecretStr | None, matching(r"[A-Za-z0-9_-]{32,256}", "must be 32-256 characters of A-Z, a-z, 0-9, _ and -")
]
