"""How long a support ticket takes to reach the admins, under other traffic.

    python -m bench.support_bench [--server DSN|embedded] [--tickets 200] [--ticket-rate 5] [--load 100]
                                  [--admins 2]

A real ``bot.py`` (role all, webhook mode) on a scratch database, ADMIN_IDS set to ``--admins``
admins (no SUPPORT_CHAT_ID: every admin gets each ticket, the slower case); the fake Telegram Bot
API in its own process. Each ticket is a new user's /support followed by their message; the time
counted runs from the POST of that message to the moment the fake Telegram received the copy of
it in the last admin's chat (header and copy, for every admin, go out after the commit). Tickets
are offered open-loop at ``--ticket-rate`` per second while ``--load`` /start updates per second
from other new users go on. Target: p99 under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

from bench.common import DEFAULT_SERVER, FakeServers, fresh_database, percentiles, server_dsn, table
from bench.webhook_bench import Target, started_bot
from tests.fakes.telegram import message_update

ADMIN_BASE = 900_000
_update_ids = itertools.count(50_000_000)
_users = itertools.count(60_000_000)


async def run(args: argparse.Namespace) -> None:
    admins = tuple(range(ADMIN_BASE, ADMIN_BASE + args.admins))
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_support")
    fakes = FakeServers.start()
    env = {"ADMIN_IDS": ",".join(map(str, admins))}
    try:
        async with started_bot(args, url, fakes.telegram, env=env) as target:
            for admin in admins:  # admins who started the bot, as in production
                await target.send(message_update(next(_update_ids), admin, text="/start"))
            await asyncio.gather(*(target.post("/start") for _ in range(100)))  # warm up
            posted, starts = await offer(target, args)
            await report(fakes, admins, posted, starts, args)
    finally:
        fakes.stop()


async def offer(target: Target, args: argparse.Namespace) -> tuple[dict[int, float], dict[int, float]]:
    """Tickets at ``--ticket-rate``/s among /start at ``--load``/s; when each ticket message and each
    /start was posted, by user."""
    posted: dict[int, float] = {}
    starts: dict[int, float] = {}

    async def start(user: int) -> None:
        starts[user] = time.monotonic()
        await target.send(message_update(next(_update_ids), user, text="/start"))

    tasks: list[asyncio.Task[object]] = []

    async def ticket(user: int) -> None:
        await target.send(message_update(next(_update_ids), user, text="/support"))
        update = message_update(next(_update_ids), user, text=f"ticket from {user}: my video never came")
        posted[user] = time.monotonic()
        await target.send(update)

    seconds = args.tickets / args.ticket_rate
    started = time.monotonic()
    loads = int(seconds * args.load)
    tickets = [(n / args.ticket_rate, "ticket") for n in range(args.tickets)]
    events = sorted(tickets + [(n / args.load, "load") for n in range(loads)])
    for at, kind in events:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        work = ticket(next(_users)) if kind == "ticket" else start(next(_users))
        tasks.append(asyncio.ensure_future(work))
    await asyncio.gather(*tasks)
    return posted, starts


async def report(
    fakes: FakeServers,
    admins: tuple[int, ...],
    posted: dict[int, float],
    starts: dict[int, float],
    args: argparse.Namespace,
) -> None:
    deadline = time.monotonic() + 30
    while True:
        arrived: dict[tuple[int, int], float] = {}
        for chat, source, at in fakes.command("copies"):
            arrived[(chat, source)] = at
        missing = [u for u in posted for a in admins if (a, u) not in arrived]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    latencies = [
        (max(arrived[(a, u)] for a in admins) - at) * 1000
        for u, at in posted.items()
        if all((a, u) in arrived for a in admins)
    ]
    p50, p95, p99 = percentiles(latencies)
    replied = fakes.command("first_replies")
    start_latencies = [(replied[u] - at) * 1000 for u, at in starts.items() if u in replied]
    s50, s95, s99 = percentiles(start_latencies) if start_latencies else (0.0, 0.0, 0.0)
    table(
        f"a ticket to {len(admins)} admins, {args.ticket_rate}/s among /start at {args.load}/s",
        [
            ("tickets", f"{len(latencies)} of {len(posted)} reached every admin"),
            ("message POST to last admin's copy", f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms"),
            ("slowest", f"{max(latencies):.0f} ms"),
            (
                "/start POST to its reply, meanwhile",
                f"p50 {s50:.0f} ms, p95 {s95:.0f} ms, p99 {s99:.0f} ms" if start_latencies else "none sent",
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--ticket-rate", type=float, default=5)
    parser.add_argument("--load", type=float, default=100, help="/start updates per second meanwhile")
    parser.add_argument("--admins", type=int, default=2)
    parser.add_argument("--pool", type=int, default=20, help="DATABASE_POOL_SIZE of the bot")
    parser.add_argument("--concurrency", type=int, default=64)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
