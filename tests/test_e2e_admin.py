"""Administration through the real webhook: admin-only commands, grants, bans, lookups, retries,
command menus, and broadcasts (exactly once per recipient, within the bot-wide pace, across a restart)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from typing import Any

from core.telegram.limiter import WINDOW_S
from tests.fakes.telegram import FakeTelegram, callback_update, message_update
from tests.helpers import REPO, BotHarness, button_data, wait_until
from tests.test_e2e_generation import propose
from tests.test_e2e_payments import command

ANN, ADMIN = 701, 42
ADMIN_COMMANDS = [
    "/stats",
    f"/user {ANN}",
    f"/grant {ANN} 500 gift",
    f"/ban {ANN} spam",
    f"/unban {ANN}",
    "/gen 1",
    "/job 1",
    "/retry 1",
    "/refund ch-1",
    "/broadcast",
    "/broadcast_cancel",
]


async def snapshot(bot: BotHarness) -> tuple[Any, ...]:
    """Everything an admin command could change."""
    return (
        await bot.pool.fetch("SELECT id, credits, banned_at, language FROM users ORDER BY id"),
        await bot.pool.fetch("SELECT reason, reference, delta FROM ledger ORDER BY id"),
        # Not the pipeline's, nor the background duties' (a provider's balance watch runs at start).
        await bot.pool.fetch(
            "SELECT id, kind, state FROM jobs WHERE kind NOT LIKE 'generation.%' AND kind NOT LIKE 'provider.%'"
            " AND kind <> 'bot.housekeeping' ORDER BY id"
        ),
        await bot.pool.fetchval("SELECT count(*) FROM broadcasts"),
    )


class TestAdminOnly:
    async def test_anyone_else_gets_the_unknown_command_reply_and_changes_nothing(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            unknown = await command(bot, ANN, "/start") and await command(bot, ANN, "/nonsense")
            before = await snapshot(bot)
            for line in ADMIN_COMMANDS:
                assert await command(bot, ANN, line, reply_to_message_id=5) == unknown, line
            assert await snapshot(bot) == before
            assert bot.telegram.calls("sendPhoto") == [] and bot.telegram.calls("copyMessage") == []

    async def test_admin_menu_only_in_the_admins_chat_and_users_menus_per_language(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            menus = bot.telegram.menus
            default = json.dumps({"type": "default"}, sort_keys=True)
            admin_scope = json.dumps({"type": "chat", "chat_id": ADMIN}, sort_keys=True)
            english, russian = menus[(default, "en")], menus[(default, "ru")]
            assert [c["command"] for c in english] == [c["command"] for c in russian]
            assert "buy" in [c["command"] for c in english]
            assert "stats" not in [c["command"] for c in english]
            assert menus[(default, "")] == english, "other languages read the English menu"
            assert (
                next(c for c in russian if c["command"] == "buy")["description"] == "Купить кредиты за Telegram Stars"
            )
            assert {"stats", "broadcast", "refund", "buy"} <= {c["command"] for c in menus[(admin_scope, "")]}
            assert all(scope in (default, admin_scope) for scope, _ in menus)


class TestGrantAndBan:
    async def test_grant_applies_once_even_when_redelivered(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await bot.send(message_update(bot.next_update_id(), ANN, text="/start", username="ann_films"))
            grant = message_update(bot.next_update_id(), ADMIN, text="/grant @Ann_Films 250 contest prize")
            assert await bot.send(grant) == 200
            assert await bot.send(grant) == 200
            assert await bot.credits(ANN) == 350
            rows = await bot.pool.fetch("SELECT reason, reference, delta FROM ledger WHERE reason = 'admin'")
            assert len(rows) == 1 and rows[0]["delta"] == 250
            assert f"admin {ADMIN}" in rows[0]["reference"] and "contest prize" in rows[0]["reference"]
            assert "below zero" in await command(bot, ADMIN, f"/grant {ANN} -1000")
            assert "Usage" in await command(bot, ADMIN, "/grant nobody")
            assert "No user" in await command(bot, ADMIN, "/grant @ghost 5")
            assert await bot.credits(ANN) == 350

    async def test_a_banned_user_gets_one_polite_reply_a_day_and_nothing_else(self, make_bot, fake_openai: Any) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await command(bot, ANN, "/start")
            draft = await propose(bot, ANN, text="a proposal made before the ban")
            assert "banned" in await command(bot, ADMIN, f"/ban {ANN} spam")
            sent_before = len(bot.telegram.calls("sendMessage", chat_id=ANN))
            for line in ("hello", "/balance", "a new idea"):
                assert await bot.send(message_update(bot.next_update_id(), ANN, text=line)) == 200
            row = await bot.generation(draft)
            tap = callback_update(bot.next_update_id(), ANN, f"go:{draft}", message_id=row["status_message_id"])
            assert await bot.send(tap) == 200
            replies = [c.params["text"] for c in bot.telegram.calls("sendMessage", chat_id=ANN)[sent_before:]]
            assert len(replies) == 1 and "suspended" in replies[0]
            assert (await bot.generation(draft))["status"] == "draft", "the old proposal's confirm is refused"
            assert await bot.ledger(ANN) == [("starter", 100)]
            assert fake_openai.requests == []
            assert "banned: yes" in (await command(bot, ADMIN, f"/user {ANN}")).lower().replace(
                "banned: yes", "banned: yes"
            )

            assert "no longer banned" in await command(bot, ADMIN, f"/unban {ANN}")
            assert "100 credits" in await command(bot, ANN, "/balance")


class TestLookups:
    async def test_user_gen_job_and_retry(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await command(bot, ANN, "/start")
            draft = await propose(bot, ANN, text="a lighthouse")
            user = await command(bot, ADMIN, f"/user {ANN}")
            assert "Balance: 100 credits" in user and "+100 starter" in user
            job_id = await bot.pool.fetchval(
                "INSERT INTO jobs (kind, state, attempt, max_attempts, finished_at, last_error)"
                " VALUES ('diag.noop', 'failed', 3, 3, now(), 'boom') RETURNING id"
            )
            assert "diag.noop · failed" in await command(bot, ADMIN, f"/job {job_id}")
            assert "boom" in await command(bot, ADMIN, f"/job {job_id}")
            assert "queued again" in await command(bot, ADMIN, f"/retry {job_id}")
            await wait_until(lambda: bot.pool.fetchval("SELECT state = 'succeeded' FROM jobs WHERE id = $1", job_id))
            assert "only failed jobs" in await command(bot, ADMIN, f"/retry {job_id}")
            generation = await command(bot, ADMIN, f"/gen {draft}")
            assert f"Generation {draft} · draft" in generation and "a lighthouse" in generation
            assert "Usage" in await command(bot, ADMIN, "/gen 999999")

    async def test_stats_numbers_and_a_chart(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await command(bot, ANN, "/start")
            await wait_until(lambda: bot.pool.fetchval("SELECT balance FROM provider_health WHERE provider = 'kie'"))
            stats = await command(bot, ADMIN, "/stats")
            assert "Users: 2" in stats and "Stars revenue: 0 ⭐" in stats
            assert "Video providers: kie up, balance 10000" in stats, "as the balance watch read it"
            await bot.telegram.wait_for(lambda calls: any(c.method == "sendPhoto" for c in calls))
            (photo,) = bot.telegram.calls("sendPhoto", chat_id=ADMIN)
            filename, size = photo.files["photo"]
            assert filename == "stats.png" and size > 1000

    def test_the_plotting_library_is_loaded_only_for_a_chart(self) -> None:
        probe = (
            "import sys, bot; from core.bot.handlers import build_routers; build_routers();"
            "assert 'matplotlib' not in sys.modules, 'loaded at import'"
        )
        subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True)


async def broadcast(bot: BotHarness, message_id: int, *, audience: int | None = None, go: bool = True) -> str:
    """/broadcast as a reply to ``message_id``: the preview, then a tap on Send (or Cancel); the answer."""
    preview = await command(bot, ADMIN, "/broadcast", reply_to_message_id=message_id)
    call = bot.telegram.calls("sendMessage", chat_id=ADMIN)[-1]
    assert "Nothing goes out before you tap Send" in preview
    if audience is not None:
        assert f"to {audience:,} users?" in preview
    assert call.params["reply_parameters"]["message_id"] == message_id, "the preview quotes the message"
    send, cancel = [d for d in button_data(call) if d.startswith("bcast:")]
    assert await bot.send(callback_update(bot.next_update_id(), ADMIN, send if go else cancel, message_id=1)) == 200
    return bot.telegram.calls("sendMessage", chat_id=ADMIN)[-1].params["text"]


class TestBroadcastPreview:
    async def test_nothing_goes_out_before_send(self, make_bot, fake_telegram: FakeTelegram) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await bot.pool.execute("INSERT INTO users (id) SELECT generate_series(400000, 400009)")
            await command(bot, ADMIN, "/start")
            assert "not sent" in await broadcast(bot, 5, audience=11, go=False)
            preview = bot.telegram.calls("sendMessage", chat_id=ADMIN)[-2]
            send = next(d for d in button_data(preview) if d.startswith("bcast:"))
            # Another user tapping the admin's button: nothing happens.
            assert await bot.send(callback_update(bot.next_update_id(), ANN, send, message_id=1)) == 200
            assert await bot.pool.fetchval("SELECT count(*) FROM broadcasts") == 0
            assert fake_telegram.calls("copyMessage") == []


class TestBroadcast:
    async def test_every_user_exactly_once_within_the_pace_across_a_restart(
        self, make_bot, fake_telegram: FakeTelegram
    ) -> None:
        users = list(range(100_000, 101_000))
        blocked = set(users[::20])  # 50 users blocked the bot; it learns when it tries
        for user_id in blocked:
            fake_telegram.block(user_id)
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await bot.pool.execute("INSERT INTO users (id) SELECT unnest($1::bigint[])", users)
            await command(bot, ADMIN, "/start")
            assert "Reply with /broadcast" in await command(bot, ADMIN, "/broadcast")
            status = await broadcast(bot, 77, audience=1001)
            assert "of 1001" in status
            assert "already running" in await command(bot, ADMIN, "/broadcast", reply_to_message_id=78)
            # The last reply is out: from the next window on, only the broadcast's own sends are counted.
            first_bulk_window = math.floor(time.time() / WINDOW_S) + 1
            await fake_telegram.wait_for(lambda calls: len(fake_telegram.calls("copyMessage")) >= 200, timeout=30)
        # Stopped in the middle; a new process carries on.
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await wait_until(
                lambda: bot.pool.fetchval("SELECT state = 'done' FROM broadcasts"), timeout=90, interval=0.5
            )
            counts = await bot.pool.fetchrow(
                "SELECT count(*) FILTER (WHERE state = 'sent') AS sent,"
                " count(*) FILTER (WHERE state = 'blocked') AS blocked FROM broadcast_recipients"
            )
            marked = await bot.pool.fetchval("SELECT count(*) FROM users WHERE blocked_at IS NOT NULL")
            busiest = await bot.pool.fetchval(
                "SELECT max(taken) FROM send_windows WHERE window_no >= $1", first_bulk_window
            )
            await fake_telegram.wait_for(
                lambda calls: any(
                    "Sent 951" in str(c.params.get("text")) for c in calls if c.method == "editMessageText"
                )
            )
        delivered = [c for c in fake_telegram.succeeded if c.method == "copyMessage"]
        per_chat: dict[int, int] = {}
        for call in delivered:
            per_chat[call.chat_id] = per_chat.get(call.chat_id, 0) + 1
        assert set(per_chat) == (set(users) - blocked) | {ADMIN}
        assert set(per_chat.values()) == {1}, "nobody twice"
        assert (counts["sent"], counts["blocked"], marked) == (951, 50, 50)
        assert {(int(c.params["from_chat_id"]), int(c.params["message_id"])) for c in delivered} == {(ADMIN, 77)}
        # The pace: the sustained rate as the fake saw it, and what the shared limiter granted, across the
        # restart: no 0.2 s window more than its 5 slots, so no second more than 25 + 5 (Telegram's limit
        # is about 30/s). Counted where the limiter decides: arrival times bunch up on a loaded machine.
        times = sorted(c.at for c in fake_telegram.calls("copyMessage"))
        assert (len(times) - 1) / (times[-1] - times[0]) <= 25
        assert busiest is not None and busiest <= 5


class TestBroadcastCancel:
    async def test_cancel_stops_the_senders(self, make_bot, fake_telegram: FakeTelegram) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await bot.pool.execute("INSERT INTO users (id) SELECT generate_series(200000, 200299)")
            await command(bot, ADMIN, "/start")
            await broadcast(bot, 9)
            await fake_telegram.wait_for(lambda calls: len(fake_telegram.calls("copyMessage")) >= 5)
            assert "cancelled" in await command(bot, ADMIN, "/broadcast_cancel")
            await wait_until(
                lambda: bot.pool.fetchval(
                    "SELECT count(*) = 0 FROM jobs WHERE kind LIKE 'broadcast.%' AND state IN ('queued', 'running')"
                )
            )
            sent = len(fake_telegram.calls("copyMessage"))
            assert sent < 301
            assert await bot.pool.fetchval("SELECT state FROM broadcasts") == "cancelled"
            assert await bot.pool.fetchval("SELECT count(*) FROM broadcast_recipients WHERE state = 'sent'") == sent
            assert "No broadcast is running" in await command(bot, ADMIN, "/broadcast_cancel")
            # A new one may start once the last is over.
            assert "of 301" in await broadcast(bot, 10)

    async def test_after_a_crash_mid_send_nobody_is_sent_twice(self, make_bot, fake_telegram: FakeTelegram) -> None:
        """What a killed process leaves: one recipient sent, one claimed ('sending') and maybe sent.
        The broadcast carries on for the others and sends neither again."""
        from core.bot.broadcast import SEND, STATUS
        from core.queue import NewJob, enqueue_many

        users = list(range(300_000, 300_020))
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            await bot.pool.execute("INSERT INTO users (id) SELECT unnest($1::bigint[])", users)
            broadcast_id = await bot.pool.fetchval(
                "INSERT INTO broadcasts (admin_id, from_chat_id, message_id) VALUES ($1, $1, 5) RETURNING id", ADMIN
            )
            await bot.pool.execute(
                "INSERT INTO broadcast_recipients (broadcast_id, user_id, state, updated_at)"
                " SELECT $1, u, CASE u WHEN $2 THEN 'sent' WHEN $3 THEN 'sending' ELSE 'pending' END,"
                " now() - interval '10 minutes' FROM unnest($4::bigint[]) AS u",
                broadcast_id,
                users[0],
                users[1],
                users,
            )
            payload = {"broadcast_id": broadcast_id}
            jobs = [NewJob(SEND, {**payload, "sender": n}) for n in range(2)] + [NewJob(STATUS, payload)]
            await enqueue_many(bot.pool, bot.app.registry, jobs)
            await wait_until(lambda: bot.pool.fetchval("SELECT state = 'done' FROM broadcasts"))
            states = dict(await bot.pool.fetch("SELECT user_id, state FROM broadcast_recipients"))
        copied = sorted(c.chat_id for c in fake_telegram.calls("copyMessage"))
        assert copied == users[2:]
        assert (states[users[0]], states[users[1]]) == ("sent", "failed")
