"""Settings: read once from the environment, every problem reported at once, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, env_example, read_environment, redact_dsn
from tests.helpers import REPO


def test_defaults_need_nothing() -> None:
    """With no environment at all the process can start: embedded database, default knobs."""
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.queue_consumers == 32
    assert settings.shutdown_grace == 25.0
    assert settings.port == 8080
    assert settings.embedded_pg_dir == Path(".data/postgres")


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://app:pw@db:5432/app",
            "QUEUE_LEASE": "2m",
            "QUEUE_POLL_INTERVAL": "250ms",
            "QUEUE_KEEP_FAILED": "7d",
            "QUEUE_CONCURRENCY": "video.deliver=2, video.submit=4",
            "DATABASE_TRANSACTION_POOLER": "yes",
            "LOG_LEVEL": "WARNING",
        }
    )
    assert settings.queue_lease == 120
    assert settings.queue_poll_interval == 0.25
    assert settings.queue_keep_failed == 7 * 86400
    assert settings.queue_concurrency == {"video.deliver": 2, "video.submit": 4}
    assert settings.database_transaction_pooler is True
    assert settings.log_level == "warning"


def test_every_problem_is_listed_with_the_variable_and_its_purpose() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"PORT": "http", "QUEUE_CONSUMERS": "0", "QUEUE_LEASE": "soon", "LOG_FORMAT": "xml"})
    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("QUEUE_CONSUMERS='0' must be at least 1. Consumer coroutines")
    assert any(p.startswith("QUEUE_LEASE='soon' must be a duration") for p in problems)
    assert any(p.startswith("PORT='http' must be a whole number. Port of the HTTP server") for p in problems)
    assert any(p.startswith("LOG_FORMAT='xml' must be one of auto, json, console") for p in problems)
    assert "4 settings need fixing" in str(caught.value)


def test_secret_values_never_appear_in_errors() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"DATABASE_URL": "mysql://root:hunter2@db/app"})
    assert "hunter2" not in str(caught.value)
    assert "DATABASE_URL=<hidden> must be a postgresql:// URL" in str(caught.value)


def test_summary_hides_secrets() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://app:hunter2@db/app"})
    summary = settings.summary()
    assert summary["database_url"] == "postgresql://app:***@db/app"
    assert "hunter2" not in repr(summary)
    assert settings.secrets() == ["hunter2"], "the log scrubber hides the password, not the whole URL"


def test_redact_dsn_without_password_is_unchanged() -> None:
    assert redact_dsn("postgresql://postgres@/postgres?host=/tmp") == "postgresql://postgres@/postgres?host=/tmp"


def test_listen_connection_choice() -> None:
    url = "postgresql://u:p@pooler:6543/db"
    assert Settings.from_env({}).listen_dsn(url) == url
    pooled = Settings.from_env({"DATABASE_TRANSACTION_POOLER": "true"})
    assert pooled.listen_dsn(url) is None, "LISTEN cannot go through a transaction pooler: poll instead"
    direct = Settings.from_env({"DATABASE_TRANSACTION_POOLER": "true", "DATABASE_DIRECT_URL": "postgresql://db/x"})
    assert direct.listen_dsn(url) == "postgresql://db/x"


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
