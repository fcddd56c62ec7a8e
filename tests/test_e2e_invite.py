"""Invitations through the real webhook (issue 16, part 1): who is attributed at /start, the
invitee's welcome credits, /invite, and the inviter's bonus paid once, at the invitee's first Stars
purchase, however often Telegram delivers the payment."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import asyncpg

from core.growth import invite_link, invite_payload
from db import referrals as db_referrals
from db.users import User
from tests.fakes.telegram import message_update
from tests.helpers import BotHarness, wait_until
from tests.test_e2e_payments import command, invoice_for, pay
from tests.test_e2e_subscriptions import plan_link

INVITER, NEWBIE, OLDTIMER, LONER, STRANGER = 701, 702, 703, 704, 705
BOT = "reelsmith_bot"  # what the fake Telegram's getMe answers


async def referrals(bot: BotHarness) -> list[tuple[int, int]]:
    rows = await bot.pool.fetch("SELECT invitee_id, inviter_id FROM referrals ORDER BY invitee_id")
    return [(row["invitee_id"], row["inviter_id"]) for row in rows]


async def texts_to(bot: BotHarness, user_id: int) -> list[str]:
    return [call.params["text"] for call in bot.telegram.calls("sendMessage", chat_id=user_id)]


class TestAttribution:
    async def test_a_new_user_with_a_link_is_attributed_and_welcomed(self, make_bot) -> None:
        async with make_bot(REFERRAL_WELCOME="25") as bot:
            await command(bot, INVITER, "/start")
            welcome = await command(bot, NEWBIE, f"/start {invite_payload(INVITER)}")
            assert await referrals(bot) == [(NEWBIE, INVITER)]
            assert await bot.ledger(NEWBIE) == [("starter", 100), ("referral_welcome", 25)]
            assert "You have 125 credits" in welcome and "+25 free credits" in welcome
            assert await bot.ledger(INVITER) == [("starter", 100)], "joining alone pays the inviter nothing"
            # The same link again, from the same (now known) user: nothing more.
            again = await command(bot, NEWBIE, f"/start {invite_payload(INVITER)}")
            assert "invitation" not in again and "You have 125 credits" in again
            assert await bot.ledger(NEWBIE) == [("starter", 100), ("referral_welcome", 25)]
            assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0

    async def test_own_link_existing_users_and_junk_payloads_change_nothing(self, make_bot) -> None:
        async with make_bot(REFERRAL_WELCOME="25") as bot:
            await command(bot, INVITER, "/start")
            # Their own link, at first contact.
            own = await command(bot, LONER, f"/start {invite_payload(LONER)}")
            assert "invitation" not in own
            # A user the bot knew (they wrote before) opens a link.
            assert await bot.send(message_update(bot.next_update_id(), OLDTIMER, text="hello")) == 200
            await command(bot, OLDTIMER, f"/start {invite_payload(INVITER)}")
            # Junk, an inviter nobody knows, and payloads that are almost invitations: a plain welcome each.
            junk = ["r", "rZZ!", "r" + "1" * 14, "r" + "z" * 13, "promo_", "x" * 64, "r-1", invite_payload(999_999_999)]
            for n, payload in enumerate(junk):
                user = STRANGER + 100 * n
                assert "You have 100 credits" in await command(bot, user, f"/start {payload}"), payload
            assert await referrals(bot) == []
            reasons = await bot.pool.fetchval("SELECT count(*) FROM ledger WHERE reason <> 'starter'")
            assert reasons == 0
            updates = "SELECT count(*) FROM telegram_updates WHERE outcome = 'failed'"
            assert await bot.pool.fetchval(updates) == 0

    async def test_invite_shows_the_link_a_share_button_and_the_counts(self, bot: BotHarness) -> None:
        await command(bot, INVITER, "/start")
        answer = await command(bot, INVITER, "/invite")
        link = invite_link(BOT, INVITER)
        assert link in answer and "Joined through your link: 0" in answer and "Earned: 0 credits" in answer
        assert "you get 50 credits" in answer
        share = bot.telegram.calls("sendMessage", chat_id=INVITER)[-1].params["reply_markup"]["inline_keyboard"]
        url = share[0][0]["url"]
        assert url.startswith("https://t.me/share/url?")
        query = parse_qs(urlsplit(url).query)
        assert query["url"] == [link] and query["text"][0]

        await command(bot, NEWBIE, f"/start {invite_payload(INVITER)}")
        assert "Joined through your link: 1" in await command(bot, INVITER, "/invite")

        russian = await command(bot, OLDTIMER, "/invite", language_code="ru")
        assert "Ваша ссылка" in russian and invite_link(BOT, OLDTIMER) in russian


class TestBonus:
    async def test_paid_once_when_the_payment_arrives_three_times_and_never_again(self, bot: BotHarness) -> None:
        await command(bot, INVITER, "/start")
        await command(bot, NEWBIE, f"/start {invite_payload(INVITER)}")
        invoice = await invoice_for(bot, NEWBIE, 100)
        # Telegram delivers the payment three times, two of them at once, each with a new update id.
        statuses = await asyncio.gather(pay(bot, NEWBIE, invoice, "ch-inv-1"), pay(bot, NEWBIE, invoice, "ch-inv-1"))
        assert statuses == [200, 200]
        assert await pay(bot, NEWBIE, invoice, "ch-inv-1") == 200

        assert await bot.ledger(INVITER) == [("starter", 100), ("referral", 50)]
        notices = [t for t in await texts_to(bot, INVITER) if "first purchase" in t]
        assert notices == ["🎉 Ann, whom you invited, made their first purchase: +50 credits. You have 150 credits."]
        row = await bot.pool.fetchrow("SELECT bonus, bonus_charge_id, bonus_paid_at FROM referrals")
        assert (row["bonus"], row["bonus_charge_id"]) == (50, "ch-inv-1") and row["bonus_paid_at"] is not None

        # A second purchase is not a first one.
        assert await pay(bot, NEWBIE, invoice, "ch-inv-2") == 200
        assert await bot.credits(NEWBIE) == 100 + 100 + 100
        assert await bot.ledger(INVITER) == [("starter", 100), ("referral", 50)]
        answer = await command(bot, INVITER, "/invite")
        assert "Joined through your link: 1" in answer and "Earned: 50 credits" in answer
        assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0

    async def test_a_free_account_or_a_payment_we_did_not_sign_mints_nothing(self, bot: BotHarness) -> None:
        await command(bot, INVITER, "/start")
        await command(bot, NEWBIE, f"/start {invite_payload(INVITER)}")
        await command(bot, NEWBIE, "/balance")
        invoice = await invoice_for(bot, NEWBIE, 100)
        forged = {**invoice, "payload": invoice["payload"].replace("v1:100:50", "v1:1000:50")}
        assert await pay(bot, NEWBIE, forged, "ch-unsigned") == 200  # kept, credits nothing
        assert await bot.ledger(INVITER) == [("starter", 100)]
        assert await bot.pool.fetchval("SELECT bonus_paid_at FROM referrals") is None
        # Someone who came without a link buys: nobody is paid.
        await command(bot, LONER, "/start")
        assert await pay(bot, LONER, await invoice_for(bot, LONER, 100), "ch-loner") == 200
        assert await bot.pool.fetchval("SELECT count(*) FROM ledger WHERE reason = 'referral'") == 0

    async def test_no_bonus_when_referral_bonus_is_zero(self, make_bot) -> None:
        async with make_bot(REFERRAL_BONUS="0") as bot:
            await command(bot, INVITER, "/start")
            await command(bot, NEWBIE, f"/start {invite_payload(INVITER)}")
            assert await pay(bot, NEWBIE, await invoice_for(bot, NEWBIE, 100), "ch-zero") == 200
            assert await bot.ledger(INVITER) == [("starter", 100)]
            assert "you get" not in await command(bot, INVITER, "/invite")

    async def test_a_plans_first_charge_is_a_first_purchase_and_a_renewal_is_not(self, make_bot) -> None:
        async with make_bot(SUBSCRIPTION_PLANS="500:200") as bot:
            await command(bot, INVITER, "/start")
            await command(bot, NEWBIE, f"/start {invite_payload(INVITER)}")
            link = await plan_link(bot, NEWBIE)
            month = 2592000
            expires = int(time.time()) + month
            for charge_id, first, ends in (("sub-1", True, expires), ("sub-2", False, expires + month)):
                update = bot.telegram.charge_subscription(
                    link, NEWBIE, charge_id, update_id=bot.next_update_id(), expires_at=ends, first=first
                )
                assert await bot.send(update) == 200
                assert await bot.send({**update, "update_id": bot.next_update_id()}) == 200  # redelivered
            assert await bot.credits(NEWBIE) == 100 + 500 + 500
            assert await bot.ledger(INVITER) == [("starter", 100), ("referral", 50)]
            assert await bot.pool.fetchval("SELECT bonus_charge_id FROM referrals") == "sub-1"


async def test_two_purchases_at_once_pay_the_bonus_once(pool: asyncpg.Pool) -> None:
    """Without the invitee's row lock an update would hold (two connections, two charges): the
    referral's row decides, so exactly one of them pays."""
    await pool.execute("INSERT INTO users (id) VALUES ($1)", INVITER)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO users (id) VALUES ($1)", NEWBIE)
        assert await db_referrals.attribute(conn, NEWBIE, INVITER)
    database = await pool.fetchval("SELECT current_database()")
    first, second = await pool.acquire(), await pool.acquire()
    try:
        async with first.transaction():
            paid_first = await db_referrals.pay_bonus(first, NEWBIE, 50, "ch-a")
            late = asyncio.ensure_future(_pay_in_transaction(second, "ch-b"))

            async def waits() -> bool:
                query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = $1"
                return await pool.fetchval(query, database) == 1

            await wait_until(waits)
        paid_second = await late
    finally:
        await pool.release(first)
        await pool.release(second)
    assert paid_first is not None and paid_first.credits == 50 and paid_second is None
    assert await pool.fetchval("SELECT count(*) FROM ledger WHERE reason = 'referral'") == 1


async def _pay_in_transaction(conn: asyncpg.Connection, charge_id: str) -> User | None:
    async with conn.transaction():
        return await db_referrals.pay_bonus(conn, NEWBIE, 50, charge_id)
