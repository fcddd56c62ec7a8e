"""The named SQL statements of sql/*.sql, loaded once.

Each statement starts with a ``-- name: <name>`` line; the comment lines under it describe the
parameters. ``queries.job_claim`` is the text of the statement named ``job_claim``.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

# Package data of the ``sql`` package: the checkout's sql/ folder, or the installed copy in site-packages.
SQL_DIR: Traversable = files("sql")
MIGRATIONS_DIR: Traversable = SQL_DIR / "migrations"

_NAME_LINE = re.compile(r"^-- name: (?P<name>[a-z_][a-z0-9_]*)[ \t]*$", re.MULTILINE)


def parse_named_statements(text: str, source: str = "<sql>") -> dict[str, str]:
    """Split a file into its named statements; the text before the first name is the file header."""
    statements: dict[str, str] = {}
    marks = list(_NAME_LINE.finditer(text))
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        name = mark.group("name")
        body = text[mark.end() : following.start() if following else len(text)].strip()
        if name in statements:
            raise ValueError(f"{source}: statement {name!r} is defined twice")
        if not _strip_comments(body):
            raise ValueError(f"{source}: statement {name!r} is empty")
        statements[name] = body
    return statements


def _strip_comments(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--")).strip()


class Queries:
    """Attribute access to named statements, so a typo fails loudly at the call site."""

    def __init__(self, statements: dict[str, str]) -> None:
        self._statements = statements
        self._names = {body: name for name, body in statements.items()}

    def __getattr__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError:
            raise AttributeError(f"no SQL statement named {name!r} in {SQL_DIR}") from None

    def names(self) -> list[str]:
        return sorted(self._statements)

    def name_of(self, statement: str) -> str | None:
        """The name of a statement's exact text (as db/ passes it to asyncpg); None for any other text."""
        return self._names.get(statement)


def sql_files(directory: Traversable) -> list[Traversable]:
    """The ``*.sql`` files directly in ``directory``, by name (a Traversable has no glob)."""
    return sorted((p for p in directory.iterdir() if p.is_file() and p.name.endswith(".sql")), key=lambda p: p.name)


def load_queries(directory: Traversable = SQL_DIR) -> Queries:
    statements: dict[str, str] = {}
    for path in sql_files(directory):
        for name, body in parse_named_statements(path.read_text(encoding="utf-8"), str(path)).items():
            if name in statements:
                raise ValueError(f"{path}: statement {name!r} is also defined in another file")
            statements[name] = body
    return Queries(statements)


queries = load_queries()
