"""All configuration, read once at start from the environment (and an optional .env) into sections
(core/settings/sections.py), each handed to the part that uses it.

pydantic-settings maps variables to fields and pydantic reads them; what pydantic would print is rewritten
here, one line per variable, named as written, secrets hidden, so a bad start reads as a list of fixes."""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator, Mapping
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import EnvSettingsSource

from core.catalogue import VideoModel
from core.settings import sections
from core.settings.sections import Section

__all__ = ["Settings", "SettingsError", "env_example", "read_environment", "redact_dsn", "variables"]

# pydantic's complaints in our words; any other is a reader's own reason.
_REASONS = {
    "missing": "is missing",
    "too_short": "must not be empty",
    "int_parsing": "must be a whole number",
    "bool_parsing": "must be true or false",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "literal_error": "must be one of {expected}",
}
_EPHEMERAL = (
    "DATABASE_URL is empty while PUBLIC_BASE_URL is set (webhook mode, so a deployment): the embedded PostgreSQL "
    "would keep every balance on the platform's disk, lost at the next deploy. Set DATABASE_URL to a managed "
    "PostgreSQL, or ALLOW_EMBEDDED_DATABASE=true if this disk is persistent."
)


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

    telegram: sections.TelegramSettings
    product: sections.ProductSettings
    growth: sections.GrowthSettings
    openai: sections.OpenAISettings
    kie: sections.KieSettings
    database: sections.DatabaseSettings
    queue: sections.QueueSettings
    runtime: sections.RuntimeSettings
    logging: sections.LoggingSettings
    metrics: sections.MetricsSettings
    storage: sections.StorageSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Every section from ``environ``; every problem of every section in one ``SettingsError``."""
        parsed: dict[str, Any] = {}
        problems: list[str] = []
        for name, section in _sections():
            try:
                parsed[name] = section(**_Environ(section, environ)())
            except ValidationError as error:
                problems += [_problem(name, detail, environ) for detail in error.errors()]
        telegram, database = parsed.get("telegram"), parsed.get("database")
        if telegram and database and telegram.webhook_mode and not (database.url or database.allow_embedded):
            problems.append(_EPHEMERAL)
        if problems:
            raise SettingsError(problems)
        return cls.model_validate(parsed)

    def changed(self, **changes: Mapping[str, Any]) -> Settings:
        """A copy with some values changed, by section: ``settings.changed(queue={"consumers": 1})``."""
        return self.model_copy(
            update={name: getattr(self, name).model_copy(update=values) for name, values in changes.items()}
        )

    def summary(self) -> dict[str, Any]:
        """Every setting for the start-up log, secrets hidden."""
        return {var.name.lower(): _shown(var, self._value(var)) for var in variables()}

    def secrets(self) -> list[str]:
        """Secret values (and DSN passwords) the log scrubber must never let through."""
        found: list[str] = []  # a stored webhook secret joins at start (core/telegram/webhook_secret.py)
        for var in variables():
            if var.secret and (value := self._value(var)):
                raw = value.get_secret_value()
                # A DSN is shown redacted; only its password is secret.
                found += dsn_passwords(raw) if raw.startswith("postgres") else [raw]
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
    key: str  # what pydantic calls it: the alias, else the field name


def variables() -> Iterator[Variable]:
    """Every environment variable, in the order of .env.example."""
    for attribute, section in _sections():
        prefix = section.model_config.get("env_prefix", "")
        for name, field in section.model_fields.items():
            key = str(field.validation_alias or name)
            yield Variable(
                (key if field.validation_alias else prefix + name).upper(),
                str(section.model_config.get("title")),
                _descriptions()[section.__name__, name],
                None if field.is_required() else "" if field.default is None else str(field.default),
                field.annotation in (SecretStr, SecretStr | None),
                attribute,
                name,
                key,
            )


@cache
def _descriptions() -> dict[tuple[str, str], str]:
    """Each field's docstring, its lines joined, by class and field: sections.py parsed once, when first needed.
    (pydantic's use_attribute_docstrings reads the source again for each class: half this package's import.)"""
    tree = ast.parse(Path(sections.__file__).read_text())
    return {
        (section.name, field.target.id): " ".join(doc.value.value.split())
        for section in tree.body
        if isinstance(section, ast.ClassDef)
        for field, doc in pairwise(section.body)
        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
        if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)
    }


def _sections() -> Iterator[tuple[str, type[Section]]]:
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, Section)
        yield name, field.annotation


class _Environ(EnvSettingsSource):
    """``environ`` in place of ``os.environ``: names only as written, in capitals; values stripped and handed
    to pydantic as written (no JSON decoding), an empty one left out so the default applies."""

    def __init__(self, section: type[Section], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(section)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items() if name == name.upper()}

    def prepare_field_value(self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool) -> Any:
        value = value.strip() if isinstance(value, str) else value
        return None if value == "" and not field.is_required() else value


def _problem(section: str, detail: ErrorDetails, environ: Mapping[str, str]) -> str:
    """pydantic's error as our line: the variable as written, its value (or <hidden>), why, what it is for."""
    template = _REASONS.get(detail["type"])
    context = {key: str(value).replace("'", "").replace(" or ", ", ") for key, value in detail.get("ctx", {}).items()}
    reason = template.format_map(context) if template else detail["msg"].removeprefix("Value error, ")
    if not detail["loc"]:  # a check across the section's variables: its message names them
        return reason
    var = next(var for var in variables() if (var.section, var.key) == (section, detail["loc"][0]))
    if detail["type"] == "missing":
        return f"{var.name} {reason}. {var.help}"
    shown = "<hidden>" if var.secret else repr(environ.get(var.name, var.default))
    return f"{var.name}={shown} {reason}. {var.help}"


def _shown(var: Variable, value: Any) -> Any:
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        return redact_dsn(raw) if raw.startswith("postgres") else "***"
    if isinstance(value, Path):
        return str(value)
    if var.name == "CREDIT_PACKAGES":
        return [package.id for package in value]
    if var.name == "VIDEO_MODELS":
        return {m.id: _priced(m) for m in value.values()}
    return value


_QUERY_PASSWORD = re.compile(r"(?i)(^|&)((?:ssl)?password)=([^&]*)")


def dsn_passwords(dsn: str) -> list[str]:
    """Every password a DSN holds: the one in its netloc and any ``?password=`` (libpq reads both)."""
    parts = urlsplit(dsn)
    found = [parts.password or ""]
    for match in _QUERY_PASSWORD.finditer(parts.query):
        found += [match.group(3), unquote(match.group(3))]  # as written, and as libpq reads it
    return list(dict.fromkeys(p for p in found if p))


def redact_dsn(dsn: str) -> str:
    """The DSN as it may be logged: passwords (``user:***@``, ``?password=***``) hidden."""
    parts = urlsplit(dsn)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1))
    if parts.query:
        parts = parts._replace(query=_QUERY_PASSWORD.sub(r"\1\2=***", parts.query))
    return parts.geturl()


def read_environment(environ: Mapping[str, str], dotenv: Path | None) -> dict[str, str]:
    """The process environment over the .env file: a variable set in both keeps its environment value."""
    found = dotenv_values(dotenv) if dotenv is not None and dotenv.is_file() else {}
    return {**{name: value for name, value in found.items() if value is not None}, **environ}


def env_example() -> str:
    """The text of .env.example: every variable, grouped, with what it is for and its default."""
    out, group = ["# Reelsmith configuration. Copy to .env or set these in the environment."], None
    out += ["# Empty values take the default shown.", ""]
    for var in variables():
        if var.group != group:
            group = var.group
            out += [f"# --- {group} " + "-" * (60 - len(group)), ""]
        out += textwrap.wrap(var.help, width=98, initial_indent="# ", subsequent_indent="# ")
        if var.default is None:
            out.append("# Required.")
        out += [f"{var.name}={var.default or ''}", ""]
    return "\n".join(out)


def _priced(model: VideoModel) -> str:
    if model.per_second is None:
        return f"{model.family}, {model.price} credits"
    lengths = ", ".join(f"{s} s" for s in model.durations)
    return f"{model.family}, {model.per_second} credits a second ({lengths})"
