"""The Mini App page without a browser: every text it asks for is in both catalogues and every app_*
text is used by it (the page fetches them by key from GET /app/api/texts), and its weight budget."""

from __future__ import annotations

import re

import pytest

from core.ui.texts import LANGUAGES, keys
from tests import browser
from tests.fakes.miniapp_api import STATIC
from tests.helpers import REPO

BUDGET = 150 * 1024  # the limit for the page's own files, uncompressed
# Keys the page builds from a value: credits_<Intl.PluralRules category>, state_<video state>.
BUILT = {f"credits_{form}" for form in ("one", "few", "many", "other")}
BUILT |= {f"state_{state}" for state in ("rendering", "done", "failed", "canceled")}


def page_source() -> str:
    return "\n".join(path.read_text() for path in sorted(STATIC.glob("*.js")))


def test_every_text_the_page_uses_exists_and_every_app_text_is_used() -> None:
    source = page_source()
    literal = set(re.findall(r"""\bt\("([a-z0-9_]+)\"""", source))
    # t("key") is in a comment, t("state_" + ...) a built key.
    used = {k for k in literal if k != "key" and not k.endswith("_")} | BUILT
    for lang in LANGUAGES:
        app = {k.removeprefix("app_") for k in keys(lang) if k.startswith("app_")}
        # stat_<key>: the label of a key of /stats or /users (label(key) in app.js), looked up by value.
        used |= {k for k in app if k.startswith("stat_")}
        assert used - app == set(), f"{lang}: texts the page asks for but the catalogue lacks"
        assert app - used == set(), f"{lang}: app_* texts the page never uses"


def test_the_page_weighs_at_most_150_kb() -> None:
    files = [p for p in STATIC.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "app.css", "app.js", "charts.js"}
    assert sum(p.stat().st_size for p in files) <= BUDGET


def test_the_page_has_no_user_facing_words_of_its_own() -> None:
    """Sentences come from the catalogues: no literal English between tags in the HTML."""
    html = (STATIC / "index.html").read_text()
    body = re.sub(r"<!--.*?-->|<script.*?</script>|<style.*?</style>", "", html.split("<body>", 1)[1], flags=re.S)
    assert re.findall(r">\s*([A-Za-z][^<]*?)\s*<", body) == []


class TestBrowserRequirement:
    """Fresh machines: without chromium the browser tests skip saying how to install it; CI fails them."""

    def test_skipped_with_the_install_command_or_failed_under_require_browser(self, monkeypatch, tmp_path) -> None:
        monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
        monkeypatch.delenv("REQUIRE_BROWSER", raising=False)
        with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium chromium-driver"):
            browser.require_browser()
        monkeypatch.setenv("REQUIRE_BROWSER", "1")
        with pytest.raises(pytest.fail.Exception, match="REQUIRE_BROWSER=1"):
            browser.require_browser()

    def test_ci_installs_chromium_and_requires_it_before_the_readme_command(self) -> None:
        ci = (REPO / ".ci" / "run").read_text()
        readme_command = ci.index("python3 -m venv .venv &&")
        assert ci.index("\ninstall_chromium\n") < readme_command
        assert ci.index("export REQUIRE_BROWSER=1") < readme_command
