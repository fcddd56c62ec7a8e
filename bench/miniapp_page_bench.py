"""The Mini App page: its weight as built, and first contentful paint on localhost in headless chromium.

    .venv/bin/python -m bench.miniapp_page_bench [--runs 20] [--bot [--server DSN|embedded]]

Debian's chromium (/usr/bin/chromium) through Playwright, a fresh context per run (cold cache), a
phone viewport, Telegram's script routed to the test stub (no network). By default the page and its
API come from the contract's in-memory fake (tests/fakes/miniapp_api.py, aiohttp's static handler as
in the bot); with ``--bot`` from a real ``bot.py`` (webhook mode, fake Telegram) on a scratch
database. First contentful paint needs no API answer (the page paints its logo before any script
asks); "ready" is when the Videos screen has drawn (texts, /me, /videos answered).
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

from bench.common import DEFAULT_SERVER, FakeServers, fresh_database, server_dsn  # noqa: E402
from bench.webhook_bench import started_bot  # noqa: E402
from tests.browser import CHROMIUM, chromium, new_context  # noqa: E402
from tests.fakes.miniapp_api import STATIC, FakeMiniAppApi  # noqa: E402
from tests.fakes.telegram import message_update  # noqa: E402
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
            try:
                await page.locator("article.video, .empty").first.wait_for()
            except Exception as error:  # say what the page shows instead
                raise RuntimeError(f"the Videos screen did not draw: {await page.inner_text('body')!r}") from error
            ready_ms = (asyncio.get_running_loop().time() - started) * 1000
            await page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
            numbers = await page.evaluate(MEASURE)
            results.append({**numbers, "ready": ready_ms})
            await context.close()
    return results


async def against_bot(args: argparse.Namespace) -> list[dict[str, float]]:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_miniapp")
    fakes = FakeServers.start()
    try:
        async with started_bot(args, url, fakes.telegram) as target:
            await target.send(message_update(1, 601, text="/start"))  # the user exists, as in production
            return await paints(f"http://127.0.0.1:{target.port}/app", args.runs)
    finally:
        fakes.stop()


def row(name: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"| {name} | {statistics.median(values):.0f} | {p95:.0f} | {values[-1]:.0f} |"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bot", action="store_true", help="serve the page and the API from a real bot.py")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="with --bot: PostgreSQL for its scratch database")
    parser.add_argument("--pool", type=int, default=10, help="with --bot: DATABASE_POOL_SIZE")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")

    files = weight()
    print("| file | bytes | gzip -9 |\n|---|---|---|")
    for name, size, packed in files:
        print(f"| {name} | {size:,} | {packed:,} |")
    total, packed = sum(f[1] for f in files), sum(f[2] for f in files)
    print(f"| **total** (budget 153,600) | **{total:,}** | **{packed:,}** |\n")

    if args.bot:
        results = await against_bot(args)
    else:
        runner = web.AppRunner(FakeMiniAppApi(SECRETS["BOT_TOKEN"]).app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            results = await paints(f"http://127.0.0.1:{port}/app", args.runs)
        finally:
            await runner.cleanup()
    print(f"served by {'bot.py' if args.bot else 'the in-memory contract fake'}")
    print(f"{args.runs} cold loads, ms from navigation start\n")
    print("| measure | median | p95 | max |\n|---|---|---|---|")
    print(row("first contentful paint (goal <= 1000)", [r["fcp"] for r in results]))
    print(row("DOMContentLoaded", [r["dcl"] for r in results]))
    print(row("load", [r["load"] for r in results]))
    print(row("Videos drawn (texts, /me, /videos answered)", [r["ready"] for r in results]))


if __name__ == "__main__":
    asyncio.run(main())
