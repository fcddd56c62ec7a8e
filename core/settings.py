"""All configuration, read from the environment (and an optional .env) once at start.

Each field of ``Settings`` is one environment variable: its name is the field name in capitals,
and its metadata says what it is for, its default and how to read it. The same declarations
produce the error message for bad values, the redacted start-up summary and ``.env.example``.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values


class SettingsError(Exception):
    """Some variables are missing or wrong; ``problems`` has one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = "1 setting needs" if len(problems) == 1 else f"{len(problems)} settings need"
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"Reelsmith cannot start: {count} fixing.\n{lines}\n"
            "Set them in the environment or in .env (every variable is described in .env.example)."
        )


# --- readers: text in, value out, ValueError with a short reason otherwise -------------------------

Reader = Callable[[str], Any]


def text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def optional(reader: Reader) -> Reader:
    def read(raw: str) -> Any:
        return reader(raw) if raw.strip() else None

    return read


def integer(minimum: int | None = None, maximum: int | None = None) -> Reader:
    def read(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
        _check_range(value, minimum, maximum)
        return value

    return read


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


_DURATION = re.compile(r"^(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration(minimum: float = 0.0) -> Reader:
    """Seconds, written as 25, 25s, 500ms, 15m, 24h or 7d."""

    def read(raw: str) -> float:
        match = _DURATION.match(raw.strip().lower())
        if not match:
            raise ValueError("must be a duration such as 500ms, 25s, 15m, 24h or 7d")
        seconds = float(match.group("amount")) * _UNIT_SECONDS[match.group("unit") or "s"]
        _check_range(seconds, minimum, None)
        return seconds

    return read


def choice(*options: str) -> Reader:
    def read(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return read


def postgres_dsn(raw: str) -> str:
    value = text(raw)
    if urlsplit(value).scheme not in {"postgres", "postgresql"}:
        raise ValueError("must be a postgresql:// URL")
    return value


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


def _check_range(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum:g}")


# --- declarations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Var:
    help: str
    group: str
    read: Reader
    default: str | None  # as written in .env; None means "required"
    secret: bool = False


def var(help: str, *, group: str, read: Reader = text, default: str | None = None, secret: bool = False) -> Any:
    return field(metadata={"var": Var(help, group, read, default, secret)})


DATABASE, QUEUE, RUNTIME, LOGGING = "Database", "Queue", "Runtime", "Logging"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    # Database
    database_url: str | None = var(
        "PostgreSQL URL. Leave empty to run the embedded PostgreSQL, kept in EMBEDDED_PG_DIR.",
        group=DATABASE,
        read=optional(postgres_dsn),
        default="",
        secret=True,
    )
    database_direct_url: str | None = var(
        "Direct (non-pooled) URL for LISTEN, when DATABASE_URL goes through a transaction pooler. "
        "Empty: LISTEN on DATABASE_URL, or poll only when DATABASE_TRANSACTION_POOLER is on.",
        group=DATABASE,
        read=optional(postgres_dsn),
        default="",
        secret=True,
    )
    database_transaction_pooler: bool = var(
        "true when DATABASE_URL is PgBouncer/Supavisor in transaction mode: turns off prepared statements.",
        group=DATABASE,
        read=boolean,
        default="false",
    )
    database_pool_size: int = var(
        "Most connections this process opens in its pool.",
        group=DATABASE,
        read=integer(minimum=2, maximum=500),
        default="10",
    )
    embedded_pg_dir: Path = var(
        "Where the embedded PostgreSQL keeps its data between runs (used when DATABASE_URL is empty).",
        group=DATABASE,
        read=lambda raw: Path(text(raw)),
        default=".data/postgres",
    )
    # Queue
    queue_consumers: int = var(
        "Consumer coroutines that run jobs in this process.",
        group=QUEUE,
        read=integer(minimum=1, maximum=1000),
        default="32",
    )
    queue_concurrency: dict[str, int] = var(
        "Per-kind limits on jobs running at once in this process, e.g. video.deliver=2,video.submit=4. "
        "Overrides the limits set in code.",
        group=QUEUE,
        read=kind_limits,
        default="",
    )
    queue_poll_interval: float = var(
        "How often to look for due jobs when no notification arrives (fallback to LISTEN/NOTIFY).",
        group=QUEUE,
        read=duration(minimum=0.01),
        default="1s",
    )
    queue_lease: float = var(
        "How long a running job stays leased without renewal before another process may take it over.",
        group=QUEUE,
        read=duration(minimum=1),
        default="30s",
    )
    queue_keep_succeeded: float = var(
        "How long succeeded and cancelled jobs stay in the table before they are pruned.",
        group=QUEUE,
        read=duration(),
        default="1d",
    )
    queue_keep_failed: float = var(
        "How long failed jobs stay in the table before they are pruned.",
        group=QUEUE,
        read=duration(),
        default="14d",
    )
    queue_vacuum_dead_rows: int = var(
        "Vacuum the jobs table when this many dead row versions have piled up (autovacuum is too slow "
        "for a busy queue); 0 leaves it to autovacuum.",
        group=QUEUE,
        read=integer(minimum=0),
        default="50000",
    )
    # Runtime
    host: str = var("Address the HTTP server binds.", group=RUNTIME, default="0.0.0.0")  # noqa: S104
    port: int = var(
        "Port of the HTTP server (webhook, KIE callback, health checks).",
        group=RUNTIME,
        read=integer(minimum=1, maximum=65535),
        default="8080",
    )
    shutdown_grace: float = var(
        "On SIGTERM, how long running jobs may take to finish before they are handed back.",
        group=RUNTIME,
        read=duration(),
        default="25s",
    )
    breaker_threshold: int = var(
        "Consecutive job failures a restart could cure (database lost, unexpected errors) before the "
        "process drains and exits for the platform to restart it.",
        group=RUNTIME,
        read=integer(minimum=1),
        default="5",
    )
    supervisor_max_restarts: int = var(
        "Restarts of one crashed consumer or loop allowed within SUPERVISOR_WINDOW; one more exits.",
        group=RUNTIME,
        read=integer(minimum=0),
        default="3",
    )
    supervisor_window: float = var(
        "The window for SUPERVISOR_MAX_RESTARTS.",
        group=RUNTIME,
        read=duration(minimum=1),
        default="60s",
    )
    # Logging
    log_level: str = var(
        "Lowest level logged.",
        group=LOGGING,
        read=choice("debug", "info", "warning", "error", "critical"),
        default="info",
    )
    log_format: str = var(
        "json: one JSON object per line; console: readable lines; auto: console on a terminal, else json.",
        group=LOGGING,
        read=choice("auto", "json", "console"),
        default="auto",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            spec: Var = f.metadata["var"]
            name = f.name.upper()
            raw = environ.get(name)
            if raw is None or (raw.strip() == "" and spec.default is not None):
                raw = spec.default
            if raw is None:
                problems.append(f"{name} is missing. {spec.help}")
                continue
            try:
                values[f.name] = spec.read(raw)
            except ValueError as error:
                shown = "<hidden>" if spec.secret else repr(raw)
                problems.append(f"{name}={shown} {error}. {spec.help}")
        if problems:
            raise SettingsError(problems)
        return cls(**values)

    def listen_dsn(self, database_url: str) -> str | None:
        """Where LISTEN goes: the direct URL, else the pool's URL unless that is a pooler."""
        if self.database_direct_url:
            return self.database_direct_url
        return None if self.database_transaction_pooler else database_url

    def summary(self) -> dict[str, Any]:
        """Every setting for the start-up log, secrets hidden."""
        shown: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["var"].secret and value:
                value = redact_dsn(value) if str(value).startswith("postgres") else "***"
            shown[f.name] = str(value) if isinstance(value, Path) else value
        return shown

    def secrets(self) -> list[str]:
        """Secret values (and DSN passwords) the log scrubber must never let through."""
        found: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if not (f.metadata["var"].secret and value):
                continue
            if str(value).startswith("postgres"):
                # A DSN is shown redacted; only its password is secret.
                password = urlsplit(str(value)).password
                found.extend([password] if password else [])
            else:
                found.append(str(value))
        return found


def redact_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def read_environment(environ: Mapping[str, str], dotenv: Path | None) -> dict[str, str]:
    """The process environment over the .env file: a variable set in both keeps its environment value."""
    merged: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(environ)
    return merged


def env_example() -> str:
    """The text of .env.example: every variable, grouped, with what it is for and its default."""
    out = [
        "# Reelsmith configuration. Copy to .env or set these in the environment.",
        "# Empty values take the default shown.",
        "",
    ]
    group = None
    for f in fields(Settings):
        spec: Var = f.metadata["var"]
        if spec.group != group:
            group = spec.group
            out += [f"# --- {group} " + "-" * (60 - len(group)), ""]
        out += textwrap.wrap(spec.help, width=98, initial_indent="# ", subsequent_indent="# ")
        if spec.default is None:
            out.append("# Required.")
        out += [f"{f.name.upper()}={spec.default or ''}", ""]
    return "\n".join(out)
