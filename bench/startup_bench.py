"""Start-up: how soon ``python bot.py`` (role all, webhook mode) serves, and what it holds when idle.

    python bench/startup_bench.py [--server DSN|embedded] [--runs 5] [--before PATH]

Each run starts a real bot.py on a scratch database, with the fake Telegram in this process, and
times it from the spawn to its ``web.ready`` log line (health checks answer from then on) and to
``telegram.webhook.set`` (updates can arrive); then it idles 5 s and its resident memory is read,
as ``queue_bench.py --only idle`` reads it. Medians (and the fastest) over ``--runs``.

``--before PATH`` runs the bot.py of another checkout (a worktree of an older commit) too, taking
turns with this one run by run, so both see the same load on a shared machine. One start of each,
not counted, applies the migrations and warms the file cache first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DEFAULT_SERVER, REPO, free_port, fresh_database, rss_mb, server_dsn, table
from tests.fakes.telegram import FakeTelegram
from tests.helpers import SECRETS

IDLE_S = 5.0
MARKS = ("web.ready", "telegram.webhook.set")


async def start_once(repo: Path, database_url: str, telegram: FakeTelegram) -> dict[str, float]:
    """One start of ``repo``'s bot.py: seconds to each of MARKS, and the RSS (MB) after IDLE_S."""
    port = free_port()
    known = {"DATABASE_URL", "PORT", "HOST", "PUBLIC_BASE_URL", "SENTRY_DSN", "STORAGE_URL", "ADMIN_IDS"}
    env = {k: v for k, v in os.environ.items() if k not in known}
    env.update(
        {
            **SECRETS,
            "DATABASE_URL": database_url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "TELEGRAM_API_BASE": telegram.base_url,
            "KIE_BASE_URL": "http://127.0.0.1:9",
            "KIE_UPLOAD_BASE_URL": "http://127.0.0.1:9",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        }
    )
    with tempfile.TemporaryDirectory() as cwd:  # no .env of either checkout is read
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(repo / "bot.py"),
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        seen: dict[str, float] = {}
        async for line in proc.stdout:
            try:
                event = json.loads(line).get("event")
            except (ValueError, AttributeError):
                continue
            if event in MARKS and event not in seen:
                seen[event] = time.perf_counter() - began
            if len(seen) == len(MARKS):
                break
        if len(seen) < len(MARKS):
            raise RuntimeError(f"{repo}/bot.py ended before {set(MARKS) - set(seen)}")
        drain = asyncio.create_task(_drain(proc.stdout))
        await asyncio.sleep(IDLE_S)
        seen["rss"] = rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await drain
    return seen


async def _drain(stdout: asyncio.StreamReader) -> None:
    async for _ in stdout:  # a full pipe would block the bot's logging
        pass


async def run(args: argparse.Namespace) -> None:
    checkouts = {"before": Path(args.before).resolve(), "after": REPO} if args.before else {"this": REPO}
    url = await fresh_database(server_dsn(args.server), "reelsmith_startup_bench")
    telegram = await FakeTelegram().start()
    try:
        for repo in checkouts.values():
            await start_once(repo, url, telegram)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
        for _ in range(args.runs):
            for name, repo in checkouts.items():
                results[name].append(await start_once(repo, url, telegram))
    finally:
        await telegram.stop()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    for name, runs in results.items():
        rows = [(f"to {mark} (s)", _summary([run[mark] for run in runs], "{:.2f}")) for mark in MARKS]
        rows.append((f"RSS after {IDLE_S:g} s idle (MB)", _summary([run["rss"] for run in runs], "{:.0f}")))
        table(f"{name}: {checkouts[name]} ({args.runs} runs; load average now {load})", rows)


def _summary(values: list[float], number: str) -> str:
    return f"median {number.format(statistics.median(values))}  best {number.format(min(values))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="a PostgreSQL DSN, or 'embedded'")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", help="another checkout whose bot.py runs too, for a comparison")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
