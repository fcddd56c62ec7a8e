"""The deploy kit (render.yaml, app.json, railway.json, deploy/*.service, Procfile) is consistent: each file
parses, starts the same command as the Procfile, names only settings that exist, and checks health on a
path the app serves."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

import aiohttp
import pytest
import yaml

from bot import _arguments
from core.settings import Settings, variables
from tests.helpers import REPO, SECRETS, BotHarness

SETTINGS = {var.name for var in variables()}
SECRET_SETTINGS = {var.name for var in variables() if var.secret}
# Read by a platform's build, not by the bot.
PLATFORM_VARIABLES = {"PYTHON_VERSION"}


def procfile() -> dict[str, str]:
    processes = {}
    for line in filter(str.strip, (REPO / "Procfile").read_text().splitlines()):
        name, _, start = line.partition(":")
        processes[name.strip()] = start.strip()
    return processes


def command(text: str) -> str:
    """A start command in one spelling: ``env VAR=x`` prefixes dropped, the ``reelsmith`` entry point
    (which calls bot.main) written as ``python bot.py``."""
    words = shlex.split(text)
    if PurePosixPath(words[0]).name == "env":
        words = words[1:]
    while words and "=" in words[0]:
        words = words[1:]
    if PurePosixPath(words[0]).name == "reelsmith":
        words = ["python", "bot.py", *words[1:]]
    return " ".join(words)


def render() -> dict[str, Any]:
    return yaml.safe_load((REPO / "render.yaml").read_text())


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((REPO / "deploy" / name).read_text())
    return parser


def test_procfile_has_a_web_and_a_worker_process_the_cli_accepts() -> None:
    processes = procfile()
    assert processes == {"web": "python bot.py", "worker": "python bot.py --role worker"}
    for start in processes.values():
        _arguments().parse_args(shlex.split(start)[2:])  # exits on an unknown argument


def test_render_blueprint() -> None:
    blueprint = render()
    (database,) = blueprint["databases"]
    services = {s["type"]: s for s in blueprint["services"]}
    assert command(services["web"]["startCommand"]) == procfile()["web"]
    assert command(services["worker"]["startCommand"]) == procfile()["worker"]
    for service in services.values():
        assert service["buildCommand"] == "pip install ."
        variables = {v["key"]: v for v in service["envVars"]}
        assert set(variables) <= SETTINGS | PLATFORM_VARIABLES
        assert variables["DATABASE_URL"]["fromDatabase"] == {"name": database["name"], "property": "connectionString"}
        for name in {"BOT_TOKEN", "OPENAI_API_KEY", "KIE_API_KEY", "PUBLIC_BASE_URL"}:
            assert variables[name] == {"key": name, "sync": False}, f"{name} is asked for, never committed"
        assert not any("value" in variables[name] for name in SECRET_SETTINGS & set(variables))
    assert "healthCheckPath" not in services["worker"], "Render checks health of web services only"
    web_token = {v["key"]: v for v in services["web"]["envVars"]}["METRICS_TOKEN"]
    assert web_token == {"key": "METRICS_TOKEN", "generateValue": True}, "private /metrics in webhook mode"
    worker_token = {v["key"]: v for v in services["worker"]["envVars"]}["METRICS_TOKEN"]
    assert worker_token["fromService"] == {"type": "web", "name": "reelsmith", "envVarKey": "METRICS_TOKEN"}


def test_heroku_app_json() -> None:
    app = json.loads((REPO / "app.json").read_text())
    assert set(app["formation"]) <= set(procfile())
    assert app["formation"]["web"]["quantity"] == 1
    assert any(str(addon.get("plan", addon)).startswith("heroku-postgresql") for addon in app["addons"])
    assert set(app["env"]) <= SETTINGS
    for name in ("BOT_TOKEN", "OPENAI_API_KEY", "KIE_API_KEY", "PUBLIC_BASE_URL"):
        assert app["env"][name]["required"] is True
    assert not any("value" in app["env"][name] for name in SECRET_SETTINGS & set(app["env"]))
    assert app["env"]["METRICS_TOKEN"]["generator"] == "secret", "private /metrics in webhook mode"


def test_railway_json() -> None:
    config = json.loads((REPO / "railway.json").read_text())
    assert command(config["deploy"]["startCommand"]) == procfile()["web"]


def test_systemd_units() -> None:
    web, worker = unit("reelsmith.service"), unit("reelsmith-worker@.service")
    assert command(web["Service"]["ExecStart"]) == procfile()["web"]
    assert command(worker["Service"]["ExecStart"]) == procfile()["worker"]
    for service in (web, worker):
        assert service["Service"]["EnvironmentFile"] == "/etc/reelsmith/reelsmith.env"
        assert service["Service"]["RestartPreventExitStatus"] == "78", "bad settings: no restart loop"
        assert float(service["Service"]["TimeoutStopSec"]) > Settings.from_env(SECRETS).runtime.shutdown_grace
    assert shlex.split(worker["Service"]["ExecStart"])[1] == "PORT=%i", "each worker instance has its own port"


def test_deployment_guide_names_only_settings_that_exist() -> None:
    named = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", (REPO / "DEPLOYMENT.md").read_text()))
    assert len(named) > 10
    assert named - SETTINGS == set()


@pytest.mark.parametrize(
    "path",
    sorted(
        {
            render()["services"][0]["healthCheckPath"],
            json.loads((REPO / "railway.json").read_text())["deploy"]["healthcheckPath"],
        }
    ),
)
async def test_health_check_paths_are_served(bot: BotHarness, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{bot.base_url}{path}") as response:
        assert response.status == 200, await response.text()
