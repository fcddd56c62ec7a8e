"""The Mini App in a real browser: Debian's chromium driven by Playwright's Python client (never a
browser download: ``executable_path`` is the system's). Telegram's script is routed to
tests/miniapp_stub.js carrying signed init data, and every request off 127.0.0.1 is refused, so
nothing reaches the network.

Without /usr/bin/chromium the browser tests are skipped with how to install it, unless
REQUIRE_BROWSER=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import REPO

CHROMIUM = Path("/usr/bin/chromium")
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
STUB = REPO / "tests" / "miniapp_stub.js"
ARTIFACTS = REPO / "tests" / "artifacts"  # git-ignored
INSTALL = "apt-get install -y chromium chromium-driver (what .ci/run does), then pip install -e '.[dev]'"

# The themeParams Telegram's clients send (Telegram Desktop's day and night themes).
LIGHT = {
    "bg_color": "#ffffff",
    "text_color": "#000000",
    "hint_color": "#999999",
    "link_color": "#168acd",
    "button_color": "#40a7e3",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#f1f1f1",
    "section_bg_color": "#ffffff",
    "destructive_text_color": "#d14e4e",
}
DARK = {
    "bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c",
    "section_bg_color": "#17212b",
    "destructive_text_color": "#ec3942",
}


def require_browser() -> None:
    """Skip (or, with REQUIRE_BROWSER=1, fail) when the system chromium or Playwright is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(str(CHROMIUM))
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not missing:
        return
    reason = f"browser tests need {' and '.join(missing)}: {INSTALL}"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def stub_script(init_data: str, user: dict[str, Any], scheme: str) -> str:
    config = {
        "initData": init_data,
        "initDataUnsafe": {"user": user},
        "colorScheme": scheme,
        "themeParams": DARK if scheme == "dark" else LIGHT,
    }
    return f"window.__tgStubConfig = {json.dumps(config)};\n" + STUB.read_text()


async def new_context(
    browser: Any,
    init_data: str,
    user: dict[str, Any],
    *,
    scheme: str = "light",
    pay: Callable[[str], Awaitable[str]] | None = None,
) -> Any:
    """A fresh phone-sized context (no cache) inside the stub Telegram; ``pay(link)`` answers openInvoice."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        color_scheme="dark" if scheme == "dark" else "light",
        service_workers="block",
    )
    script = stub_script(init_data, user, scheme)

    async def route(request_route: Any) -> None:
        target = request_route.request.url
        if target.startswith(TELEGRAM_SCRIPT):
            await request_route.fulfill(body=script, content_type="application/javascript")
        elif urlsplit(target).hostname in {"127.0.0.1", "localhost"}:
            await request_route.continue_()
        else:  # no network: anything else is refused
            await request_route.abort()

    await context.route("**/*", route)
    if pay is not None:
        await context.expose_function("__tgPay", pay)
    return context


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """The system's chromium, headless, through Playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--disable-gpu"])
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def open_page(url: str, init_data: str, user: dict[str, Any], **options: Any) -> AsyncIterator[Any]:
    """The page at ``url`` in a fresh context (``options``: ``new_context``'s); JavaScript errors on it
    fail the test."""
    async with chromium() as browser:
        context = await new_context(browser, init_data, user, **options)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(url)
        try:
            yield page
        except Exception as failure:  # a wait that timed out says little; the page's errors say why
            if errors:
                raise AssertionError(f"JavaScript errors on the page: {errors}") from failure
            raise
        assert errors == [], f"JavaScript errors on the page: {errors}"


# Every control on screen has a name a screen reader can say, every image an alt, the page a language.
UNNAMED = """() => {
  const named = (el) => (el.getAttribute("aria-label") || el.textContent || el.getAttribute("title") || "").trim()
    || (el.labels && el.labels.length) || el.getAttribute("aria-labelledby") || el.getAttribute("placeholder");
  const controls = [...document.querySelectorAll("button, a[href], input:not([type=hidden]), select, textarea")];
  const bad = controls.filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 80));
  bad.push(...[...document.querySelectorAll("img:not([alt])")].map((el) => el.outerHTML.slice(0, 80)));
  if (!document.documentElement.lang) bad.push("<html> without lang");
  return bad;
}"""


async def screenshot(page: Any, name: str) -> Path:
    """A screenshot in tests/artifacts/, checked not blank (a drawn screen has many colours), after
    checking that the screen's controls and images are named for screen readers."""
    from PIL import Image

    assert await page.evaluate(UNNAMED) == [], f"{name}: controls or images without a name"

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"{name}: the screenshot looks blank ({len(colours)} colours)"
    return path


async def main_button(page: Any) -> dict[str, Any]:
    """The MainButton as Telegram would draw it."""
    return await page.evaluate(
        "(() => { const b = Telegram.WebApp.MainButton;"
        " return {text: b.text, visible: b.isVisible, active: b.isActive, progress: b.isProgressVisible}; })()"
    )


async def stub_calls(page: Any, name: str) -> list[list[Any]]:
    calls = await page.evaluate("Telegram.WebApp.__calls")
    return [c for c in calls if c[0] == name]
