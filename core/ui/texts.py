"""Every sentence a user reads, by key and language. Handlers and jobs never hold prose.

The sentences live in gettext catalogues, ``core/ui/locales/<lang>.po``, one per language, read
with Babel at import (no compile step, nothing generated to keep in step). The msgid is a stable
key, the msgstr a ``str.format`` template. Adding a sentence is one entry in each file; a test fails
when a key is missing, or its placeholders differ, in either language.

``text(lang, key, **params)`` fills a template. Inside templates, a format spec chooses how a value
reads in that language: ``{n:credits}`` is the number with its noun in the right plural form ("1
credit", "5 кредитов": the ``unit_credits`` entry, gettext plural rules from Babel's CLDR data),
``{d:day}``, ``{d:date}`` and ``{d:datetime}`` localized dates, ``{x:number}`` a grouped number ("12 345").
"""

from __future__ import annotations

import gettext
import io
import string
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, get_group_symbol

from core.growth import Preset
from db.users import User

DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "ru")
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
UNIT_PREFIX = "unit_"  # plural entries: unit_credits is what {n:credits} reads
PRESET_PREFIX = "preset_name_"  # the names of the styles we ship (core/growth.py DEFAULT_PRESETS)


def _load(lang: str) -> gettext.GNUTranslations:
    with (LOCALES_DIR / f"{lang}.po").open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


CATALOGUES: dict[str, gettext.GNUTranslations] = {lang: _load(lang) for lang in LANGUAGES}
for _lang in LANGUAGES:
    if _lang != DEFAULT_LANGUAGE:
        CATALOGUES[_lang].add_fallback(CATALOGUES[DEFAULT_LANGUAGE])


def language(code: str | None) -> str:
    """The catalogue language for a Telegram language_code such as 'en', 'ru' or 'pt-br'."""
    base = (code or "").split("-")[0].lower()
    return base if base in CATALOGUES else DEFAULT_LANGUAGE


def user_language(user: User | None) -> str:
    """The language a user reads: the one they chose (or got at first contact), else their Telegram
    one; English for nobody (e.g. an admin who never wrote to the bot)."""
    if user is None:
        return DEFAULT_LANGUAGE
    return user.language if user.language in CATALOGUES else language(user.language_code)


class _Localized:
    """A placeholder's value formatted in the reader's language. Templates use their own format
    specs: {when:date}, {when:day}, {when:datetime}, {n:number}, {n:credits} (a plural unit);
    anything else is Python's. A wrapper (``str.format_map`` calls ``__format__``) rather than a
    ``string.Formatter``, whose template parsing in Python costs more than the rest of a reply."""

    __slots__ = ("lang", "value")

    def __init__(self, value: Any, lang: str) -> None:
        self.value = value
        self.lang = lang

    def __format__(self, format_spec: str) -> str:
        value, lang = self.value, self.lang
        if not format_spec:
            return str(value)
        if format_spec == "date" and isinstance(value, date):
            return format_date(value, "d MMM y", locale=lang)
        if format_spec == "day" and isinstance(value, date):
            return format_date(value, "d MMM", locale=lang)
        if format_spec == "datetime" and isinstance(value, datetime):
            return format_datetime(value, "d MMM y, HH:mm", tzinfo=value.tzinfo, locale=lang)
        if format_spec == "number":
            return grouped(lang, value)
        if format_spec.isidentifier():
            return plural(lang, format_spec, int(value))
        return format(value, format_spec)


def text(lang: str, key: str, **params: object) -> str:
    template = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANGUAGE]).gettext(key)
    if template == key:
        raise KeyError(f"no text {key!r} in the catalogue")
    lang = lang if lang in CATALOGUES else DEFAULT_LANGUAGE
    return template.format_map({name: _Localized(value, lang) for name, value in params.items()})


def preset_name(lang: str, preset: Preset) -> str:
    """A style's name in the reader's language: the catalogue's for the styles we ship (``preset_name_<id>``),
    else as PRESETS writes it (an operator's own style, in the operator's words)."""
    key = PRESET_PREFIX + preset.id.replace("-", "_")
    name = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANGUAGE]).gettext(key)
    return preset.name if name == key else name


@lru_cache(maxsize=4096)  # gettext's plural rule is Python evaluated per call; balances repeat
def plural(lang: str, unit: str, count: int) -> str:
    """``count`` with its noun in the language's plural form: plural('ru', 'credits', 5) == '5 кредитов'."""
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANGUAGE])
    key = UNIT_PREFIX + unit
    template = catalogue.ngettext(key, key + "_plural", count)
    if template.startswith(key):
        raise KeyError(f"no plural entry {key!r} in the catalogue")
    return template.format(n=grouped(lang, count))


@cache
def _group_symbol(lang: str) -> str:
    return get_group_symbol(lang if lang in CATALOGUES else DEFAULT_LANGUAGE)


def grouped(lang: str, number: int) -> str:
    """A whole number with the language's digit grouping: 12,345 or 12 345 (Babel's CLDR symbol,
    looked up once: formatting with Babel on every call costs ~100 µs)."""
    if isinstance(number, int):
        return f"{number:,}".replace(",", _group_symbol(lang))
    return format_decimal(number, locale=lang if lang in CATALOGUES else DEFAULT_LANGUAGE)


def keys(lang: str) -> dict[str, str | tuple[str, ...]]:
    """Every entry of one language's catalogue file, as written: key -> template (or plural forms)."""
    with (LOCALES_DIR / f"{lang}.po").open("rb") as source:
        catalog = read_po(source, locale=lang)
    entries: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        key = str(message.id[0]) if isinstance(message.id, tuple | list) else str(message.id)
        string = message.string
        entries[key] = tuple(string) if isinstance(string, tuple | list) else str(string or "")
    return entries


def placeholders(template: str) -> set[tuple[str, str]]:
    """The (name, format spec) pairs a template uses."""
    return {(name, spec or "") for _, name, spec, _ in string.Formatter().parse(template) if name}
