"""The Mini App page: its weight as built, and first contentful paint on localhost in headless chromium.

    .venv/bin/python -m bench.miniapp_page_bench [--runs 20]

Debian's chromium (/usr/bin/chromium) through Playwright, a fresh context per run (cold cache), a
phone viewport, Telegram's script routed to the test stub (no network). The page and its static files
are served by aiohttp from the package, its API by the contract's in-memory fake
(tests/fakes/miniapp_api.py): first contentful paint needs no API answer (the page paints its logo
before any script asks), "ready" is when the Videos screen has drawn its cards (texts, /me, /videos).
Goal: FCP <= 1 s; weight <= 150 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import sys
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser import CHROMIUM, chromium, new_context  # noqa: E402
from tests.fakes.miniapp_api import STATIC, FakeMiniAppApi  # noqa: E402
from tests.helpers import SECRETS, free_port  # noqa: E402
from tests.miniapp import app_user, sign_init_data  # noqa: E402

MEASURE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return {fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
}"""


def weight() -> list[tuple[str, int, int]]:
    return [(p.name, p.stat().st_size, len(gzip.compress(p.read_bytes(), 9))) for p in sorted(STATIC.iterdir())]


async def paints(url: str, runs: int) -> list[dict[str, float]]:
    user = app_user(601)
    results = []
    async with chromium() as browser:
        for _ in range(runs):
            context = await new_context(browser, sign_init_data(SECRETS["BOT_TOKEN"], user), user)
            page = await context.new_page()
            started = asyncio.get_running_loop().time()
            await page.goto(url)
            await page.locator("article.video").first.wait_for()
            ready_ms = (asyncio.get_running_loop().time() - started) * 1000
            await page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
            numbers = await page.evaluate(MEASURE)
            results.append({**numbers, "ready": ready_ms})
            await context.close()
    return results


def row(name: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"| {name} | {statistics.median(values):.0f} | {p95:.0f} | {values[-1]:.0f} |"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")

    files = weight()
    print("| file | bytes | gzip -9 |\n|---|---|---|")
    for name, size, packed in files:
        print(f"| {name} | {size:,} | {packed:,} |")
    total, packed = sum(f[1] for f in files), sum(f[2] for f in files)
    print(f"| **total** (budget 153,600) | **{total:,}** | **{packed:,}** |\n")

    runner = web.AppRunner(FakeMiniAppApi(SECRETS["BOT_TOKEN"]).app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        results = await paints(f"http://127.0.0.1:{port}/app", args.runs)
    finally:
        await runner.cleanup()
    print(f"{args.runs} cold loads, ms from navigation start\n")
    print("| measure | median | p95 | max |\n|---|---|---|---|")
    print(row("first contentful paint (goal <= 1000)", [r["fcp"] for r in results]))
    print(row("DOMContentLoaded", [r["dcl"] for r in results]))
    print(row("load", [r["load"] for r in results]))
    print(row("Videos drawn (texts, /me, /videos answered)", [r["ready"] for r in results]))


if __name__ == "__main__":
    asyncio.run(main())
