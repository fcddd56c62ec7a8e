"""Nudges, few and polite (issue 16, part 6), through the real webhook and queue against the fakes: each
fires once, at most one a day per user, none after /notifications off, none to blocked users, none
with NUDGES=false, and an invoice's reminder only while it is unpaid."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from core.catalogue import parse_models
from core.pipeline.nudges import INVITE, LOW_BALANCE, NUDGE, after_delivery, cheapest_price, open_nudge
from db import generations as db_generations
from db import nudges as db_nudges
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, message_update, my_chat_member_update
from tests.helpers import BotHarness, button_data, wait_until
from tests.test_e2e_generation import render, start_and_confirm, videos_sent
from tests.test_e2e_payments import command, invoice_for, pay

ANN, BOB = 1601, 1602
FINAL = {"sent", "disabled", "moot", "unreachable", "opted_out", "daily_cap", "failed", "unsure"}


async def start(bot: BotHarness, user_id: int, language_code: str = "en") -> None:
    update = message_update(bot.next_update_id(), user_id, text="/start", language_code=language_code)
    assert await bot.send(update) == 200


async def nudge(bot: BotHarness, user_id: int, kind: str, subject: str) -> bool:
    """Open a nudge as its trigger does: the row and its job in one transaction."""
    async with bot.pool.acquire() as conn, conn.transaction():
        return await open_nudge(conn, bot.app, user_id, kind, subject)


async def settled(bot: BotHarness, user_id: int, kind: str, subject: str) -> str:
    """The nudge's final outcome, once its job has finished."""

    async def done() -> str | None:
        try:
            outcome = await db_nudges.outcome(bot.pool, user_id, kind, subject)
        except KeyError:
            return None  # not opened yet (a delivery opens its nudges once the video went out)
        jobs = await bot.pool.fetchval(
            "SELECT count(*) FROM jobs WHERE kind = $1 AND state IN ('queued', 'running')"
            " AND payload->>'user_id' = $2 AND payload->>'kind' = $3 AND payload->>'subject' = $4",
            NUDGE,
            str(user_id),
            kind,
            subject,
        )
        return outcome if outcome in FINAL and jobs == 0 else None

    return await wait_until(done)


def nudges_sent(telegram: FakeTelegram, user_id: int) -> list[Any]:
    return [c for c in telegram.calls("sendMessage", chat_id=user_id) if "/notifications off" in c.params["text"]]


async def delivered_before(pool: asyncpg.Pool, user_id: int, count: int) -> None:
    """``count`` videos the user received earlier."""
    for i in range(count):
        draft = await db_generations.create_draft(
            pool, user_id, user_id, "veo3_fast", 60, "idea", None, f"earlier-{user_id}-{i}", "kie"
        )
        await pool.execute(
            "UPDATE generations SET status = 'done', confirmed_at = now(), rendering_at = now(), finished_at = now()"
            " WHERE id = $1",
            draft.id,
        )


def test_the_cheapest_price_counts_every_length() -> None:
    models = parse_models("veo3_lite:veo:30,veo3_fast:veo:60,kling-3.0-std:kling3:12/s:5,10")
    assert cheapest_price(models) == 30
    assert cheapest_price(parse_models("s:seedance:9/s:10,5,15")) == 45, "the shortest length, listed or not first"


class TestTriggers:
    async def test_a_delivery_that_leaves_too_little_offers_buy_once(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(STARTER_CREDITS="70") as bot:
            draft = await start_and_confirm(bot, ANN, text="a paper boat in the rain")
            await render(fake_kie)
            await videos_sent(bot.telegram, ANN)
            assert await settled(bot, ANN, LOW_BALANCE, str(draft)) == "sent"
            (sent,) = nudges_sent(bot.telegram, ANN)
            assert "You have 10 credits left" in sent.params["text"] and "30 credits" in sent.params["text"]
            assert button_data(sent) and all(d.startswith("buy:") for d in button_data(sent))
            # The same delivery calls for it again (a retried job): nothing more.
            generation = await db_generations.get(bot.pool, draft)
            assert generation is not None
            async with bot.pool.acquire() as conn, conn.transaction():
                await after_delivery(conn, bot.app, generation)
            assert await bot.pool.fetchval("SELECT count(*) FROM jobs WHERE kind = $1", NUDGE) == 1
            assert len(nudges_sent(bot.telegram, ANN)) == 1

    async def test_enough_left_for_a_video_is_no_nudge(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        draft = await start_and_confirm(bot, ANN, text="a kite over the dunes")  # 100 - 60 leaves 40 >= 30
        await render(fake_kie)
        await bot.wait_for_generation(draft, "done")  # its nudges are opened in the same transaction
        assert await bot.pool.fetchval("SELECT count(*) FROM nudges") == 0

    async def test_the_third_video_suggests_invite_once(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        await start(bot, ANN)
        await delivered_before(bot.pool, ANN, 2)
        await start_and_confirm(bot, ANN, text="a train through snow")
        await render(fake_kie)
        await videos_sent(bot.telegram, ANN)
        assert await settled(bot, ANN, INVITE, "third") == "sent"
        (sent,) = nudges_sent(bot.telegram, ANN)
        assert "/invite" in sent.params["text"]
        # A fourth delivery: the suggestion was made, once ever.
        fourth = await db_generations.get(bot.pool, await bot.pool.fetchval("SELECT max(id) FROM generations"))
        assert fourth is not None
        async with bot.pool.acquire() as conn, conn.transaction():
            await after_delivery(conn, bot.app, fourth)
        assert await bot.pool.fetchval("SELECT count(*) FROM nudges WHERE kind = 'invite'") == 1

    async def test_low_balance_with_the_third_video_puts_the_invitation_off_a_day(
        self, make_bot, fake_kie: FakeKie
    ) -> None:
        async with make_bot(STARTER_CREDITS="70") as bot:
            await start(bot, ANN)
            await delivered_before(bot.pool, ANN, 2)
            draft = await start_and_confirm(bot, ANN, text="a fox in the snow")
            await render(fake_kie)
            assert await settled(bot, ANN, LOW_BALANCE, str(draft)) == "sent"
            wait_s = await bot.pool.fetchval(
                "SELECT extract(epoch FROM run_at - now()) FROM jobs WHERE kind = $1 AND payload->>'kind' = $2",
                NUDGE,
                INVITE,
            )
            assert 86_400 < wait_s <= 86_460, "tomorrow's nudge, not lost to today's cap"
            assert await db_nudges.outcome(bot.pool, ANN, INVITE, "third") is None


class TestInvoiceReminder:
    async def test_an_unpaid_invoice_is_reminded_of_once_after_an_hour(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        invoice = await invoice_for(bot, ANN, 100)
        row = await bot.pool.fetchrow(
            "SELECT id, user_id, credits, paid_at FROM invoices WHERE payload = $1", invoice["payload"]
        )
        assert (row["user_id"], row["credits"], row["paid_at"]) == (ANN, 100, None)
        wait_s = await bot.pool.fetchval("SELECT extract(epoch FROM run_at - now()) FROM jobs WHERE kind = $1", NUDGE)
        assert 3500 < wait_s <= 3600, "due an hour after the invoice"
        assert nudges_sent(bot.telegram, ANN) == []
        await bot.pool.execute("UPDATE jobs SET run_at = now() WHERE kind = $1", NUDGE)  # the hour has passed
        assert await settled(bot, ANN, "invoice", str(row["id"])) == "sent"
        (sent,) = nudges_sent(bot.telegram, ANN)
        assert "invoice for 100 credits is still open" in sent.params["text"]

    async def test_no_reminder_once_paid(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        invoice = await invoice_for(bot, ANN, 100)
        assert await pay(bot, ANN, invoice, "charge-nudge-1") == 200
        assert await bot.pool.fetchval("SELECT paid_at FROM invoices WHERE payload = $1", invoice["payload"])
        await bot.pool.execute("UPDATE jobs SET run_at = now() WHERE kind = $1", NUDGE)
        invoice_id = await bot.pool.fetchval("SELECT id FROM invoices")
        assert await settled(bot, ANN, "invoice", str(invoice_id)) == "moot"
        assert nudges_sent(bot.telegram, ANN) == []

    async def test_no_reminder_after_buying_through_another_invoice(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        await invoice_for(bot, ANN, 100)
        second = await invoice_for(bot, ANN, 300)
        assert await pay(bot, ANN, second, "charge-nudge-2") == 200
        await bot.pool.execute("UPDATE jobs SET run_at = now() WHERE kind = $1", NUDGE)
        first_id, second_id = [r["id"] for r in await bot.pool.fetch("SELECT id FROM invoices ORDER BY id")]
        assert await settled(bot, ANN, "invoice", str(first_id)) == "moot"
        assert await settled(bot, ANN, "invoice", str(second_id)) == "moot"
        assert nudges_sent(bot.telegram, ANN) == []


class TestLimits:
    """Invitation nudges with made-up subjects stand for any nudge here: they are never moot."""

    async def test_one_nudge_a_day(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        assert await nudge(bot, ANN, INVITE, "third")
        assert await settled(bot, ANN, INVITE, "third") == "sent"
        assert await nudge(bot, ANN, INVITE, "second")
        assert await settled(bot, ANN, INVITE, "second") == "daily_cap"
        assert len(nudges_sent(bot.telegram, ANN)) == 1
        # A day later the next one may go.
        await bot.pool.execute("UPDATE users SET last_nudge_at = now() - interval '25 hours' WHERE id = $1", ANN)
        assert await nudge(bot, ANN, INVITE, "third-again")
        assert await settled(bot, ANN, INVITE, "third-again") == "sent"
        assert len(nudges_sent(bot.telegram, ANN)) == 2

    async def test_opened_twice_is_one_nudge(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        assert await nudge(bot, ANN, INVITE, "third")
        assert not await nudge(bot, ANN, INVITE, "third")
        assert await settled(bot, ANN, INVITE, "third") == "sent"
        assert not await nudge(bot, ANN, INVITE, "third"), "not even after its job finished"
        assert len(nudges_sent(bot.telegram, ANN)) == 1

    async def test_notifications_off_and_on(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        assert "Tips are off" in await command(bot, ANN, "/notifications off")
        assert "Tips are off" in await command(bot, ANN, "/notifications"), "the state, and how to switch"
        assert await nudge(bot, ANN, INVITE, "third")
        assert await settled(bot, ANN, INVITE, "third") == "opted_out"
        assert nudges_sent(bot.telegram, ANN) == []
        assert "Tips are on" in await command(bot, ANN, "/notifications on")
        assert await nudge(bot, ANN, INVITE, "again")
        assert await settled(bot, ANN, INVITE, "again") == "sent"

    async def test_notifications_in_russian_and_junk(self, bot: BotHarness) -> None:
        await start(bot, BOB, "ru")
        ru = message_update(bot.next_update_id(), BOB, text="/notifications выкл", language_code="ru")
        assert await bot.send(ru) == 200
        assert "Подсказки отключены" in bot.telegram.calls("sendMessage", chat_id=BOB)[-1].params["text"]
        assert await bot.pool.fetchval("SELECT notifications FROM users WHERE id = $1", BOB) is False
        junk = message_update(bot.next_update_id(), BOB, text="/notifications maybe " + "x" * 3000, language_code="ru")
        assert await bot.send(junk) == 200
        assert "Подсказки отключены" in bot.telegram.calls("sendMessage", chat_id=BOB)[-1].params["text"]
        assert await bot.pool.fetchval("SELECT notifications FROM users WHERE id = $1", BOB) is False

    async def test_a_429_sends_it_later_once(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        bot.telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=ANN)
        assert await nudge(bot, ANN, INVITE, "third")
        assert await settled(bot, ANN, INVITE, "third") == "sent"
        ok = {id(c) for c in bot.telegram.succeeded}
        tries = nudges_sent(bot.telegram, ANN)
        assert len(tries) == 2 and [id(c) in ok for c in tries] == [False, True], "refused, then sent once"

    async def test_a_send_that_may_have_gone_out_is_never_repeated(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        bot.telegram.fail_next("sendMessage", 500, "Internal Server Error", chat_id=ANN, times=10)
        assert await nudge(bot, ANN, INVITE, "third")
        assert await settled(bot, ANN, INVITE, "third") == "unsure"
        assert await bot.pool.fetchval("SELECT state FROM jobs WHERE kind = $1", NUDGE) == "succeeded"

    async def test_none_to_a_user_who_blocked_the_bot(self, bot: BotHarness) -> None:
        await start(bot, ANN)
        assert await bot.send(my_chat_member_update(bot.next_update_id(), ANN, blocked=True)) == 200
        assert await nudge(bot, ANN, INVITE, "third")
        assert await settled(bot, ANN, INVITE, "third") == "unreachable"
        assert nudges_sent(bot.telegram, ANN) == []

    async def test_none_with_nudges_off_for_the_bot(self, make_bot, fake_kie: FakeKie) -> None:
        async with make_bot(NUDGES="false", STARTER_CREDITS="70") as bot:
            await start(bot, ANN)
            await delivered_before(bot.pool, ANN, 2)
            draft = await start_and_confirm(bot, ANN, text="a lantern festival")
            await render(fake_kie)
            await bot.wait_for_generation(draft, "done")
            assert not await nudge(bot, ANN, INVITE, "third")
            assert await bot.pool.fetchval("SELECT count(*) FROM nudges") == 0
            assert await bot.pool.fetchval("SELECT count(*) FROM jobs WHERE kind = $1", NUDGE) == 0
            assert nudges_sent(bot.telegram, ANN) == []


async def test_one_of_many_nudges_at_the_same_instant_takes_the_day(pool: asyncpg.Pool) -> None:
    await pool.execute("INSERT INTO users (id) VALUES ($1)", ANN)
    subjects = [str(n) for n in range(8)]
    for subject in subjects:
        assert await db_nudges.open_nudge(pool, ANN, LOW_BALANCE, subject)
    outcomes = await asyncio.gather(*(db_nudges.claim(pool, ANN, LOW_BALANCE, s) for s in subjects))
    assert sorted(outcomes, key=str) == ["daily_cap"] * 7 + ["sending"]
    assert await db_nudges.claim(pool, ANN, LOW_BALANCE, "0") is None, "decided once"
