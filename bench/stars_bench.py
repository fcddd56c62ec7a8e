"""Issue 8: a broadcast's pace against Telegram's 429s, and pre-checkout answers under load.

    python -m bench.stars_bench [--server DSN|embedded] [--only broadcast|precheckout] [--own-connection]
                                [--recipients 10000] [--throttle-every 200] [--rate 500] [--seconds 20]

A real ``bot.py`` (``webhook_bench``'s: role all, webhook mode; one admin) on a scratch database; the fake Telegram Bot
API in a process of its own, which records when each call arrived (``time.monotonic``, one clock
for every process on the machine) and answers every n-th copyMessage with 429 retry_after=1.

- broadcast: ``--recipients`` users who started the bot; the admin replies /broadcast to a
  message; the run ends when the broadcast is done. Sustained messages/s (delivered copies over the
  time from the first to the last), the most in any 1 s window, duplicates, 429s, total time.
- precheckout: ``--rate`` updates/s of ordinary traffic (/balance from many users) for
  ``--seconds``, and meanwhile a pre_checkout_query every 50 ms; latency from the POST to the
  fake's receipt of answerPreCheckoutQuery.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import time
from typing import Any

import aiohttp
import asyncpg

from bench.common import free_port, fresh_database, percentiles, server_dsn, table
from bench.webhook_bench import arguments, started_bot
from core.stars import Package, make_payload, payload_key
from tests.fakes.telegram import message_update, pre_checkout_update
from tests.helpers import SECRETS

ADMIN = 42


def _serve_telegram(urls: multiprocessing.Queue, throttle_every: int) -> None:
    from aiohttp import web

    from tests.fakes.telegram import FakeTelegram

    async def serve() -> None:
        telegram = await FakeTelegram().start()
        if throttle_every:
            telegram.throttle("copyMessage", every=throttle_every, retry_after=1)

        async def calls(request: web.Request) -> web.Response:
            method = request.query["method"].lower()
            ok = {id(c) for c in telegram.succeeded}
            rows = [
                [c.chat_id, c.at, id(c) in ok, c.params.get("pre_checkout_query_id")]
                for c in telegram.requests
                if c.method.lower() == method
            ]
            return web.json_response(rows)

        app = web.Application()
        app.router.add_get("/calls", calls)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        urls.put((telegram.base_url, f"http://127.0.0.1:{port}"))
        await asyncio.Event().wait()

    asyncio.run(serve())


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(server_dsn(args.server), "reelsmith_bench_stars")
    spawn = multiprocessing.get_context("spawn")
    urls: multiprocessing.Queue = spawn.Queue()
    fake = spawn.Process(target=_serve_telegram, args=(urls, args.throttle_every), daemon=True)
    fake.start()
    telegram_url, control_url = urls.get(timeout=60)
    try:
        async with (
            started_bot(args, url, telegram_url, env={"ADMIN_IDS": str(ADMIN)}) as target,
            aiohttp.ClientSession(headers={"X-Telegram-Bot-Api-Secret-Token": target.secret}) as own,
        ):

            async def post_money(update: dict[str, Any]) -> None:
                """Pre-checkouts over their own connection with --own-connection: Telegram's queue
                (all max_connections busy) taken out of the measurement, the bot's left in."""
                if not args.own_connection:
                    await target.send(update)
                    return
                async with own.post(target.webhook, json=update) as response:
                    await response.read()

            async def fake_calls(method: str) -> list[list[Any]]:
                async with own.get(f"{control_url}/calls", params={"method": method}) as response:
                    return await response.json()

            if args.only in (None, "precheckout"):
                await precheckout(target.send, post_money, fake_calls, args)
            if args.only in (None, "broadcast"):
                await broadcast(url, target.send, fake_calls, args)
    finally:
        fake.terminate()


async def broadcast(url: str, post, fake_calls, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO users (id) SELECT g FROM generate_series(10000000, 10000000 + $1::int - 1) AS g",
            args.recipients,
        )
        await post(message_update(1, ADMIN, text="/start"))
        started = time.monotonic()
        await post(message_update(2, ADMIN, text="/broadcast", reply_to_message_id=77))
        while await conn.fetchval("SELECT state FROM broadcasts") == "running":
            await asyncio.sleep(1.0)
        finished = time.monotonic()
        counts = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE state = 'sent') AS sent, count(*) FILTER (WHERE state = 'failed') AS failed,"
            " count(*) AS total FROM broadcast_recipients"
        )
    finally:
        await conn.close()
    calls = await fake_calls("copyMessage")
    delivered = sorted(at for _, at, ok, _ in calls if ok)
    per_chat: dict[int, int] = {}
    for chat_id, _, ok, _ in calls:
        if ok:
            per_chat[chat_id] = per_chat.get(chat_id, 0) + 1
    throttled = sum(1 for _, _, ok, _ in calls if not ok)
    sustained = (len(delivered) - 1) / (delivered[-1] - delivered[0])
    every = sorted(at for _, at, _, _ in calls)
    table(
        f"broadcast to {counts['total']:,} recipients, every {args.throttle_every}th copyMessage answered 429",
        [
            ("delivered", f"{len(delivered):,} (recipients sent {counts['sent']:,}, failed {counts['failed']:,})"),
            ("sustained messages/s", f"{sustained:.2f} (first to last delivered copy)"),
            ("most delivered in any 1 s", max_in_window(delivered, 1.0)),
            ("most requests in any 1 s", f"{max_in_window(every, 1.0)} (429s included)"),
            ("duplicates", sum(n - 1 for n in per_chat.values())),
            ("429 answers", throttled),
            ("total time", f"{finished - started:.1f} s (the /broadcast POST to the broadcast closed)"),
        ],
    )


async def precheckout(post, post_money, fake_calls, args: argparse.Namespace) -> None:
    key = payload_key(SECRETS["BOT_TOKEN"])
    ids = itertools.count(1_000)
    users = itertools.count(2_000_000)
    sent_at: dict[str, float] = {}
    tasks: list[asyncio.Task] = []
    interval = 1.0 / args.rate
    total = int(args.rate * args.seconds)
    started = time.perf_counter()
    buyer = 5_000_000
    for n in range(total):
        await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
        tasks.append(asyncio.create_task(post(message_update(next(ids), next(users), text="/balance"))))
        if n % max(1, args.rate // 20) == 0:  # a pre-checkout every 50 ms
            update_id = next(ids)
            buyer += 1
            update = pre_checkout_update(
                update_id, buyer, payload=make_payload(key, Package(100, 50), buyer), total_amount=50
            )
            sent_at[f"pcq-{update_id}"] = time.monotonic()
            tasks.append(asyncio.create_task(post_money(update)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    answers = {query: at for _, at, ok, query in await fake_calls("answerPreCheckoutQuery") if ok}
    latencies = [(answers[q] - at) * 1000 for q, at in sent_at.items() if q in answers]
    p50, p95, p99 = percentiles(latencies)
    table(
        f"pre-checkout answers while the webhook takes {args.rate} updates/s"
        + (" (pre-checkouts on their own connection)" if args.own_connection else ""),
        [
            ("updates/s handled", f"{total / elapsed:,.0f} ({total:,} in {elapsed:.1f} s)"),
            ("pre-checkouts answered", f"{len(latencies)} of {len(sent_at)}"),
            (
                "POST → answer at Telegram",
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms",
            ),
        ],
    )


def max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--only", choices=["broadcast", "precheckout"])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--throttle-every", type=int, default=200, help="every n-th copyMessage answers 429")
    parser.add_argument("--own-connection", action="store_true", help="pre-checkouts skip the busy connections")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
