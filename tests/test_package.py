"""The wheel: every module and SQL file in it, and the installed copy migrates from outside the checkout.

The wheel is built from this checkout with the venv's setuptools (no network), installed without its
dependencies into a folder of its own (the venv has them), and run from a directory that is not the
checkout, so only the installed files can be found. .ci/run also installs it in a fresh venv.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import asyncpg
import pytest

from db.migrate import discover
from tests.helpers import REPO, SECRETS


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("reelsmith-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        cwd=target,
    )
    return target


def source_files(folder: str, pattern: str) -> set[str]:
    return {p.relative_to(REPO).as_posix() for p in (REPO / folder).rglob(pattern) if "__pycache__" not in p.parts}


def test_every_module_and_sql_file_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = source_files("core", "*.py") | source_files("db", "*.py")
    assert len(modules) > 40
    assert modules - names == set()
    sql = source_files("sql", "*.sql")
    assert {"sql/jobs.sql", "sql/migrations/0001_jobs.sql"} <= sql
    assert sql - names == set()
    assert {"bot.py", "sql/__init__.py"} <= names
    static = {p for p in source_files("core/web/miniapp/static", "*") if (REPO / p).is_file()}
    assert "core/web/miniapp/static/index.html" in static
    assert static - names == set(), "the Mini App's page ships in the wheel"
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "reelsmith = bot:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def run_installed(installed: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(installed / "bin" / "reelsmith"), *args],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(installed), "LOG_FORMAT": "json", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_installed_copy_migrates_from_outside_the_checkout(
    installed: Path, empty_database_url: str, tmp_path: Path
) -> None:
    assert "check" in run_installed(installed, tmp_path, "--help")
    where = subprocess.run(
        [sys.executable, "-c", "import db.sql; print(db.sql.__file__, len(db.sql.queries.names()))"],
        env={"PYTHONPATH": str(installed)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(installed), "the installed copy, not the checkout"
    assert int(where[1]) > 20, "the statements were found next to the installed code"

    out = run_installed(installed, tmp_path, "migrate", env={**SECRETS, "DATABASE_URL": empty_database_url})
    assert "db.migrations.applied" in out

    async def versions() -> list[int]:
        conn = await asyncpg.connect(empty_database_url)
        try:
            return [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        finally:
            await conn.close()

    assert asyncio.run(versions()) == [m.version for m in discover()]
