"""Settings: read once from the environment, every problem reported at once, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, env_example, read_environment, redact_dsn, variables
from tests.helpers import REPO, SECRETS


def test_defaults_need_only_the_three_secrets() -> None:
    """With nothing but the bot token and the two API keys the process can start: embedded database,
    long polling, default knobs."""
    settings = Settings.from_env(SECRETS)
    assert settings.database.dsn is None
    assert settings.queue.consumers == 32
    assert settings.runtime.shutdown_grace == 25.0
    assert settings.runtime.port == 8080
    assert settings.database.embedded_pg_dir == Path(".data/postgres")
    assert settings.telegram.webhook_mode is False
    assert settings.product.default_model == "veo3_fast"
    # Only models KIE serves today (issue 14): no Sora; Kling 3.0 is priced per second.
    assert list(settings.product.video_models) == ["veo3_lite", "veo3_fast", "veo3", "kling-3.0-std"]
    assert settings.product.video_models["kling-3.0-std"].durations == (5, 10)
    assert settings.product.generation_timeout == 360


def test_missing_secrets_are_named() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({})
    assert [p.split(" is missing")[0] for p in caught.value.problems] == ["BOT_TOKEN", "OPENAI_API_KEY", "KIE_API_KEY"]


def test_bot_settings_are_checked() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                **SECRETS,
                "BOT_TOKEN": "not-a-token",
                "PUBLIC_BASE_URL": "bot.example.com",
                "VIDEO_MODELS": "veo3_fast:veo:60,kling-2.6:Runway Gen4:10",
                "PHOTO_MAX_SIZE": "big",
                "ADMIN_IDS": "1,two",
            }
        )
    problems = "\n".join(caught.value.problems)
    assert "BOT_TOKEN=<hidden> does not look like a bot token" in problems
    assert "PUBLIC_BASE_URL='bot.example.com' must be an http(s):// URL" in problems
    assert "'kling-2.6:Runway Gen4:10': the family is a lowercase name such as veo, kling3 or seedance" in problems
    assert "PHOTO_MAX_SIZE='big' must be a size" in problems
    assert "ADMIN_IDS='1,two' must be Telegram user ids" in problems


def test_default_model_must_be_offered() -> None:
    with pytest.raises(SettingsError, match="DEFAULT_MODEL='veo3' is not one of VIDEO_MODELS"):
        Settings.from_env({**SECRETS, "VIDEO_MODELS": "veo3_fast:veo:60", "DEFAULT_MODEL": "veo3"})


def test_webhook_mode_and_a_chosen_webhook_secret_hidden() -> None:
    """Unset, the secret is generated and stored at start (tests/test_webhook_secret.py)."""
    settings = Settings.from_env(
        {**SECRETS, "PUBLIC_BASE_URL": "https://bot.example.com/", "DATABASE_URL": "postgresql://db/app"}
    )
    assert settings.telegram.webhook_mode is True
    assert settings.telegram.public_base_url == "https://bot.example.com"
    assert settings.telegram.webhook_secret is None
    assert SECRETS["BOT_TOKEN"] in settings.secrets()
    chosen = Settings.from_env({**SECRETS, "WEBHOOK_SECRET": "my_secret-1" * 3})
    assert "my_secret-1" * 3 in chosen.secrets()


@pytest.mark.parametrize("secret", ["x", "a" * 31, "a" * 31 + "!", "a" * 257, "é" * 40])
def test_a_short_or_foreign_webhook_secret_is_refused(secret: str) -> None:
    """Telegram's set (A-Z a-z 0-9 _ -), at least 32 characters: a 1-character secret is no secret."""
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET=<hidden> must be 32-256 characters"):
        Settings.from_env({**SECRETS, "WEBHOOK_SECRET": secret})


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            **SECRETS,
            "DATABASE_URL": "postgresql://app:pw@db:5432/app",
            "QUEUE_LEASE": "2m",
            "QUEUE_POLL_INTERVAL": "250ms",
            "QUEUE_KEEP_FAILED": "7d",
            "QUEUE_CONCURRENCY": "video.deliver=2, video.submit=4",
            "DATABASE_TRANSACTION_POOLER": "yes",
            "LOG_LEVEL": "WARNING",
        }
    )
    assert settings.queue.lease == 120
    assert settings.queue.poll_interval == 0.25
    assert settings.queue.keep_failed == 7 * 86400
    assert settings.queue.concurrency == {"video.deliver": 2, "video.submit": 4}
    assert settings.database.transaction_pooler is True
    assert settings.logging.level == "warning"


def test_every_problem_is_listed_with_the_variable_and_its_purpose() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {**SECRETS, "PORT": "http", "QUEUE_CONSUMERS": "0", "QUEUE_LEASE": "soon", "LOG_FORMAT": "xml"}
        )
    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("QUEUE_CONSUMERS='0' must be at least 1. Consumer coroutines")
    assert any(p.startswith("QUEUE_LEASE='soon' must be a duration") for p in problems)
    assert any(p.startswith("PORT='http' must be a whole number. Port of the HTTP server") for p in problems)
    assert any(p.startswith("LOG_FORMAT='xml' must be one of auto, json, console") for p in problems)
    assert "4 settings need fixing" in str(caught.value)


def test_secret_values_never_appear_in_errors() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**SECRETS, "DATABASE_URL": "mysql://root:hunter2@db/app"})
    assert "hunter2" not in str(caught.value)
    assert "DATABASE_URL=<hidden> must be a postgresql:// URL" in str(caught.value)


def test_summary_hides_secrets() -> None:
    settings = Settings.from_env({**SECRETS, "DATABASE_URL": "postgresql://app:hunter2@db/app"})
    summary = settings.summary()
    assert summary["database_url"] == "postgresql://app:***@db/app"
    assert (summary["bot_token"], summary["openai_api_key"], summary["kie_api_key"]) == ("***", "***", "***")
    for secret in ["hunter2", *SECRETS.values()]:
        assert secret not in repr(summary)
    assert "hunter2" in settings.secrets()
    assert "postgresql://app:hunter2@db/app" not in settings.secrets(), "the scrubber hides the password, not the URL"


def test_redact_dsn_without_password_is_unchanged() -> None:
    assert redact_dsn("postgresql://postgres@/postgres?host=/tmp") == "postgresql://postgres@/postgres?host=/tmp"


def test_redact_dsn_hides_a_password_in_the_query_string() -> None:
    dsn = "postgresql://app@db/app?sslmode=require&password=s%3Dcret&sslpassword=k3y"
    assert redact_dsn(dsn) == "postgresql://app@db/app?sslmode=require&password=***&sslpassword=***"
    assert redact_dsn("postgresql://app:pw@db/app?PASSWORD=two") == "postgresql://app:***@db/app?PASSWORD=***"
    settings = Settings.from_env({**SECRETS, "DATABASE_URL": dsn})
    assert "s%3Dcret" not in repr(settings.summary()) and "k3y" not in repr(settings.summary())
    assert {"s%3Dcret", "s=cret", "k3y"} <= set(settings.secrets()), "the log scrubber hides them too"


def test_listen_connection_choice() -> None:
    url = "postgresql://u:p@pooler:6543/db"
    assert Settings.from_env(SECRETS).database.listen_dsn(url) == url
    pooled = Settings.from_env({**SECRETS, "DATABASE_TRANSACTION_POOLER": "true"})
    assert pooled.database.listen_dsn(url) is None, "LISTEN cannot go through a transaction pooler: poll instead"
    direct = Settings.from_env(
        {**SECRETS, "DATABASE_TRANSACTION_POOLER": "true", "DATABASE_DIRECT_URL": "postgresql://db/x"}
    )
    assert direct.database.listen_dsn(url) == "postgresql://db/x"


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9000\nQUEUE_CONSUMERS=3\n# a comment\nLOG_LEVEL='debug'\n")
    merged = read_environment({"PORT": "9100"}, dotenv)
    assert merged["PORT"] == "9100"
    assert merged["QUEUE_CONSUMERS"] == "3"
    assert merged["LOG_LEVEL"] == "debug"
    assert read_environment({"A": "1"}, tmp_path / "missing.env") == {"A": "1"}


def test_env_example_is_current() -> None:
    """.env.example lists every variable with its default; regenerate it when Settings changes."""
    assert (REPO / ".env.example").read_text() == env_example()


def test_webhook_mode_without_a_database_url_is_refused() -> None:
    """A deployment (webhook mode) must not keep its balances in the embedded PostgreSQL by accident."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**SECRETS, "PUBLIC_BASE_URL": "https://bot.example.com"})
    (problem,) = caught.value.problems
    assert problem.startswith("DATABASE_URL is empty while PUBLIC_BASE_URL is set")
    assert "ALLOW_EMBEDDED_DATABASE=true" in problem
    allowed = Settings.from_env(
        {**SECRETS, "PUBLIC_BASE_URL": "https://bot.example.com", "ALLOW_EMBEDDED_DATABASE": "1"}
    )
    assert allowed.telegram.webhook_mode and allowed.database.dsn is None
    assert Settings.from_env(SECRETS).database.dsn is None, "long polling (a local run) may use the embedded one"


def test_sizes_are_binary() -> None:
    """50MB is 50 * 1024**2 bytes, as .env.example has always said (pydantic's ByteSize would read 10**6)."""
    settings = Settings.from_env({**SECRETS, "TELEGRAM_UPLOAD_LIMIT": "50MB", "PHOTO_MAX_SIZE": "512KB"})
    assert settings.telegram.upload_limit == 52428800
    assert settings.product.photo_max_size == 512 * 1024


def test_every_problem_of_every_section_is_in_one_message() -> None:
    """One start tells of every bad variable, whichever sections they belong to, each by its name."""
    bad = {"BOT_TOKEN": "", "STARTER_CREDITS": "-1", "KIE_TIMEOUT": "0s", "DATABASE_POOL_SIZE": "1"}
    bad |= {"QUEUE_LEASE": "later", "PORT": "0", "LOG_SQL": "maybe", "METRICS_CACHE": "x", "STORAGE_URL": "s3"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**SECRETS, **bad, "OPENAI_TIMEOUT": "1h", "TELEGRAM_API_LOCAL": "on"})
    named = [problem.split("=")[0] for problem in caught.value.problems]
    assert named == list(bad), "in the order of .env.example"
    assert all(line in str(caught.value) for line in caught.value.problems)
    assert "9 settings need fixing" in str(caught.value)


def test_a_secret_never_appears_in_the_message() -> None:
    """A wrong secret is named, never shown: not its value, not a part of it."""
    secret = "hunter2-Secret_value"
    environ = {**SECRETS, "BOT_TOKEN": secret, "WEBHOOK_SECRET": f"{secret}!", "DATABASE_URL": f"mysql://u:{secret}@db"}
    environ |= {"DATABASE_DIRECT_URL": f"ftp://{secret}", "SENTRY_DSN": f"dsn:{secret}", "STORAGE_URL": "http://s3"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**environ, "STORAGE_ACCESS_KEY": secret})
    message = str(caught.value)
    assert "hunter2" not in message
    for name in ["BOT_TOKEN", "WEBHOOK_SECRET", "DATABASE_URL", "DATABASE_DIRECT_URL", "SENTRY_DSN"]:
        assert f"{name}=<hidden>" in message


def test_each_section_holds_only_its_variables() -> None:
    """A part handed its section sees its own variables and no others (none twice, none lost)."""
    owners = {
        "telegram": {"BOT_TOKEN", "PUBLIC_BASE_URL", "WEBHOOK_SECRET", "ADMIN_IDS", "SUPPORT_CHAT_ID"},
        "kie": {"PROVIDER_FAILURE_THRESHOLD"},
        "product": {"QUEUE_WAIT_LIMIT"},  # how long a user waits, not how the queue runs
        "growth": {"REFERRAL_BONUS", "REFERRAL_WELCOME", "SUBSCRIPTION_PLANS", "PRESETS", "NUDGES"},
        "database": {"ALLOW_EMBEDDED_DATABASE", "EMBEDDED_PG_DIR"},
        "metrics": {"SENTRY_DSN", "SENTRY_ENVIRONMENT"},
    }
    prefixes = {"telegram": "TELEGRAM_", "openai": "OPENAI_", "kie": "KIE_", "database": "DATABASE_"}
    prefixes |= {"queue": "QUEUE_", "logging": "LOG_", "metrics": "METRICS_", "storage": "STORAGE_"}
    names = [var.name for var in variables()]
    written = [line.split("=")[0] for line in (REPO / ".env.example").read_text().splitlines() if "=" in line[:40]]
    assert names == written and len(set(names)) == len(names)
    for var in variables():
        prefix = prefixes.get(var.section)
        assert (
            (prefix and var.name.startswith(prefix))
            or var.name in owners.get(var.section, ())
            or (var.section in {"product", "runtime"} and not any(var.name.startswith(p) for p in prefixes.values()))
        ), f"{var.name} in {var.section}"
    settings = Settings.from_env(SECRETS)
    assert set(settings.queue.model_dump()) == {
        "consumers", "concurrency", "poll_interval", "lease", "keep_succeeded", "keep_failed", "vacuum_dead_rows"
    }  # fmt: skip
    assert set(settings.runtime.model_dump()) == {
        "host", "port", "shutdown_grace", "breaker_threshold", "supervisor_max_restarts", "supervisor_window"
    }  # fmt: skip


def test_changed_copies_a_section_and_leaves_the_rest() -> None:
    settings = Settings.from_env(SECRETS)
    faster = settings.changed(queue={"consumers": 1, "poll_interval": 0.05})
    assert (faster.queue.consumers, faster.queue.poll_interval, faster.queue.lease) == (1, 0.05, 30)
    assert settings.queue.consumers == 32 and faster.runtime is settings.runtime


def test_only_the_given_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads the mapping it is handed (bot.py: the process environment over .env), names as written."""
    monkeypatch.setenv("PORT", "9999")
    monkeypatch.setenv("QUEUE_CONCURRENCY", "video.nope=2")
    settings = Settings.from_env({**SECRETS, "queue_consumers": "3"})
    assert (settings.runtime.port, settings.queue.concurrency, settings.queue.consumers) == (8080, {}, 32)
