"""The documents that promise something: the README's commands and the files they rely on."""

from __future__ import annotations

import re

from core.settings import variables
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


def test_the_defaults_the_guides_name_are_the_real_ones() -> None:
    """`KIE_MIN_BALANCE` (default 1000) and the like: every such mention in the guides matches the setting."""

    defaults = {var.name: var.default for var in variables()}
    named = 0
    for guide in ["DEPLOYMENT.md", "README.md"]:
        for name, default in re.findall(r"`([A-Z][A-Z0-9_]+)` \(default ([^)]+)\)", (REPO / guide).read_text()):
            if name in defaults:
                named += 1
                assert default.strip("`") == defaults[name], f"{guide}: {name} defaults to {defaults[name]}"
    assert named >= 2


def test_the_kie_402_entry_says_what_happens_now() -> None:
    entry = (REPO / "DEPLOYMENT.md").read_text().split("KIE 402 alert", 1)[1].split("####", 1)[0]
    assert "wait" in entry and "refused" in entry and "refunded" in entry
    assert "Every affected user was refunded" not in entry
