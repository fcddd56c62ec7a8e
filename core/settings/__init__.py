"""All configuration, read from the environment (and an optional .env) once at start, into sections
(core/settings/sections.py) that are handed each to the part that uses it.

pydantic-settings maps variables to fields; our readers (core/settings/readers.py) parse the
documented forms. What pydantic would print is rewritten here: one line per variable, named as the
person wrote it, secrets hidden, so a bad start reads as a list of fixes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import EnvSettingsSource

from core.settings.sections import (
    DatabaseSettings,
    KieSettings,
    LoggingSettings,
    MetricsSettings,
    OpenAISettings,
    ProductSettings,
    QueueSettings,
    RuntimeSettings,
    Section,
    StorageSettings,
    TelegramSettings,
    redact_dsn,
    reveal,
)

__all__ = ["Settings", "SettingsError", "env_example", "read_environment", "redact_dsn", "reveal", "variables"]


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


class Settings(BaseModel):
    """Every section; the runtime wiring hands each part the one it uses."""

    model_config = ConfigDict(frozen=True)

    telegram: TelegramSettings
    product: ProductSettings
    openai: OpenAISettings
    kie: KieSettings
    database: DatabaseSettings
    queue: QueueSettings
    runtime: RuntimeSettings
    logging: LoggingSettings
    metrics: MetricsSettings
    storage: StorageSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Every section from ``environ``; every problem of every section in one ``SettingsError``."""
        sections: dict[str, Section] = {}
        problems: list[str] = []
        for name, section in _sections():
            try:
                sections[name] = section.model_validate(_Environ(section, environ)())
            except ValidationError as error:
                problems += [_problem(section, detail) for detail in error.errors()]
        problems += _cross_checks(sections)
        if problems:
            raise SettingsError(problems)
        return cls.model_validate(sections)

    def changed(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with some values changed, by section: ``settings.changed(queue={"consumers": 1})``."""
        return self.model_copy(
            update={name: getattr(self, name).model_copy(update=values) for name, values in sections.items()}
        )

    def summary(self) -> dict[str, Any]:
        """Every setting for the start-up log, secrets hidden."""
        return {var.name.lower(): _shown(var, self._value(var)) for var in variables()}

    def secrets(self) -> list[str]:
        """Secret values (and DSN passwords) the log scrubber must never let through."""
        found = [self.telegram.secret]
        for var in variables():
            if var.secret and (value := self._value(var)):
                raw = value.get_secret_value()
                # A DSN is shown redacted; only its password is secret.
                found += [urlsplit(raw).password or ""] if raw.startswith("postgres") else [raw]
        return [secret for secret in found if secret]

    def _value(self, var: Variable) -> Any:
        return getattr(getattr(self, var.section), var.field)


class Variable(NamedTuple):
    name: str  # as in the environment
    group: str
    help: str
    default: str | None  # as written in .env; None: required
    secret: bool
    section: str  # Settings' attribute
    field: str  # the section's attribute


def variables() -> Iterator[Variable]:
    """Every environment variable, in the order of .env.example."""
    for attribute, section in _sections():
        for name, field in section.model_fields.items():
            yield Variable(
                _env_name(section, name, field),
                str(section.model_config.get("title")),
                field.description or "",
                None if field.is_required() else str(field.default),
                field.annotation in (SecretStr, SecretStr | None),
                attribute,
                name,
            )


def _sections() -> Iterator[tuple[str, type[Section]]]:
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, Section)
        yield name, field.annotation


def _env_name(section: type[Section], name: str, field: FieldInfo) -> str:
    return str(field.validation_alias or f"{section.model_config.get('env_prefix', '')}{name}").upper()


class _Environ(EnvSettingsSource):
    """``environ`` in place of ``os.environ``: names only as written, in capitals; values handed to our
    readers as written (no JSON decoding), and an empty value left out, so the default applies."""

    def __init__(self, section: type[Section], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(section)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items() if name == name.upper()}

    def prepare_field_value(self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool) -> Any:
        if isinstance(value, str) and not value.strip() and not field.is_required():
            return None
        return value


def _problem(section: type[Section], detail: ErrorDetails) -> str:
    reason = detail["msg"].removeprefix("Value error, ")
    if not detail["loc"]:  # a check across the section's variables: its message names them
        return reason
    by_key = {str(f.validation_alias or n): (n, f) for n, f in section.model_fields.items()}
    name, field = by_key[str(detail["loc"][0])]
    var = _env_name(section, name, field)
    if detail["type"] == "missing":
        return f"{var} is missing. {field.description}"
    shown = "<hidden>" if field.annotation in (SecretStr, SecretStr | None) else repr(detail["input"])
    return f"{var}={shown} {reason}. {field.description}"


def _cross_checks(sections: dict[str, Any]) -> list[str]:
    telegram, database = sections.get("telegram"), sections.get("database")
    if telegram and database and telegram.webhook_mode and not database.url and not database.allow_embedded:
        return [
            "DATABASE_URL is empty while PUBLIC_BASE_URL is set (webhook mode, so a deployment): the embedded "
            "PostgreSQL would keep every balance on the platform's disk, lost at the next deploy. Set "
            "DATABASE_URL to a managed PostgreSQL, or ALLOW_EMBEDDED_DATABASE=true if this disk is persistent."
        ]
    return []


def _shown(var: Variable, value: Any) -> Any:
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        return redact_dsn(raw) if raw.startswith("postgres") else "***"
    if isinstance(value, Path):
        return str(value)
    if var.name == "CREDIT_PACKAGES":
        return [package.id for package in value]
    if var.name == "VIDEO_MODELS":
        return {m.id: f"{m.family}, {m.price} credits" for m in value.values()}
    return value


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
    for var in variables():
        if var.group != group:
            group = var.group
            out += [f"# --- {group} " + "-" * (60 - len(group)), ""]
        out += textwrap.wrap(var.help, width=98, initial_indent="# ", subsequent_indent="# ")
        if var.default is None:
            out.append("# Required.")
        out += [f"{var.name}={var.default or ''}", ""]
    return "\n".join(out)
