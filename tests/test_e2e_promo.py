"""Promo codes (issue 16, part 2): admins' /promo, users' /redeem and ``/start promo_<CODE>``; a
code's uses never pass its limit, however many redeem it at the same instant, and nobody redeems
one twice."""

from __future__ import annotations

import asyncio

import asyncpg

from db import promos as db_promos
from tests.fakes.telegram import message_update
from tests.helpers import wait_until
from tests.test_e2e_payments import command

ADMIN, ANN, BOB = 42, 801, 802
USERS = list(range(810, 816))  # six


async def code_row(pool: asyncpg.Pool, code: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT * FROM promo_codes WHERE code = $1", code)


async def promo_credits(pool: asyncpg.Pool) -> dict[int, int]:
    rows = await pool.fetch("SELECT user_id, delta FROM ledger WHERE reason = 'promo' ORDER BY user_id")
    return {row["user_id"]: row["delta"] for row in rows}


class TestConcurrency:
    async def test_six_users_redeem_a_two_use_code_at_the_same_instant_through_the_webhook(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN), STARTER_CREDITS="0") as bot:
            assert "Created" in await command(bot, ADMIN, "/promo DUO 30 2")
            updates = [message_update(bot.next_update_id(), user, text="/redeem duo") for user in USERS]
            assert await asyncio.gather(*(bot.send(update) for update in updates)) == [200] * 6

            credited = await promo_credits(bot.pool)
            assert len(credited) == 2 and set(credited.values()) == {30}
            assert (await code_row(bot.pool, "DUO"))["uses"] == 2
            assert await bot.pool.fetchval("SELECT count(*) FROM promo_redemptions") == 2
            replies = [bot.telegram.calls("sendMessage", chat_id=user)[-1].params["text"] for user in USERS]
            assert (
                sorted(r.split(":")[0] for r in replies)
                == ["Sorry, code DUO has been used up."] * 4 + ["🎁 Code DUO redeemed"] * 2
            )
            assert [await bot.credits(user) for user in USERS] == [credited.get(user, 0) for user in USERS]
            assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0

    async def test_six_redeemers_queued_on_the_code_each_recheck_the_limit(self, pool: asyncpg.Pool) -> None:
        """Six transactions on separate connections: the first holds the code's row; the five others
        wait on it, and each re-reads the row as the previous one left it. Exactly two credited."""
        await pool.executemany("INSERT INTO users (id) VALUES ($1)", [(user,) for user in USERS])
        await db_promos.create(pool, "PAIR", 10, 2, None, ADMIN)
        conns = [await pool.acquire() for _ in USERS]
        try:
            first = conns[0].transaction()
            await first.start()
            assert (await db_promos.redeem(conns[0], "PAIR", USERS[0])).outcome == "redeemed"

            async def redeem(conn: asyncpg.Connection, user: int) -> str:
                async with conn.transaction():
                    return (await db_promos.redeem(conn, "PAIR", user)).outcome

            others = [asyncio.create_task(redeem(conn, user)) for conn, user in zip(conns[1:], USERS[1:], strict=True)]

            async def all_five_wait() -> bool:
                waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = $1"
                return await pool.fetchval(waiting, database) == 5

            database = await pool.fetchval("SELECT current_database()")
            await wait_until(all_five_wait)
            await first.commit()
            outcomes = await asyncio.gather(*others)
        finally:
            for conn in conns:
                await pool.release(conn)
        assert sorted(outcomes) == ["redeemed"] + ["used_up"] * 4
        assert len(await promo_credits(pool)) == 2
        assert (await code_row(pool, "PAIR"))["uses"] == 2


class TestRedeem:
    async def test_redeem_is_case_insensitive_once_per_user_and_says_why_not(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN), STARTER_CREDITS="0") as bot:
            created = await command(bot, ADMIN, "/promo Gift50 50")
            assert "GIFT50 · 50 credits · redeemed 0 times, no limit · no expiry" in created
            assert "https://t.me/reelsmith_bot?start=promo_GIFT50" in created

            assert (
                await command(bot, ANN, "/redeem gift50")
                == "🎁 Code GIFT50 redeemed: +50 credits. You have 50 credits."
            )
            assert "already redeemed code GIFT50" in await command(bot, ANN, "/redeem GIFT50")
            assert await command(bot, ANN, "/redeem nope") == "There is no code NOPE. Please check it and try again."
            assert "There is no code" in await command(bot, ANN, "/redeem what?!")
            assert "/redeem GIFT50" in await command(bot, ANN, "/redeem")
            assert "/redeem GIFT50" in await command(bot, ANN, "/redeem two words")
            assert await bot.ledger(ANN) == [("promo", 50)]
            reference = await bot.pool.fetchval("SELECT reference FROM ledger WHERE reason = 'promo'")
            assert reference == f"GIFT50:{ANN}"

            # The link: /start promo_<CODE> redeems like /redeem, after the welcome.
            assert await bot.send(message_update(bot.next_update_id(), BOB, text="/start promo_gift50")) == 200
            replies = [c.params["text"] for c in bot.telegram.calls("sendMessage", chat_id=BOB)]
            assert "Hi Ann" in replies[-2] and replies[-1].startswith("🎁 Code GIFT50 redeemed")
            assert await bot.credits(BOB) == 50

            russian = await command(bot, 803, "/redeem gift50", language_code="ru")
            assert russian == "🎁 Код GIFT50 активирован: +50 кредитов. У вас 50 кредитов."
            listing = await command(bot, ADMIN, "/promo")
            assert "GIFT50 · 50 credits · redeemed 3 times, no limit · no expiry" in listing

    async def test_expired_and_retired_codes_credit_nothing(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN), STARTER_CREDITS="0") as bot:
            assert "until" in await command(bot, ADMIN, "/promo SPRING 20 10 30")
            await command(bot, ADMIN, "/promo SUMMER 20 1")
            assert "1 of 1 uses left" in await command(bot, ADMIN, "/promo")
            await bot.pool.execute(
                "UPDATE promo_codes SET expires_at = now() - interval '1 second' WHERE code = 'SPRING'"
            )
            assert await command(bot, ANN, "/redeem spring") == "Sorry, code SPRING has expired."

            retired = await command(bot, ADMIN, "/promo off summer")
            assert "Retired" in retired and "SUMMER · 20 credits · 1 of 1 uses left · retired" in retired
            assert await command(bot, ANN, "/redeem summer") == "Sorry, code SUMMER is no longer valid."
            assert await bot.ledger(ANN) == []
            listing = await command(bot, ADMIN, "/promo")
            assert "SPRING · 20 credits · 10 of 10 uses left · expired" in listing
            assert "/promo" in await command(bot, ADMIN, "/promo off nothing-here")
            assert await bot.pool.fetchval("SELECT sum(uses) FROM promo_codes") == 0


class TestAdmin:
    async def test_promo_is_for_admins_only(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            assert "I don't know that command" in await command(bot, ANN, "/promo FREE 1000")
            assert "I don't know that command" in await command(bot, ANN, "/promo")
            assert "I don't know that command" in await command(bot, ANN, "/promo off FREE")
            assert await bot.pool.fetchval("SELECT count(*) FROM promo_codes") == 0

    async def test_malformed_promo_commands_get_a_helpful_reply(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            assert "No promo codes yet" in await command(bot, ADMIN, "/promo")
            for line in ("/promo X", "/promo X 1 2 3 4", "/promo off", "/promo off A B", "/promo off bad!"):
                assert "Usage: /promo" in await command(bot, ADMIN, line), line
            for line in ("/promo X abc", "/promo X 0", "/promo X -5", "/promo X 10 0", "/promo X 10 5 99999"):
                assert "Credits: 1 to 100,000" in await command(bot, ADMIN, line), line
            for line in ("/promo bad!code 10", "/promo " + "A" * 33 + " 10"):
                assert "1 to 32 letters" in await command(bot, ADMIN, line), line
            assert "Created" in await command(bot, ADMIN, "/promo X 10")
            assert "already exists" in await command(bot, ADMIN, "/promo x 20")
            assert await bot.pool.fetchval("SELECT count(*) FROM promo_codes") == 1
            failed = "SELECT count(*) FROM telegram_updates WHERE outcome = 'failed'"
            assert await bot.pool.fetchval(failed) == 0
