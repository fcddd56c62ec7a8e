"""Issue 16, part 3: what a monthly plan costs a payment, against a package's.

    python -m bench.subs_bench [--server DSN|embedded] [--buyers 300] [--rate 30]

A real ``bot.py`` (``webhook_bench``'s: role all, webhook mode) with ``SUBSCRIPTION_PLANS=500:200`` on a
scratch database; the fake Telegram in a process of its own (``stars_bench``'s), which records when each
call arrived (``time.monotonic``, one clock for every process on the machine).

- pre-checkout: ``--buyers`` queries with a package's payload and as many with a plan's, interleaved at
  ``--rate``/s; a plan's answer costs one query more (is that plan running already?). Latency: the POST
  to the fake's receipt of answerPreCheckoutQuery.
- first charge: every buyer pays, a package (payments row, ledger) or a plan's first charge (the same,
  and the subscriptions row); the POST to the receipt at Telegram.
- renewal: each plan buyer's renewal POSTed three times at once (new update ids, as Telegram redelivers);
  the webhook's answer time, and the credits: once per charge.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg

from bench.common import fresh_database, percentiles, server_dsn, table
from bench.stars_bench import _serve_telegram
from bench.webhook_bench import arguments, started_bot
from core.growth import Plan
from core.stars import Package, make_payload, payload_key
from tests.fakes.telegram import pre_checkout_update, subscription_payment_update, successful_payment_update
from tests.helpers import SECRETS

PACKAGE, PLAN = Package(100, 50), Plan(500, 200)
MONTH = 2592000
Post = Callable[[dict[str, Any]], Awaitable[float]]


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_subs")
    spawn = multiprocessing.get_context("spawn")
    urls: multiprocessing.Queue = spawn.Queue()
    fake = spawn.Process(target=_serve_telegram, args=(urls, 0), daemon=True)
    fake.start()
    telegram_url, control_url = urls.get(timeout=60)
    try:
        async with (
            started_bot(args, url, telegram_url, env={"SUBSCRIPTION_PLANS": PLAN.id}) as target,
            aiohttp.ClientSession() as control,
        ):

            async def fake_calls(method: str) -> list[list[Any]]:
                async with control.get(f"{control_url}/calls", params={"method": method}) as response:
                    return await response.json()

            await measure(target.send, fake_calls, url, args)
    finally:
        fake.terminate()


async def paced(args: argparse.Namespace, updates: list[tuple[str, Any, dict[str, Any]]], post: Post) -> dict:
    """POST ``updates`` (kind, key, update) at ``args.rate``/s; when each went: {key: monotonic}."""
    sent: dict[Any, float] = {}
    tasks = []
    started = time.perf_counter()
    for n, (_, key, update) in enumerate(updates):
        await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
        sent[key] = time.monotonic()
        tasks.append(asyncio.create_task(post(update)))
    await asyncio.gather(*tasks)
    return sent


async def arrived(fake_calls, method: str, key: Callable[[list[Any]], Any], count: int) -> dict[Any, float]:
    """When the first successful call of ``method`` for each key reached the fake, once ``count`` keys
    have: replies go out after the webhook answered, so the last ones may still be on their way."""
    deadline = time.monotonic() + 60
    while True:
        first: dict[Any, float] = {}
        for call in await fake_calls(method):
            if call[2]:
                first.setdefault(key(call), call[1])
        if len(first) >= count or time.monotonic() > deadline:
            return first
        await asyncio.sleep(0.2)


async def timed(
    label: str, updates: list[tuple[str, Any, dict[str, Any]]], post: Post, fake_calls, method: str, field: int, args
) -> list[tuple[str, str]]:
    """POST ``updates`` (kind, key, update) at the pace; per kind, the time from each POST to the
    call of ``method`` whose recorded ``field`` (0: chat id, 3: pre-checkout query id) is its key."""
    sent = await paced(args, updates, post)
    answered = await arrived(fake_calls, method, lambda call: call[field], len(updates))
    return [
        row(f"{label}, {kind}", [(answered[key] - sent[key]) * 1000 for k, key, _ in updates if k == kind])
        for kind in ("package", "plan")
    ]


def row(name: str, latencies: list[float]) -> tuple[str, str]:
    p50, p95, p99 = percentiles(latencies)
    return name, f"p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {max(latencies):.1f} ms ({len(latencies)})"


async def measure(post: Post, fake_calls, url: str, args: argparse.Namespace) -> None:
    key = payload_key(SECRETS["BOT_TOKEN"])
    ids = itertools.count(1)
    buyers = range(3_000_000, 3_000_000 + 2 * args.buyers)
    kinds = {b: ("plan" if b % 2 else "package") for b in buyers}
    payloads = {b: make_payload(key, PLAN if b % 2 else PACKAGE, b, monthly=bool(b % 2)) for b in buyers}
    price = {"plan": PLAN.stars, "package": PACKAGE.stars}
    expires = int(time.time()) + MONTH

    checks = []
    for b in buyers:
        update = pre_checkout_update(next(ids), b, payload=payloads[b], total_amount=price[kinds[b]])
        checks.append((kinds[b], update["pre_checkout_query"]["id"], update))
    check_rows = await timed("pre-checkout", checks, post, fake_calls, "answerPreCheckoutQuery", 3, args)

    charges = []
    for b in buyers:
        fields = {"payload": payloads[b], "total_amount": price[kinds[b]], "charge_id": f"c-{b}"}
        if kinds[b] == "plan":
            charges.append(
                (kinds[b], b, subscription_payment_update(next(ids), b, first=True, expires_at=expires, **fields))
            )
        else:
            charges.append((kinds[b], b, successful_payment_update(next(ids), b, **fields)))
    charge_rows = await timed("first charge → receipt", charges, post, fake_calls, "sendMessage", 0, args)

    renewals = []
    for b in (b for b in buyers if kinds[b] == "plan"):
        fields = {"payload": payloads[b], "total_amount": PLAN.stars, "charge_id": f"r-{b}", "first": False}
        copies = [subscription_payment_update(next(ids), b, expires_at=expires + MONTH, **fields) for _ in range(3)]
        renewals.append(copies)
    started = time.perf_counter()
    answers: list[float] = []
    for n, copies in enumerate(renewals):
        await asyncio.sleep(max(0.0, started + 3 * n / args.rate - time.perf_counter()))
        answers += await asyncio.gather(*(post(c) for c in copies))

    conn = await asyncpg.connect(url)
    try:
        credited = await conn.fetchval("SELECT count(*) FROM ledger WHERE reason = 'purchase'")
        mismatches = await conn.fetchval("SELECT count(*) FROM ledger_mismatches")
        renewed = await conn.fetchval(
            "SELECT count(*) FROM subscriptions WHERE expires_at > now() + interval '40 days'"
        )
    finally:
        await conn.close()
    expected = 2 * args.buyers + args.buyers  # every first charge, and one renewal per plan buyer
    table(
        f"{args.buyers} package buyers and {args.buyers} plan buyers, {args.rate} updates/s",
        [
            *check_rows,
            *charge_rows,
            row("renewal ×3 at once, webhook answer", answers),
            ("purchases credited", f"{credited} (expected {expected}); subscriptions renewed {renewed}"),
            ("ledger mismatches", mismatches),
        ],
    )


def main() -> None:
    parser = arguments(__doc__)
    parser.set_defaults(rate=30)
    parser.add_argument("--buyers", type=int, default=300, help="of each kind")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
