"""Monthly plans through the real webhook: /buy's plan button makes a subscription invoice link, the
first charge and each renewal credit the plan once per charge id whatever Telegram redelivers,
/subscription cancels and resumes the renewal at Telegram, an admin refunds a charge, and a
tampered payload is refused at pre-checkout."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from core.growth import Plan
from core.pipeline.invoices import package_invoice_link
from core.stars import Package, make_payload, payload_key
from core.ui.texts import text
from tests.fakes.telegram import FakeTelegram, callback_update
from tests.helpers import SECRETS, BotHarness, button_data, wait_until
from tests.test_e2e_payments import ADMIN, admin_refund, command, invoice_for, pay, pre_checkout, receipts

ANN, BOB = 701, 702
PLANS = {"SUBSCRIPTION_PLANS": "500:200", "ADMIN_IDS": str(ADMIN)}
KEY = payload_key(SECRETS["BOT_TOKEN"])
MONTH = 2592000
T1 = int(time.time()) + MONTH  # the first charge's subscription_expiration_date
T2 = T1 + MONTH  # after the renewal


async def plan_link(bot: BotHarness, user_id: int) -> str:
    """/buy, tap the plan: the invoice link the bot's reply opens."""
    await command(bot, user_id, "/buy")
    menu = bot.telegram.calls("sendMessage", chat_id=user_id)[-1]
    data = next(d for d in button_data(menu) if d.startswith("plan:"))
    assert await bot.send(callback_update(bot.next_update_id(), user_id, data, message_id=1)) == 200
    reply = bot.telegram.calls("sendMessage", chat_id=user_id)[-1]
    assert "500 credits every 30 days for 200 ⭐" in reply.params["text"]
    return reply.params["reply_markup"]["inline_keyboard"][0][0]["url"]


async def charge(bot: BotHarness, link: str, charge_id: str, expires_at: int, *, first: bool) -> dict[str, Any]:
    """Telegram charges the subscription: the update, delivered once (tests deliver it again)."""
    update_id = bot.next_update_id()
    update = bot.telegram.charge_subscription(
        link, ANN, charge_id, update_id=update_id, expires_at=expires_at, first=first
    )
    assert await bot.send(update) == 200
    return update


async def subscribed(bot: BotHarness) -> str:
    """Ann subscribes: the link, its pre-checkout and the first charge (sub-1)."""
    link = await plan_link(bot, ANN)
    payload = bot.telegram.invoice_links[link]["payload"]
    assert (await pre_checkout(bot, ANN, payload, 200)) == {"ok": True, "error_message": None}
    await charge(bot, link, "sub-1", T1, first=True)
    return link


async def status_message(bot: BotHarness) -> tuple[str, list[str], int]:
    """/subscription: its text, its buttons' data, and its message id."""
    words = await command(bot, ANN, "/subscription")
    call = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
    message_id = max(bot.telegram.messages(ANN))
    return words, button_data(call), message_id


def renews(lang: str, key: str, expires_at: int) -> str:
    return text(lang, key, credits=500, stars=200, renews=datetime.fromtimestamp(expires_at, UTC))


class TestCharges:
    async def test_first_charge_renewal_and_a_redelivered_renewal_credited_once(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            link = await plan_link(bot, ANN)
            sent = bot.telegram.invoice_links[link]
            assert link.startswith("https://t.me/$")
            assert int(sent["subscription_period"]) == MONTH and sent["currency"] == "XTR"
            assert [int(p["amount"]) for p in sent["prices"]] == [200]
            assert sent["payload"].startswith("m1:500:200:") and len(sent["payload"].encode()) <= 128
            assert sent["title"] == "500 credits every month"

            assert (await pre_checkout(bot, ANN, sent["payload"], 200))["ok"] is True
            await charge(bot, link, "sub-1", T1, first=True)
            assert await bot.credits(ANN) == 500
            assert "Subscribed: +500 credits" in receipts(bot.telegram, ANN, "sub-1")[0]

            # The renewal: Telegram delivers it twice at once with new update ids, then the same update again.
            renewal = await charge(bot, link, "sub-2", T2, first=False)
            copies = [
                bot.telegram.charge_subscription(
                    link, ANN, "sub-2", update_id=bot.next_update_id(), expires_at=T2, first=False
                )
                for _ in range(2)
            ]
            assert await asyncio.gather(*(bot.send(c) for c in copies)) == [200, 200]
            assert await bot.send(renewal) == 200

            assert await bot.credits(ANN) == 1000
            assert await bot.ledger(ANN) == [("purchase", 500), ("purchase", 500)]
            assert len(receipts(bot.telegram, ANN, "sub-2")) == 1
            assert "renewed: +500 credits" in receipts(bot.telegram, ANN, "sub-2")[0]
            assert await bot.pool.fetchval("SELECT count(*) FROM payments") == 2
            assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0
            row = await bot.pool.fetchrow("SELECT * FROM subscriptions")
            assert (row["user_id"], row["charge_id"], row["credits"], row["stars"]) == (ANN, "sub-1", 500, 200)
            assert row["expires_at"] == datetime.fromtimestamp(T2, UTC)

            words, data, _ = await status_message(bot)
            assert words == renews("en", "subscription_active", T2)
            assert len(data) == 1 and data[0].startswith("sub:")

    async def test_subscription_with_no_plan_and_in_russian(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            assert "no monthly plan" in await command(bot, ANN, "/subscription")
            await subscribed(bot)
            await bot.pool.execute("UPDATE users SET language = 'ru' WHERE id = $1", ANN)  # as /language does
            words = await command(bot, ANN, "/subscription")
            assert words.startswith("🔁 Ваш тариф: 500 кредитов каждый месяц за 200 ⭐.")

    async def test_a_plan_no_longer_offered_still_renews_for_what_was_paid(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            link = await subscribed(bot)
        async with make_bot(SUBSCRIPTION_PLANS="") as bot:
            await charge(bot, link, "sub-2", T2, first=False)
            assert await bot.credits(ANN) == 1000
            menu = await command(bot, BOB, "/buy")
            assert "plan:" not in str(button_data(bot.telegram.calls("sendMessage", chat_id=BOB)[-1])), menu
            # Bob's old plan button, tapped now: an alert, no invoice.
            links = len(bot.telegram.invoice_links)
            assert await bot.send(callback_update(bot.next_update_id(), BOB, "plan:500:200", message_id=1)) == 200
            assert "no longer offered" in bot.telegram.calls("answerCallbackQuery")[-1].params["text"]
            assert len(bot.telegram.invoice_links) == links

    async def test_a_link_telegram_will_not_make_gets_a_sentence(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            await command(bot, ANN, "/buy")
            data = next(d for d in button_data(bot.telegram.calls("sendMessage", chat_id=ANN)[-1]) if "plan:" in d)
            bot.telegram.fail_next("createInvoiceLink", 400, "Bad Request: STARS_INVOICE_INVALID")
            assert await bot.send(callback_update(bot.next_update_id(), ANN, data, message_id=1)) == 200
            assert "could not make the invoice" in bot.telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"]
            assert bot.telegram.invoice_links == {}


class TestRenewalSwitch:
    async def test_cancel_then_resume_at_telegram_then_in_the_row(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            link = await subscribed(bot)
            _, data, message_id = await status_message(bot)
            assert await bot.send(callback_update(bot.next_update_id(), ANN, data[0], message_id=message_id)) == 200

            edit = bot.telegram.calls("editUserStarSubscription")[-1].params
            assert (int(edit["user_id"]), edit["telegram_payment_charge_id"]) == (ANN, "sub-1")
            assert bot.telegram.star_subscriptions[link]["canceled"] is True
            assert await bot.pool.fetchval("SELECT canceled FROM subscriptions") is True
            shown = bot.telegram.messages(ANN)[message_id]
            assert shown["text"] == renews("en", "subscription_canceled", T1)
            resume = button_data(bot.telegram.calls("editMessageText", chat_id=ANN)[-1])
            assert resume != data

            assert await bot.send(callback_update(bot.next_update_id(), ANN, resume[0], message_id=message_id)) == 200
            assert bot.telegram.star_subscriptions[link]["canceled"] is False
            assert await bot.pool.fetchval("SELECT canceled FROM subscriptions") is False
            assert bot.telegram.messages(ANN)[message_id]["text"] == renews("en", "subscription_active", T1)

    async def test_a_change_telegram_refuses_is_not_written(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            await subscribed(bot)
            _, data, message_id = await status_message(bot)
            bot.telegram.fail_next("editUserStarSubscription", 400, "Bad Request: CHARGE_ID_INVALID")
            assert await bot.send(callback_update(bot.next_update_id(), ANN, data[0], message_id=message_id)) == 200
            assert "did not accept" in bot.telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"]
            assert await bot.pool.fetchval("SELECT canceled FROM subscriptions") is False

    async def test_someone_elses_button_changes_nothing(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            await subscribed(bot)
            _, data, _ = await status_message(bot)
            await command(bot, BOB, "/start")
            assert await bot.send(callback_update(bot.next_update_id(), BOB, data[0], message_id=1)) == 200
            assert bot.telegram.calls("editUserStarSubscription") == []
            alert = bot.telegram.calls("answerCallbackQuery")[-1].params
            assert "can no longer be changed" in alert["text"]
            # Junk callback data of the same prefix: no 500.
            assert await bot.send(callback_update(bot.next_update_id(), ANN, "sub:x:y", message_id=1)) == 200


class TestRefund:
    async def test_an_admin_refund_of_a_renewal_takes_its_credits_back(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            link = await subscribed(bot)
            await charge(bot, link, "sub-2", T2, first=False)
            preview, answer = await admin_refund(bot, "sub-2")
            assert "Taken back now: 500 credits" in preview and "queued" in answer
            await wait_until(lambda: bot.telegram.charges["sub-2"]["refunded"])
            await wait_until(
                lambda: bot.pool.fetchval("SELECT refunded_at IS NOT NULL FROM payments WHERE charge_id = 'sub-2'")
            )
            assert await bot.credits(ANN) == 500
            assert await bot.ledger(ANN) == [("purchase", 500), ("purchase", 500), ("purchase_refund", -500)]
            assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0


class TestPreCheckout:
    async def test_tampered_plan_payloads_are_refused(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            link = await plan_link(bot, ANN)
            payload = bot.telegram.invoice_links[link]["payload"]
            assert (await pre_checkout(bot, ANN, payload, 199))["ok"] is False
            assert (await pre_checkout(bot, ANN, payload.replace("m1:500:200", "m1:5000:200"), 200))["ok"] is False
            assert (await pre_checkout(bot, BOB, payload, 200))["ok"] is False, "a forwarded link"
            invoice = await invoice_for(bot, ANN, 100)
            as_plan = invoice["payload"].replace("v1:", "m1:", 1)
            assert (await pre_checkout(bot, ANN, as_plan, 50))["ok"] is False, "a package relabelled as a plan"
            gone = make_payload(KEY, Plan(500, 150), ANN, monthly=True)
            answer = await pre_checkout(bot, ANN, gone, 150)
            assert answer["ok"] is False and "no longer offered" in answer["error_message"]
            # A package with a plan's numbers stays a package: not sold, refused.
            assert (await pre_checkout(bot, ANN, make_payload(KEY, Package(500, 200), ANN), 200))["ok"] is False
            assert (await pre_checkout(bot, ANN, payload, 200))["ok"] is True
            assert await bot.pool.fetchval("SELECT count(*) FROM payments") == 0

    async def test_a_second_subscription_to_a_running_plan_is_refused(self, make_bot) -> None:
        async with make_bot(**PLANS) as bot:
            first = await subscribed(bot)
            second = bot.telegram.invoice_links[await plan_link(bot, ANN)]["payload"]
            answer = await pre_checkout(bot, ANN, second, 200)
            assert answer["ok"] is False and "/subscription" in answer["error_message"]
            assert (await pre_checkout(bot, ANN, bot.telegram.invoice_links[first]["payload"], 200))["ok"] is True
            _, data, message_id = await status_message(bot)
            await bot.pool.execute("UPDATE subscriptions SET expires_at = now() - interval '1 day'")  # it ended
            assert (await pre_checkout(bot, ANN, second, 200))["ok"] is True
            words, buttons, _ = await status_message(bot)
            assert "ended on" in words and buttons == []
            # Its old Cancel button: an alert, and Telegram is not asked.
            assert await bot.send(callback_update(bot.next_update_id(), ANN, data[0], message_id=message_id)) == 200
            assert "can no longer be changed" in bot.telegram.calls("answerCallbackQuery")[-1].params["text"]
            assert bot.telegram.calls("editUserStarSubscription") == []


async def test_the_fake_takes_only_a_30_day_period(fake_telegram: FakeTelegram) -> None:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.types import LabeledPrice

    session = AiohttpSession(api=TelegramAPIServer.from_base(fake_telegram.base_url))
    async with Bot(fake_telegram.token, session=session) as client:
        fields: dict[str, Any] = {"title": "t", "description": "d", "payload": "p", "currency": "XTR"}
        prices = [LabeledPrice(label="x", amount=5)]
        for period in (60, 300):  # what Telegram's test environment takes, not production
            with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_PERIOD_INVALID"):
                await client.create_invoice_link(prices=prices, subscription_period=period, **fields)
        link = await client.create_invoice_link(prices=prices, subscription_period=MONTH, **fields)
        assert link in fake_telegram.invoice_links
        with pytest.raises(TelegramBadRequest, match="CHARGE_ID_INVALID"):
            await client.edit_user_star_subscription(user_id=ANN, telegram_payment_charge_id="nope", is_canceled=True)


class TestMiniAppLinks:
    async def test_a_package_link_is_paid_like_a_chat_invoice(self, make_bot) -> None:
        """What the Mini App opens: createInvoiceLink without a period, its payment credited once."""
        async with make_bot(**PLANS) as bot:
            link = await package_invoice_link(bot.app, ANN, Package(300, 140), "ru")
            sent = bot.telegram.invoice_links[link]
            assert "subscription_period" not in sent and sent["title"] == "300 кредитов"
            assert (await pre_checkout(bot, ANN, sent["payload"], 140))["ok"] is True
            invoice = {"payload": sent["payload"], "prices": [{"amount": 140}]}
            assert await pay(bot, ANN, invoice, "ch-link") == 200
            assert await pay(bot, ANN, invoice, "ch-link") == 200
            assert await bot.ledger(ANN) == [("purchase", 300)]
            assert await bot.pool.fetchval("SELECT count(*) FROM subscriptions") == 0
