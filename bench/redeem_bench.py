"""/redeem with 100 concurrent users: how long the webhook takes, and that exactly the code's uses
are credited (issue 16).

    python -m bench.redeem_bench [--server DSN|embedded] [--users 100] [--limits 1 10 100 0] [--rounds 3]

A real ``bot.py`` (role all, webhook mode) on a scratch database, the fake Telegram Bot API in its
own process. An admin creates one code per limit (0: no limit); ``--users`` users who started the
bot before then all post ``/redeem <code>`` at the same instant, once per code and round. The
latency is the webhook's: from the POST to its 200, i.e. until the update's transaction (the one
statement that decides the redemption, the ledger entry) committed. Redemptions of one code queue
on its row, so the limit is what changes the wait: a code still redeemable takes its row lock for
the whole update. The table reports what the database holds afterwards: the credited count must
equal min(users, limit) and the code's uses; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

import asyncpg

from bench.common import DEFAULT_SERVER, FakeServers, fresh_database, percentiles, server_dsn
from bench.webhook_bench import Target, started_bot
from tests.fakes.telegram import message_update

ADMIN = 900_000
_update_ids = itertools.count(70_000_000)


async def burst(target: Target, users: list[int], line: str) -> tuple[list[float], float]:
    """Every user posts ``line`` at once; each webhook latency (ms) and the wall time of the burst (s)."""
    updates = [message_update(next(_update_ids), user, text=line) for user in users]
    started = time.perf_counter()
    latencies = await asyncio.gather(*(target.send(update) for update in updates))
    return list(latencies), time.perf_counter() - started


async def credited(url: str, code: str) -> tuple[int, int]:
    """Ledger entries for the code, and the code's uses, as the database holds them."""
    conn = await asyncpg.connect(url)
    try:
        promo = "SELECT count(*) FROM ledger WHERE reason = 'promo' AND reference LIKE $1"
        entries = await conn.fetchval(promo, code + ":%")
        uses = await conn.fetchval("SELECT uses FROM promo_codes WHERE code = $1", code)
    finally:
        await conn.close()
    return entries, uses


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_redeem")
    fakes = FakeServers.start()
    users = list(range(80_000_000, 80_000_000 + args.users))
    try:
        async with started_bot(args, url, fakes.telegram, env={"ADMIN_IDS": str(ADMIN)}) as target:
            await target.send(message_update(next(_update_ids), ADMIN, text="/start"))
            await asyncio.gather(*(target.send(message_update(next(_update_ids), u, text="/start")) for u in users))
            print(f"{args.users} users post /redeem at the same instant; webhook POST to 200; machine under load\n")
            print("| code's uses | round | credited | uses after | p50 ms | p95 ms | p99 ms | max ms | burst s |")
            print("|---|---|---|---|---|---|---|---|---|")
            for round_ in range(1, args.rounds + 1):
                # The same users' /balance at once: what any command costs on this machine right now.
                print_row(["/balance instead", round_, "", ""], await burst(target, users, "/balance"))
            for limit, round_ in itertools.product(args.limits, range(1, args.rounds + 1)):
                code = f"B{limit or 'ANY'}R{round_}"
                await target.send(message_update(next(_update_ids), ADMIN, text=f"/promo {code} 5 {limit or ''}"))
                measured = await burst(target, users, f"/redeem {code.lower()}")
                entries, uses = await credited(url, code)
                print_row([limit or "no limit", round_, entries, uses], measured)
    finally:
        fakes.stop()


def print_row(first: list[object], measured: tuple[list[float], float]) -> None:
    """The first cells as they are, then the latencies' percentiles and max (ms), then the burst (s)."""
    latencies, seconds = measured
    p50, p95, p99 = percentiles(latencies)
    row = [*first, f"{p50:.0f}", f"{p95:.0f}", f"{p99:.0f}", f"{max(latencies):.0f}", f"{seconds:.2f}"]
    print("| " + " | ".join(map(str, row)) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--limits", type=int, nargs="+", default=[1, 10, 100, 0], help="uses per code; 0: no limit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=20, help="DATABASE_POOL_SIZE of the bot")
    parser.add_argument("--concurrency", type=int, default=100, help="connections the client opens at once")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
