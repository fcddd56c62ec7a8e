"""The documents that promise something: the README's commands and the files they rely on."""

from __future__ import annotations

import re

from tests.helpers import REPO


def _readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (REPO / "README.md").read_text())


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    run, test = _readme_commands()[:2]
    assert run.endswith("bot.py")
    assert test.endswith("python -m pytest")
    assert test in (REPO / ".ci" / "run").read_text(), ".ci/run must run the README's test command"


def test_procfile_runs_the_bot() -> None:
    assert (REPO / "Procfile").read_text().splitlines()[0] == "web: python bot.py"
