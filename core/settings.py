"""All configuration, read from the environment (and an optional .env) once at start.

Each field of ``Settings`` is one environment variable: its name is the field name in capitals,
and its metadata says what it is for, its default and how to read it. The same declarations
produce the error message for bad values, the redacted start-up summary and ``.env.example``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values

from core.catalogue import VideoModel, parse_models
from core.stars import Package, parse_packages


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


_SIZE = re.compile(r"^(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>b|kb|mb|gb)?$")
_UNIT_BYTES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def size(raw: str) -> int:
    """Bytes, written as 10MB, 2000MB, 512KB or a plain number of bytes."""
    match = _SIZE.match(raw.strip().lower())
    if not match:
        raise ValueError("must be a size such as 10MB, 50MB or 2GB")
    return int(float(match.group("amount")) * _UNIT_BYTES[match.group("unit") or "b"])


def id_list(raw: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError("must be Telegram user ids separated by commas") from None


def bot_token(raw: str) -> str:
    value = text(raw)
    if not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", value):
        raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
    return value


def http_url(raw: str) -> str:
    value = text(raw).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http(s):// URL")
    return value


def webhook_secret(raw: str) -> str:
    value = text(raw)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
        raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
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


TELEGRAM, PRODUCT, OPENAI, KIE = "Telegram", "Product", "OpenAI", "KIE.ai"
DATABASE, QUEUE, RUNTIME, LOGGING = "Database", "Queue", "Runtime", "Logging"
METRICS, STORAGE = "Metrics and error reports", "Storage (archive of photos and videos)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    # Telegram
    bot_token: str = var("The bot's token from @BotFather.", group=TELEGRAM, read=bot_token, secret=True)
    telegram_api_base: str = var(
        "Bot API server; point it at a local telegram-bot-api server to upload videos up to 2000 MB.",
        group=TELEGRAM,
        read=http_url,
        default="https://api.telegram.org",
    )
    telegram_api_local: bool = var(
        "true when TELEGRAM_API_BASE is a telegram-bot-api server in --local mode (uploads up to 2000 MB); "
        "it must share this process's filesystem, since it hands out file paths.",
        group=TELEGRAM,
        read=boolean,
        default="false",
    )
    public_base_url: str | None = var(
        "Public https:// address of this service. Set: webhook mode (Telegram and KIE call us). "
        "Empty: long polling and KIE status polling, for local runs.",
        group=TELEGRAM,
        read=optional(http_url),
        default="",
    )
    webhook_secret: str | None = var(
        "Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token. Empty: derived from the bot token.",
        group=TELEGRAM,
        read=optional(webhook_secret),
        default="",
        secret=True,
    )
    telegram_upload_limit: int = var(
        "Largest video sent as a file; larger ones are sent as a link. 50MB on api.telegram.org, 2000MB "
        "on a local Bot API server.",
        group=TELEGRAM,
        read=size,
        default="50MB",
    )
    admin_ids: tuple[int, ...] = var(
        "Telegram user ids of the operators, comma-separated: they get the admin commands (/stats, /grant, "
        "/ban, /refund, /broadcast...) and are told about account problems (KIE credits, keys).",
        group=TELEGRAM,
        read=id_list,
        default="",
    )
    # Product
    starter_credits: int = var(
        "Credits a new user gets with their first /start.", group=PRODUCT, read=integer(minimum=0), default="100"
    )
    credit_packages: tuple[Package, ...] = var(
        "Credit packages sold for Telegram Stars (/buy): credits:stars entries, comma-separated.",
        group=PRODUCT,
        read=parse_packages,
        default="100:50,300:140,1000:400",
    )
    max_active_per_user: int = var(
        "Unfinished generations one user may have at once.", group=PRODUCT, read=integer(minimum=1), default="1"
    )
    user_messages_per_minute: int = var(
        "Messages one user may send per minute; the rest are ignored with one polite reply.",
        group=PRODUCT,
        read=integer(minimum=1),
        default="20",
    )
    idea_max_length: int = var(
        "Longest idea (or photo caption) accepted, in characters (the proposal repeats it within Telegram's 4096).",
        group=PRODUCT,
        read=integer(minimum=10, maximum=3000),
        default="1000",
    )
    photo_max_size: int = var("Largest photo accepted.", group=PRODUCT, read=size, default="10MB")
    video_models: dict[str, VideoModel] = var(
        "Models users can pick: id:family:price entries, price in credits. Families (KIE): veo (veo3_fast, veo3, "
        "veo3_lite), kling (kling-2.6, any Market kling-<version>), kling3 (kling-3.0-std, kling-3.0-pro), sora "
        "(sora-2, sora-2-pro).",
        group=PRODUCT,
        read=parse_models,
        default="veo3_fast:veo:60,veo3:veo:250,kling-2.6:kling:55,sora-2:sora:30",
    )
    default_model: str = var("The model offered first; one of VIDEO_MODELS.", group=PRODUCT, default="veo3_fast")
    generation_timeout: float = var(
        "Render time allowed from the provider's acceptance of the task; past it the user is refunded (waiting "
        "in line or for an outage never counts).",
        group=PRODUCT,
        read=duration(minimum=1),
        default="6m",
    )
    late_render_limit: float = var(
        "How long after the provider's acceptance a render is still awaited; one that arrives after "
        "GENERATION_TIMEOUT (already refunded) is delivered free.",
        group=PRODUCT,
        read=duration(minimum=1),
        default="30m",
    )
    queue_wait_limit: float = var(
        "Longest a confirmed generation waits to reach the provider (in line, or during an outage) before it "
        "is refunded.",
        group=PRODUCT,
        read=duration(minimum=1),
        default="2h",
    )
    photo_fit: Literal["crop", "pad"] = var(
        "How a photo that is not 9:16 is made vertical for image-to-video: crop (the centre) or pad.",
        group=PRODUCT,
        read=choice("crop", "pad"),
        default="crop",
    )
    # OpenAI
    openai_api_key: str = var("Key for the OpenAI-compatible API that writes prompts.", group=OPENAI, secret=True)
    openai_base_url: str | None = var(
        "OpenAI-compatible endpoint. Empty: https://api.openai.com/v1.",
        group=OPENAI,
        read=optional(http_url),
        default="",
    )
    openai_model: str = var("Model that writes the video prompt.", group=OPENAI, default="gpt-4.1-mini")
    openai_timeout: float = var(
        "How long one prompt request may take before it is retried.",
        group=OPENAI,
        read=duration(minimum=1),
        default="30s",
    )
    # KIE.ai
    kie_api_key: str = var("KIE.ai API key (kie.ai/api-key).", group=KIE, secret=True)
    kie_base_url: str = var("KIE.ai API.", group=KIE, read=http_url, default="https://api.kie.ai")
    kie_upload_base_url: str = var(
        "KIE.ai file upload API (a separate host).", group=KIE, read=http_url, default="https://kieai.redpandaai.co"
    )
    kie_webhook_hmac_key: str | None = var(
        "The webhookHmacKey from kie.ai/settings. Set: callbacks without a valid X-Webhook-Signature are refused.",
        group=KIE,
        read=optional(text),
        default="",
        secret=True,
    )
    kie_timeout: float = var(
        "How long one KIE request may take before it counts as a failure (a hung connection).",
        group=KIE,
        read=duration(minimum=1),
        default="30s",
    )
    kie_min_balance: float = var(
        "KIE credits the account should keep: under it the admins are told (at most hourly), the preflight "
        "(python bot.py check, and the same checks logged at start) fails, and after an account problem KIE "
        "counts as back only once topped up to it. At 0 new videos wait.",
        group=KIE,
        read=integer(minimum=0),
        default="1000",
    )
    provider_failure_threshold: int = var(
        "Retryable provider failures in a row (across every process) after which the provider counts as down: "
        "new work waits, one probe asks it with backoff, admins are told.",
        group=KIE,
        read=integer(minimum=1),
        default="5",
    )
    kie_creates_per_10s: int = var(
        "New KIE tasks allowed per 10 seconds across all processes (KIE refuses more than 20).",
        group=KIE,
        read=integer(minimum=1),
        default="20",
    )
    # Database
    database_url: str | None = var(
        "PostgreSQL URL. Leave empty to run the embedded PostgreSQL, kept in EMBEDDED_PG_DIR.",
        group=DATABASE,
        read=optional(postgres_dsn),
        default="",
        secret=True,
    )
    allow_embedded_database: bool = var(
        "true lets webhook mode (PUBLIC_BASE_URL set) run without DATABASE_URL, on the embedded PostgreSQL. "
        "Off, that start is refused: on a platform its data sits on an ephemeral disk and every balance "
        "is lost at the next deploy.",
        group=DATABASE,
        read=boolean,
        default="false",
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
        "Most connections this process opens in its pool (each Telegram update in flight holds one).",
        group=DATABASE,
        read=integer(minimum=2, maximum=500),
        default="20",
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

    log_sql: bool = var(
        "true: log every SQL statement by its name (sql/*.sql) with its duration and row count, never its "
        "parameters. Verbose: for finding a slow or chatty statement.",
        group=LOGGING,
        read=boolean,
        default="false",
    )
    # Metrics and error reports
    metrics_enabled: bool = var(
        "Serve Prometheus metrics at GET /metrics (every role, workers included) and count them.",
        group=METRICS,
        read=boolean,
        default="true",
    )
    metrics_token: str | None = var(
        "Set: /metrics answers only requests with Authorization: Bearer <this token>.",
        group=METRICS,
        read=optional(text),
        default="",
        secret=True,
    )
    metrics_cache: float = var(
        "How long numbers read from the database for /metrics (generations, credits, queue depth) are reused.",
        group=METRICS,
        read=duration(),
        default="5s",
    )
    sentry_dsn: str | None = var(
        "Sentry DSN. Set: job failures and handler exceptions are reported there, secrets scrubbed.",
        group=METRICS,
        read=optional(http_url),
        default="",
        secret=True,
    )
    sentry_environment: str = var(
        "The environment name Sentry files reports under.", group=METRICS, default="production"
    )
    # Storage
    storage_url: str | None = var(
        "S3-compatible endpoint (Supabase Storage .../storage/v1/s3, Cloudflare R2, AWS S3, MinIO). Set: the "
        "input photo and the final video are archived, and large videos are linked from there.",
        group=STORAGE,
        read=optional(http_url),
        default="",
    )
    storage_access_key: str | None = var(
        "Access key id for STORAGE_URL.", group=STORAGE, read=optional(text), default="", secret=True
    )
    storage_secret_key: str | None = var(
        "Secret access key for STORAGE_URL.", group=STORAGE, read=optional(text), default="", secret=True
    )
    storage_region: str = var("Region for request signing.", group=STORAGE, default="us-east-1")
    storage_inputs_bucket: str = var("Bucket for users' photos.", group=STORAGE, default="inputs")
    storage_outputs_bucket: str = var("Bucket for finished videos.", group=STORAGE, default="outputs")
    storage_link_ttl: float = var(
        "How long a link to an archived video stays valid (S3 allows at most 7 days); renewed on request.",
        group=STORAGE,
        read=duration(minimum=60),
        default="7d",
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
        problems += _cross_checks(values)
        if problems:
            raise SettingsError(problems)
        return cls(**values)

    @property
    def webhook_mode(self) -> bool:
        return self.public_base_url is not None

    @property
    def telegram_secret(self) -> str:
        """The webhook secret: WEBHOOK_SECRET, or one derived from the bot token (stable across restarts)."""
        if self.webhook_secret:
            return self.webhook_secret
        return hmac.new(self.bot_token.encode(), b"reelsmith-webhook", hashlib.sha256).hexdigest()

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
            if isinstance(value, Path):
                value = str(value)
            elif f.name == "credit_packages":
                value = [package.id for package in value]
            elif f.name == "video_models":
                value = {m.id: f"{m.family}, {m.price} credits" for m in value.values()}
            shown[f.name] = value
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
        found.append(self.telegram_secret)
        return found


def _cross_checks(values: dict[str, Any]) -> list[str]:
    problems = []
    models, default = values.get("video_models"), values.get("default_model")
    if models and default and default not in models:
        problems.append(f"DEFAULT_MODEL={default!r} is not one of VIDEO_MODELS ({', '.join(models)}).")
    if (
        values.get("public_base_url")
        and not values.get("database_url")
        and values.get("allow_embedded_database") is False
    ):
        problems.append(
            "DATABASE_URL is empty while PUBLIC_BASE_URL is set (webhook mode, so a deployment): the embedded "
            "PostgreSQL would keep every balance on the platform's disk, lost at the next deploy. Set "
            "DATABASE_URL to a managed PostgreSQL, or ALLOW_EMBEDDED_DATABASE=true if this disk is persistent."
        )
    if values.get("storage_url") and not (values.get("storage_access_key") and values.get("storage_secret_key")):
        problems.append("STORAGE_URL is set: STORAGE_ACCESS_KEY and STORAGE_SECRET_KEY are needed too.")
    if values.get("storage_link_ttl", 0) > 7 * 86400:
        problems.append("STORAGE_LINK_TTL may be at most 7d (the longest a presigned S3 link can live).")
    return problems


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
