"""Telegram Stars through the real webhook: /buy, the invoice, pre-checkout, the payment credited
once per charge whatever Telegram redelivers, and refunds (an admin's, and Telegram's own)."""

from __future__ import annotations

import asyncio
from typing import Any

from core.stars import Package, make_payload, payload_key
from core.ui.keyboards import BuyPackage, CancelGeneration
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import (
    FakeTelegram,
    callback_update,
    message_update,
    pre_checkout_update,
    refunded_payment_update,
    successful_payment_update,
)
from tests.helpers import SECRETS, BotHarness, button_data, wait_until
from tests.test_e2e_generation import start_and_confirm
from tests.test_e2e_providers import down

ANN, BOB, ADMIN = 601, 602, 42
KEY = payload_key(SECRETS["BOT_TOKEN"])


async def command(bot: BotHarness, user_id: int, line: str, **message: Any) -> str:
    """Send a message; the bot's last text reply to it."""
    before = len(bot.telegram.calls("sendMessage", chat_id=user_id))
    assert await bot.send(message_update(bot.next_update_id(), user_id, text=line, **message)) == 200
    replies = bot.telegram.calls("sendMessage", chat_id=user_id)[before:]
    assert replies, f"no reply to {line!r}"
    return replies[-1].params["text"]


async def invoice_for(bot: BotHarness, user_id: int, credits: int) -> dict[str, Any]:
    """/buy, tap the package: the sendInvoice call's parameters."""
    await command(bot, user_id, "/buy")
    menu = bot.telegram.calls("sendMessage", chat_id=user_id)[-1]
    data = next(d for d in button_data(menu) if d.startswith("buy:") and BuyPackage.unpack(d).credits == credits)
    update = callback_update(bot.next_update_id(), user_id, data, message_id=1)
    assert await bot.send(update) == 200
    return bot.telegram.calls("sendInvoice", chat_id=user_id)[-1].params


async def pay(bot: BotHarness, user_id: int, invoice: dict[str, Any], charge_id: str, **extra: Any) -> int:
    amount = invoice["prices"][0]["amount"]
    update = successful_payment_update(
        bot.next_update_id(), user_id, payload=invoice["payload"], total_amount=amount, charge_id=charge_id, **extra
    )
    return await bot.send(update)


async def pre_checkout(bot: BotHarness, user_id: int, payload: str, amount: int, currency: str = "XTR") -> dict:
    update_id = bot.next_update_id()
    update = pre_checkout_update(update_id, user_id, payload=payload, total_amount=amount, currency=currency)
    assert await bot.send(update) == 200
    return bot.telegram.pre_checkout[f"pcq-{update_id}"]


async def admin_refund(bot: BotHarness, charge_id: str, *, go: bool = True) -> tuple[str, str]:
    """/refund: the preview, then a tap on Refund (or Cancel) under it: both texts."""
    preview_text = await command(bot, ADMIN, f"/refund {charge_id}")
    preview = bot.telegram.calls("sendMessage", chat_id=ADMIN)[-1]
    data = [d for d in button_data(preview) if d.startswith("refund:")]
    assert len(data) == 2, preview_text
    tap = callback_update(bot.next_update_id(), ADMIN, data[0 if go else 1], message_id=1)
    assert await bot.send(tap) == 200
    return preview_text, bot.telegram.calls("sendMessage", chat_id=ADMIN)[-1].params["text"]


def receipts(telegram: FakeTelegram, user_id: int, charge_id: str) -> list[str]:
    texts = [c.params["text"] for c in telegram.calls("sendMessage", chat_id=user_id)]
    return [t for t in texts if charge_id in t]


class TestPurchase:
    async def test_buy_invoice_pre_checkout_and_a_payment_credited_once(self, bot: BotHarness) -> None:
        await command(bot, ANN, "/start")
        invoice = await invoice_for(bot, ANN, 300)
        assert invoice["currency"] == "XTR"
        assert [p["amount"] for p in invoice["prices"]] == [140]
        assert invoice.get("provider_token", "") == ""
        assert len(invoice["payload"].encode()) <= 128
        assert "300" in invoice["title"]

        answer = await pre_checkout(bot, ANN, invoice["payload"], 140)
        assert answer == {"ok": True, "error_message": None}

        # Telegram delivers the payment three times, two of them at once, each with a new update id.
        statuses = await asyncio.gather(pay(bot, ANN, invoice, "ch-1"), pay(bot, ANN, invoice, "ch-1"))
        assert statuses == [200, 200]
        assert await pay(bot, ANN, invoice, "ch-1") == 200

        assert await bot.credits(ANN) == 100 + 300
        assert await bot.ledger(ANN) == [("starter", 100), ("purchase", 300)]
        assert len(receipts(bot.telegram, ANN, "ch-1")) == 1
        assert "400 credits" in receipts(bot.telegram, ANN, "ch-1")[0]
        assert await bot.pool.fetchval("SELECT count(*) FROM payments") == 1
        assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0

    async def test_pre_checkout_refuses_a_wrong_amount_a_forged_or_foreign_payload(self, bot: BotHarness) -> None:
        await command(bot, ANN, "/start")
        invoice = await invoice_for(bot, ANN, 100)
        wrong_amount = await pre_checkout(bot, ANN, invoice["payload"], 1)
        assert wrong_amount["ok"] is False and "/buy" in wrong_amount["error_message"]
        unknown = await pre_checkout(bot, ANN, "v1:100:50:601:abc:not-a-signature", 50)
        assert unknown["ok"] is False
        # Edited into the big package for the small price: the signature no longer matches.
        forged = invoice["payload"].replace("v1:100:50", "v1:1000:50")
        assert (await pre_checkout(bot, ANN, forged, 50))["ok"] is False
        # A forwarded invoice paid by someone else.
        assert (await pre_checkout(bot, BOB, invoice["payload"], 50))["ok"] is False
        assert (await pre_checkout(bot, ANN, invoice["payload"], 50, currency="USD"))["ok"] is False
        assert (await pre_checkout(bot, ANN, invoice["payload"], 50))["ok"] is True

    async def test_a_package_no_longer_sold_is_refused_at_checkout(self, make_bot) -> None:
        payload = make_payload(KEY, Package(100, 50), ANN)
        async with make_bot(CREDIT_PACKAGES="200:90") as bot:
            answer = await pre_checkout(bot, ANN, payload, 50)
        assert answer["ok"] is False and "no longer sold" in answer["error_message"]

    async def test_not_enough_credits_offers_the_packages_that_cover_the_price(self, make_bot) -> None:
        async with make_bot(STARTER_CREDITS="0") as bot:
            await command(bot, ANN, "/start")
            from tests.test_e2e_generation import propose

            draft = await propose(bot, ANN, text="a cat surfing")
            row = await bot.generation(draft)
            tap = callback_update(bot.next_update_id(), ANN, f"go:{draft}", message_id=row["status_message_id"])
            assert await bot.send(tap) == 200
            offer = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
            assert "60 credits" in offer.params["text"]
            assert [BuyPackage.unpack(d).credits for d in button_data(offer)] == [100, 300, 1000]

    async def test_a_payment_is_credited_past_the_message_rate_limit(self, make_bot) -> None:
        async with make_bot(USER_MESSAGES_PER_MINUTE="2") as bot:
            invoice = await invoice_for(bot, ANN, 100)
            for _ in range(4):
                await bot.send(message_update(bot.next_update_id(), ANN, text="hello"))
            outcome = "SELECT count(*) FROM telegram_updates WHERE user_id = $1 AND outcome = 'rate_limited'"
            assert await bot.pool.fetchval(outcome, ANN) >= 2
            assert await pay(bot, ANN, invoice, "ch-rl") == 200
            assert await bot.credits(ANN) == 100
            assert len(receipts(bot.telegram, ANN, "ch-rl")) == 1

    async def test_a_user_banned_after_paying_is_still_credited(self, make_bot) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            invoice = await invoice_for(bot, ANN, 100)
            await command(bot, ADMIN, f"/ban {ANN} fraud")
            assert (await pre_checkout(bot, ANN, invoice["payload"], 50))["ok"] is False
            assert await pay(bot, ANN, invoice, "ch-ban") == 200
            assert await bot.credits(ANN) == 100
            assert await bot.ledger(ANN) == [("purchase", 100)]

    async def test_a_failing_payment_handler_is_redelivered_not_dropped(self, bot: BotHarness) -> None:
        """The crediting fails (the user row is locked away from it): the webhook answers 500 and
        records nothing, so Telegram's redelivery credits it."""
        invoice = await invoice_for(bot, ANN, 100)
        update = successful_payment_update(
            bot.next_update_id(), ANN, payload=invoice["payload"], total_amount=50, charge_id="ch-fail"
        )
        async with bot.pool.acquire() as conn:
            await conn.execute("ALTER TABLE payments ADD CONSTRAINT no_payments_now CHECK (false) NOT VALID")
            assert await bot.send(update) == 500
            await conn.execute("ALTER TABLE payments DROP CONSTRAINT no_payments_now")
        assert await bot.credits(ANN) == 0
        assert await bot.send(update) == 200, "the same update, redelivered"
        assert await bot.credits(ANN) == 100
        assert len(receipts(bot.telegram, ANN, "ch-fail")) == 1


class TestRefunds:
    async def test_an_admin_refund_takes_the_credits_back_once(self, make_bot, fake_telegram: FakeTelegram) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            invoice = await invoice_for(bot, ANN, 300)
            fake_telegram.add_charge("ch-r", ANN)
            await pay(bot, ANN, invoice, "ch-r")
            assert await bot.credits(ANN) == 300

            preview, answer = await admin_refund(bot, "ch-r")
            assert "Balance now: 300 credits" in preview and "Taken back now: 300 credits" in preview
            assert "queued" in answer
            await wait_until(lambda: fake_telegram.charges["ch-r"]["refunded"])
            await fake_telegram.wait_for(lambda _: any("↩️ Refunded ch-r" in t for t in _texts(fake_telegram, ADMIN)))
            assert await bot.credits(ANN) == 0
            assert any("140 ⭐" in t for t in _texts(fake_telegram, ANN)), "the buyer is told"

            assert "already refunded" in await command(bot, ADMIN, "/refund ch-r")
            # Telegram's confirmation of our refund arrives later: it takes nothing more.
            refunded = refunded_payment_update(
                bot.next_update_id(), ANN, payload=invoice["payload"], total_amount=140, charge_id="ch-r"
            )
            assert await bot.send(refunded) == 200
            assert await bot.ledger(ANN) == [("purchase", 300), ("purchase_refund", -300)]
            assert len(fake_telegram.calls("refundStarPayment")) == 1
            row = await bot.pool.fetchrow("SELECT refunded_by, refund_shortfall FROM payments")
            assert tuple(row) == (f"admin:{ADMIN}", 0)

    async def test_spent_credits_stop_the_balance_at_zero_and_the_shortfall_is_recorded(
        self, make_bot, fake_telegram: FakeTelegram
    ) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            invoice = await invoice_for(bot, ANN, 100)
            fake_telegram.add_charge("ch-s", ANN, refunded=True)  # refunded already: CHARGE_ALREADY_REFUNDED
            await pay(bot, ANN, invoice, "ch-s")
            await bot.pool.execute(
                "WITH e AS (INSERT INTO ledger (user_id, delta, reason, reference) VALUES ($1, -70, 'admin', 'x')"
                " RETURNING 1) UPDATE users SET credits = credits - 70 WHERE id = $1",
                ANN,
            )
            await admin_refund(bot, "ch-s")
            await wait_until(lambda: bot.pool.fetchval("SELECT refunded_at IS NOT NULL FROM payments"))
            assert await bot.credits(ANN) == 0
            assert await bot.pool.fetchval("SELECT refund_shortfall FROM payments") == 70
            assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0

    async def test_a_refund_can_be_called_off_at_its_preview(self, make_bot, fake_telegram: FakeTelegram) -> None:
        async with make_bot(ADMIN_IDS=str(ADMIN)) as bot:
            invoice = await invoice_for(bot, ANN, 100)
            fake_telegram.add_charge("ch-x", ANN)
            await pay(bot, ANN, invoice, "ch-x")
            _, answer = await admin_refund(bot, "ch-x", go=False)
            assert "not made" in answer
            assert await bot.pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'payment.refund'") == 0
            # A user's tap on an admin's button does nothing.
            data = next(d for d in button_data(bot.telegram.calls("sendMessage", chat_id=ADMIN)[-2]) if "refund:" in d)
            assert await bot.send(callback_update(bot.next_update_id(), ANN, data, message_id=1)) == 200
            assert await bot.pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'payment.refund'") == 0
            assert await bot.credits(ANN) == 100

    async def test_a_refund_then_a_cancel_mints_nothing(
        self, make_bot, fake_telegram: FakeTelegram, fake_kie: FakeKie
    ) -> None:
        """Buy 100, confirm a 60-credit video (it waits: KIE is down), the admin refunds the payment
        (40 taken back, 60 claimed from the video's refund), then the user cancels: the refund of 60
        goes to the shortfall, and the balance stays 0."""
        waiting = {"KIE_TIMEOUT": "1s", "PROVIDER_FAILURE_THRESHOLD": "3"}
        async with make_bot(ADMIN_IDS=str(ADMIN), STARTER_CREDITS="0", **waiting) as bot:
            fake_kie.outage("http5xx")
            invoice = await invoice_for(bot, ANN, 100)
            fake_telegram.add_charge("ch-c", ANN)
            await pay(bot, ANN, invoice, "ch-c")
            draft = await start_and_confirm(bot, ANN, text="a refund race")
            assert await bot.credits(ANN) == 40

            preview, _ = await admin_refund(bot, "ch-c")
            assert f"#{draft} (60)" in preview, preview
            assert "Taken back now: 40 credits" in preview and "of that, 60 credits will be kept" in preview
            await wait_until(lambda: bot.pool.fetchval("SELECT refunded_at IS NOT NULL FROM payments"))
            assert await bot.credits(ANN) == 0
            await wait_until(lambda: down(bot), timeout=60)

            row = await bot.generation(draft)
            cancel = CancelGeneration(generation=draft).pack()
            tap = callback_update(bot.next_update_id(), ANN, cancel, message_id=row["status_message_id"])
            assert await bot.send(tap) == 200
            assert (await bot.generation(draft))["status"] == "cancelled"
            assert await bot.credits(ANN) == 0, "credits never come back from a refunded purchase"
            status = bot.telegram.calls("editMessageText", chat_id=ANN)[-1].params["text"]
            assert "refunded in Stars" in status and "60 credits refunded" not in status, status
            assert await bot.ledger(ANN) == [
                ("purchase", 100),
                ("generation", -60),
                ("purchase_refund", -40),
                ("refund", 60),
                ("refund_claimed", -60),
            ]
            assert await bot.pool.fetchval("SELECT count(*) FROM ledger_mismatches") == 0
            fake_kie.recover()

    async def test_a_refund_made_by_telegram_takes_the_credits_back_once(self, bot: BotHarness) -> None:
        invoice = await invoice_for(bot, ANN, 100)
        await pay(bot, ANN, invoice, "ch-t")
        for _ in range(2):
            refunded = refunded_payment_update(
                bot.next_update_id(), ANN, payload=invoice["payload"], total_amount=50, charge_id="ch-t"
            )
            assert await bot.send(refunded) == 200
        assert await bot.ledger(ANN) == [("purchase", 100), ("purchase_refund", -100)]
        assert await bot.pool.fetchval("SELECT refunded_by FROM payments") == "telegram"

    async def test_paysupport_and_terms_answer(self, bot: BotHarness) -> None:
        assert "/paysupport" not in await command(bot, ANN, "/paysupport")
        assert "Stars" in await command(bot, ANN, "/terms")


def _texts(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [c.params.get("text", "") for c in telegram.calls("sendMessage", chat_id=chat_id)]
