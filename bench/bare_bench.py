"""The bot's webhook against a bare aiogram webhook, in one sitting, under the same load generator.

    python -m bench.bare_bench [--server DSN] [--seconds 15] [--connections 32] [--before PATH]

``wrk`` (``apt-get install wrk``) POSTs one ``/start`` update per request over ``--connections``
connections, 500 users in turn, to (1) ``../shared/bench/aiogram_bare`` (aiogram's
SimpleRequestHandler, no database, no middleware, answering after the handler ran) and (2) the real
``bot.py`` (webhook_bench's bot: a scratch database, the fake Telegram in another process), then
(3) ``bot.py`` of ``--before`` when given. wrk is C, so the client costs the two cores little; the
ratio of the bot's requests/s to the bare handler's is the number to read, since this machine's
speed drifts by a third during a day.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, FakeServers, fresh_database, server_dsn, table
from bench.webhook_bench import arguments, started_bot

BARE = REPO.parent / "shared" / "bench" / "aiogram_bare"

LUA = Path(__file__).with_name("bare_post.lua")  # the bare bench's post.lua with our path and secret


def parse_wrk(output: str) -> tuple[float, str]:
    """Requests/s and the latency percentiles line from wrk's --latency output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    marks = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    latency = ", ".join(f"p{q} {marks.get(q, '?')}" for q in ("50", "90", "99"))
    if errors:
        latency += f" ({errors.group(1)} non-2xx)"
    return (float(rate.group(1)) if rate else 0.0), latency


def bare(args: argparse.Namespace) -> tuple[float, str]:
    result = subprocess.run(
        ["bash", str(BARE / "run.sh"), sys.executable, "fg", str(int(args.seconds)), str(args.connections)],
        capture_output=True,
        text=True,
        check=False,
    )
    return parse_wrk(result.stdout)


async def bot(args: argparse.Namespace, repo: Path) -> tuple[float, str]:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_bare", migrated=False)
    fakes = FakeServers.start()
    try:
        async with started_bot(args, url, fakes.telegram, repo=repo) as target:
            await asyncio.gather(*(target.post("/start") for _ in range(200)))  # warm up, as webhook_bench
            path = "/" + target.webhook.split("/", 3)[3]
            script = Path(tempfile.mkdtemp()) / "post.lua"
            script.write_text(LUA.read_text().replace("PATH", path).replace("SECRET", target.secret))
            proc = await asyncio.create_subprocess_exec(
                "wrk",
                "-t1",
                f"-c{args.connections}",
                f"-d{int(args.seconds)}s",
                "--latency",
                "-s",
                str(script),
                f"http://127.0.0.1:{target.port}",
                stdout=subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            return parse_wrk(out.decode())
    finally:
        fakes.stop()


async def run(args: argparse.Namespace) -> None:
    results = [("bare aiogram", *bare(args))]
    if args.before:
        results.append(("bot.py before", *await bot(args, Path(args.before).resolve())))
    results.append(("bot.py", *await bot(args, REPO)))
    anchor = results[0][1] or 1.0
    table(
        f"/start by wrk, {args.connections} connections, {args.seconds:g} s each",
        [(name, f"{rate:,.0f} requests/s ({rate / anchor:.0%} of bare); {latency}") for name, rate, latency in results],
    )


def main() -> None:
    parser = arguments(__doc__)
    parser.set_defaults(seconds=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--before", help="another checkout whose bot.py runs too, for a comparison")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
