"""The variables, one section per part of the program, each handed only to that part. A field is one variable:
the section's prefix and the field's name in capitals, or its alias; the docstring under it is its description
(.env.example, error messages), its default is written as in .env (``"6m"``, ``"50MB"``; None: unset) and read like
the environment."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.catalogue import VideoModel, parse_models
from core.growth import DEFAULT_PRESETS, Plan, Preset, parse_plans, parse_presets
from core.settings import readers as read
from core.stars import Package, parse_packages


def env(default: str | None, *, alias: str | None = None) -> Any:
    """A variable's default as written in .env; ``alias``: its name, when not the prefix and the field's name."""
    return Field(default, validation_alias=alias)


class Section(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, validate_default=True)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *_: Any, **__: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values handed in: ``Settings.from_env`` reads the mapping it is given, never os.environ."""
        return (init_settings,)


class TelegramSettings(Section):
    model_config = SettingsConfigDict(title="Telegram", env_prefix="TELEGRAM_")

    bot_token: read.BotToken = Field(validation_alias="BOT_TOKEN")
    """The bot's token from @BotFather."""
    api_base: read.HttpUrl = env("https://api.telegram.org")
    """Bot API server; point it at a local telegram-bot-api server to upload videos up to 2000 MB."""
    api_local: bool = env("false")
    """true when TELEGRAM_API_BASE is a telegram-bot-api server in --local mode (uploads up to 2000 MB); it must share
    this process's filesystem, since it hands out file paths."""
    public_base_url: read.HttpUrl | None = env(None, alias="PUBLIC_BASE_URL")
    """Public https:// address of this service. Set: webhook mode (Telegram and KIE call us). Empty: long polling and
    KIE status polling, for local runs."""
    webhook_secret: read.WebhookSecret = env(None, alias="WEBHOOK_SECRET")
    """Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token: 32-256 characters of A-Z a-z 0-9 _ - (openssl rand
    -hex 16). Empty: derived from the bot token."""
    upload_limit: read.Size = env("50MB")
    """Largest video sent as a file; larger ones are sent as a link. 50MB on api.telegram.org, 2000MB on a local Bot API
    server."""
    admin_ids: read.Ids = env("", alias="ADMIN_IDS")
    """Telegram user ids of the operators, comma-separated: they get the admin commands (/stats, /grant, /ban, /refund,
    /broadcast...) and are told about account problems (KIE credits, keys)."""
    support_chat_id: int | None = env(None, alias="SUPPORT_CHAT_ID")
    """Chat id of the operators' group that receives support tickets (/support, /paysupport); its members answer a
    ticket by replying to it. Empty: every ADMIN_IDS gets the tickets in their private chat."""

    @property
    def webhook_mode(self) -> bool:
        return self.public_base_url is not None

    @property
    def token(self) -> str:
        return self.bot_token.get_secret_value()

    @property
    def secret(self) -> str:
        """The webhook secret: WEBHOOK_SECRET, or one derived from the bot token (stable across restarts)."""
        if self.webhook_secret:
            return self.webhook_secret.get_secret_value()
        return hmac.new(self.token.encode(), b"reelsmith-webhook", hashlib.sha256).hexdigest()


class ProductSettings(Section):
    model_config = SettingsConfigDict(title="Product")

    starter_credits: read.Natural = env("100")
    """Credits a new user gets with their first /start."""
    credit_packages: Annotated[tuple[Package, ...], read.reads(parse_packages)] = env("100:50,300:140,1000:400")
    """Credit packages sold for Telegram Stars (/buy): credits:stars entries, comma-separated."""
    grant_limit: read.Count = env("1000", alias="GRANT_LIMIT")
    """Most credits one admin /grant may add or take away; larger changes take several grants (each one is told to the
    other admins)."""
    max_active_per_user: read.Count = env("1")
    """Unfinished generations one user may have at once."""
    user_messages_per_minute: read.Count = env("20")
    """Messages one user may send per minute; the rest are ignored with one polite reply."""
    idea_max_length: Annotated[int, Field(ge=10, le=3000)] = env("1000")
    """Longest idea (or photo caption) accepted, in characters (the proposal repeats it within Telegram's 4096)."""
    photo_max_size: read.Size = env("10MB")
    """Largest photo accepted."""
    video_models: Annotated[dict[str, VideoModel], read.reads(parse_models)] = env(
        "veo3_lite:veo:30,veo3_fast:veo:60,veo3:veo:250,kling-3.0-std:kling3:12/s:5,10"
    )
    """Models users can pick, price in credits: id:family:price for one clip at one price, or
    id:family:<credits>/s:<seconds>,<seconds> for a model priced per second, whose lengths the proposal offers
    as buttons (the first is proposed; e.g. seedance-2-mini:seedance:9/s:5,10 is 45 credits for 5 s, 90 for 10 s).
    Families (KIE): veo (veo3_lite, veo3_fast, veo3; always 8 s), kling3 (kling-3.0-std, kling-3.0-pro; 3-15 s),
    seedance (seedance-2, seedance-2-fast, seedance-2-mini; 4-15 s), kling (kling-2.6, any Market
    kling-<version>; 5 or 10 s), sora (retired: KIE answers every Sora model "temporarily paused")."""
    default_model: str = env("veo3_fast")
    """The model offered first; one of VIDEO_MODELS."""
    generation_timeout: read.Seconds = env("6m")
    """Render time allowed from the provider's acceptance of the task; past it the user is refunded (waiting in line or
    for an outage never counts)."""
    late_render_limit: read.Seconds = env("30m")
    """How long after the provider's acceptance a render is still awaited; one that arrives after GENERATION_TIMEOUT
    (already refunded) is delivered free."""
    queue_wait_limit: read.Seconds = env("2h")
    """Longest a confirmed generation waits to reach the provider (in line, or during an outage) before it is
    refunded."""
    create_adopt_wait: read.Seconds = env("5m")
    """After a create whose answer was lost (timeout, crash, database error), how long the generation waits for
    the provider's callback to name the task (adopted after a record read) before creating again, counted as a
    possible duplicate. Without PUBLIC_BASE_URL (long polling) no callback can come: it creates again at once."""
    photo_fit: Annotated[Literal["crop", "pad"], read.Lowered] = env("crop")
    """How a photo that is not 9:16 is made vertical for image-to-video: crop (the centre) or pad."""
    moderation: bool = env("true")
    """Check each idea and photo with OpenAI's moderation (free) before its proposal is shown; false: no check."""
    moderation_timeout: read.Seconds = env("5s")
    """How long the moderation check may take; past it (or on any error) the proposal goes out unchecked."""
    retention_days: read.Count = env("90")
    """Days ideas, prompts and archived photos and videos are kept; a daily job clears older ones (the ledger and
    payments are kept for accounting)."""

    @field_validator("default_model")
    @classmethod
    def _offered(cls, model: str, info: ValidationInfo) -> str:
        models = info.data.get("video_models")  # absent when VIDEO_MODELS itself is wrong
        if models and model not in models:
            raise ValueError(f"is not one of VIDEO_MODELS ({', '.join(models)})")
        return model


class GrowthSettings(Section):
    model_config = SettingsConfigDict(title="Growth")

    referral_bonus: read.Natural = env("50", alias="REFERRAL_BONUS")
    """Credits an inviter earns once per invited user, when that user's first Stars purchase is credited (0: none)."""
    referral_welcome: read.Natural = env("0", alias="REFERRAL_WELCOME")
    """Extra starter credits for a new user who arrives through an invitation link."""
    subscription_plans: Annotated[tuple[Plan, ...], read.reads(parse_plans)] = env("", alias="SUBSCRIPTION_PLANS")
    """Monthly Stars plans offered in /buy, as credits:stars (e.g. 500:200): the credits are added at every
    monthly charge. Empty: no plan."""
    presets: Annotated[tuple[Preset, ...], read.reads(parse_presets)] = env(DEFAULT_PRESETS, alias="PRESETS")
    """Styles offered on the proposal, name|prompt addition entries separated by semicolons; the prompt addition
    guides the prompt writer, the price is unchanged. none: no presets."""
    nudges: bool = env("true", alias="NUDGES")
    """Send the few polite nudges (low balance after a delivery, an unpaid invoice, an invitation after the third
    video), at most one per user per day; users turn them off with /notifications off."""


class OpenAISettings(Section):
    model_config = SettingsConfigDict(title="OpenAI", env_prefix="OPENAI_")

    api_key: read.Secret
    """Key for the OpenAI-compatible API that writes prompts."""
    base_url: read.HttpUrl | None = None
    """OpenAI-compatible endpoint. Empty: https://api.openai.com/v1."""
    model: str = env("gpt-4.1-mini")
    """Model that writes the video prompt."""
    timeout: read.Seconds = env("30s")
    """How long one prompt request may take before it is retried."""


class KieSettings(Section):
    model_config = SettingsConfigDict(title="KIE.ai", env_prefix="KIE_")

    api_key: read.Secret
    """KIE.ai API key (kie.ai/api-key)."""
    base_url: read.HttpUrl = env("https://api.kie.ai")
    """KIE.ai API."""
    upload_base_url: read.HttpUrl = env("https://kieai.redpandaai.co")
    """KIE.ai file upload API (a separate host)."""
    webhook_hmac_key: SecretStr | None = None
    """The webhookHmacKey from kie.ai/settings. Set: callbacks without a valid X-Webhook-Signature are refused."""
    timeout: read.Seconds = env("20s")
    """How long one KIE request may take before it counts as a failure (a hung connection). Shorter than
    SHUTDOWN_GRACE, so a deploy's drain awaits a create in flight instead of cutting it (a create KIE made but
    whose answer was lost may be billed)."""
    min_balance: read.Natural = env("1000")
    """KIE credits the account should keep: under it the admins are told (at most hourly), the preflight (python bot.py
    check, and the same checks logged at start) fails, and after an account problem KIE counts as back only once topped
    up to it. At 0 new videos wait."""
    provider_failure_threshold: read.Count = env("5", alias="PROVIDER_FAILURE_THRESHOLD")
    """Retryable provider failures in a row (across every process) after which the provider counts as down: new work
    waits, one probe asks it with backoff, admins are told."""
    creates_per_10s: read.Count = env("20")
    """New KIE tasks allowed per 10 seconds across all processes (KIE refuses more than 20)."""
    daily_budget: read.Count | None = env(None)
    """KIE credits one UTC day's videos may cost (recorded per video, and the unrendered at the price table); once
    reached, new confirms are refused with nothing charged and the admins are told once, until 00:00 UTC. Empty: no
    budget."""


class DatabaseSettings(Section):
    model_config = SettingsConfigDict(title="Database", env_prefix="DATABASE_")

    url: read.Dsn = None
    """PostgreSQL URL. Leave empty to run the embedded PostgreSQL, kept in EMBEDDED_PG_DIR."""
    allow_embedded: bool = env("false", alias="ALLOW_EMBEDDED_DATABASE")
    """true lets webhook mode (PUBLIC_BASE_URL set) run without DATABASE_URL, on the embedded PostgreSQL. Off, that
    start is refused: on a platform its data sits on an ephemeral disk and every balance is lost at the next deploy."""
    direct_url: read.Dsn = None
    """Direct (non-pooled) URL for LISTEN, when DATABASE_URL goes through a transaction pooler. Empty: LISTEN on
    DATABASE_URL, or poll only when DATABASE_TRANSACTION_POOLER is on."""
    transaction_pooler: bool = env("false")
    """true when DATABASE_URL is PgBouncer/Supavisor in transaction mode: turns off prepared statements."""
    pool_size: Annotated[int, Field(ge=2, le=500)] = env("20")
    """Most connections this process opens in its pool (each Telegram update in flight holds one)."""
    embedded_pg_dir: Path = env(".data/postgres", alias="EMBEDDED_PG_DIR")
    """Where the embedded PostgreSQL keeps its data between runs (used when DATABASE_URL is empty)."""

    @property
    def dsn(self) -> str | None:
        """DATABASE_URL, or None for the embedded PostgreSQL."""
        return reveal(self.url)

    def listen_dsn(self, database_url: str) -> str | None:
        """Where LISTEN goes: the direct URL, else the pool's URL unless that is a pooler."""
        if self.direct_url:
            return self.direct_url.get_secret_value()
        return None if self.transaction_pooler else database_url


class QueueSettings(Section):
    model_config = SettingsConfigDict(title="Queue", env_prefix="QUEUE_")

    consumers: Annotated[int, Field(ge=1, le=1000)] = env("32")
    """Consumer coroutines that run jobs in this process."""
    concurrency: read.Limits = env("")
    """Per-kind limits on jobs running at once in this process, e.g. video.deliver=2,video.submit=4. Overrides the
    limits set in code."""
    poll_interval: Annotated[float, read.seconds, Field(ge=0.01)] = env("1s")
    """How often to look for due jobs when no notification arrives (fallback to LISTEN/NOTIFY)."""
    lease: read.Seconds = env("30s")
    """How long a running job stays leased without renewal before another process may take it over."""
    keep_succeeded: read.Duration = env("1d")
    """How long succeeded and cancelled jobs stay in the table before they are pruned."""
    keep_failed: read.Duration = env("14d")
    """How long failed jobs stay in the table before they are pruned."""
    vacuum_dead_rows: read.Natural = env("50000")
    """Vacuum the jobs table when this many dead row versions have piled up (autovacuum is too slow for a busy queue); 0
    leaves it to autovacuum."""


class RuntimeSettings(Section):
    model_config = SettingsConfigDict(title="Runtime")

    host: str = env("0.0.0.0")  # noqa: S104
    """Address the HTTP server binds."""
    port: Annotated[int, Field(ge=1, le=65535)] = env("8080")
    """Port of the HTTP server (webhook, KIE callback, health checks)."""
    shutdown_grace: read.Duration = env("25s")
    """On SIGTERM, how long running jobs may take to finish before they are handed back."""
    breaker_threshold: read.Count = env("5")
    """Consecutive job failures a restart could cure (database lost, unexpected errors) before the process drains and
    exits for the platform to restart it."""
    supervisor_max_restarts: read.Natural = env("3")
    """Restarts of one crashed consumer or loop allowed within SUPERVISOR_WINDOW; one more exits."""
    supervisor_window: read.Seconds = env("60s")
    """The window for SUPERVISOR_MAX_RESTARTS."""


class LoggingSettings(Section):
    model_config = SettingsConfigDict(title="Logging", env_prefix="LOG_")

    level: Annotated[Literal["debug", "info", "warning", "error", "critical"], read.Lowered] = env("info")
    """Lowest level logged."""
    format: Annotated[Literal["auto", "json", "console"], read.Lowered] = env("auto")
    """json: one JSON object per line; console: readable lines; auto: console on a terminal, else json."""
    sql: bool = env("false")
    """true: log every SQL statement by its name (sql/*.sql) with its duration and row count, never its parameters.
    Verbose: for finding a slow or chatty statement."""


class MetricsSettings(Section):
    model_config = SettingsConfigDict(title="Metrics and error reports", env_prefix="METRICS_")

    enabled: bool = env("true")
    """Serve Prometheus metrics at GET /metrics (every role, workers included) and count them."""
    token: SecretStr | None = None
    """Set: /metrics answers only requests with Authorization: Bearer <this token>."""
    cache: read.Duration = env("5s")
    """How long numbers read from the database for /metrics (generations, credits, queue depth) are reused."""
    sentry_dsn: Annotated[SecretStr | None, read.Http] = env(None, alias="SENTRY_DSN")
    """Sentry DSN. Set: job failures and handler exceptions are reported there, secrets scrubbed."""
    sentry_environment: str = env("production", alias="SENTRY_ENVIRONMENT")
    """The environment name Sentry files reports under."""


class StorageSettings(Section):
    model_config = SettingsConfigDict(title="Storage (archive of photos and videos)", env_prefix="STORAGE_")

    url: read.HttpUrl | None = None
    """S3-compatible endpoint (Supabase Storage .../storage/v1/s3, Cloudflare R2, AWS S3, MinIO). Set: the input photo
    and the final video are archived, and large videos are linked from there."""
    access_key: SecretStr | None = None
    """Access key id for STORAGE_URL."""
    secret_key: SecretStr | None = None
    """Secret access key for STORAGE_URL."""
    region: str = env("us-east-1")
    """Region for request signing."""
    inputs_bucket: str = env("inputs")
    """Bucket for users' photos."""
    outputs_bucket: str = env("outputs")
    """Bucket for finished videos."""
    link_ttl: Annotated[float, read.seconds, Field(ge=60)] = env("7d")
    """How long a link to an archived video stays valid (S3 allows at most 7 days); renewed on request."""

    @field_validator("link_ttl")
    @classmethod
    def _presignable(cls, seconds: float) -> float:
        if seconds > 7 * 86400:
            raise ValueError("may be at most 7d (the longest a presigned S3 link can live)")
        return seconds

    @model_validator(mode="after")
    def _keys(self) -> StorageSettings:
        if self.url and not (self.access_key and self.secret_key):
            raise ValueError("STORAGE_URL is set: STORAGE_ACCESS_KEY and STORAGE_SECRET_KEY are needed too.")
        return self


def reveal(secret: SecretStr | None) -> str | None:
    """The value of an optional secret, for the one call that needs it in clear."""
    return secret.get_secret_value() if secret else None
