"""The chat side through the real webhook: commands, limits, exactly-once updates, money rules."""

from __future__ import annotations

import asyncio

from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, callback_update, message_update, my_chat_member_update, photo_sizes
from tests.helpers import BotHarness, DatabaseProxy, button_data, wait_until
from tests.test_e2e_generation import ANN, propose, render, start_and_confirm, videos_sent

BOB = 777


def texts_to(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [c.params.get("text", "") for c in telegram.calls("sendMessage", chat_id=chat_id)]


async def say(bot: BotHarness, user_id: int, text: str | None = None, **message: object) -> str:
    """Send a message; return the bot's (last) text reply to it."""
    before = len(texts_to(bot.telegram, user_id))
    assert await bot.send(message_update(bot.next_update_id(), user_id, text=text, **message)) == 200
    replies = texts_to(bot.telegram, user_id)[before:]
    assert replies, f"no reply to {text or message!r}"
    return replies[-1]


async def tap(bot: BotHarness, user_id: int, data: str, message_id: int) -> str | None:
    """Press a button; return the alert text shown, if any."""
    before = len(bot.telegram.calls("answerCallbackQuery"))
    assert await bot.send(callback_update(bot.next_update_id(), user_id, data, message_id=message_id)) == 200
    answers = bot.telegram.calls("answerCallbackQuery")[before:]
    assert len(answers) == 1, "every button press is answered, once"
    return answers[0].params.get("text")


class TestWebhook:
    async def test_set_on_start_with_secret_and_update_types(
        self, bot: BotHarness, fake_telegram: FakeTelegram
    ) -> None:
        webhook = fake_telegram.webhook
        assert webhook is not None
        assert webhook["url"] == f"{bot.base_url}/telegram/webhook"
        assert webhook["secret_token"] == bot.frontend.secret
        assert webhook["drop_pending_updates"] is False
        assert {"message", "callback_query", "my_chat_member"} <= set(webhook["allowed_updates"])

    async def test_refuses_requests_without_the_secret_and_garbage(self, bot: BotHarness) -> None:
        update = message_update(bot.next_update_id(), ANN, text="/start")
        assert await bot.post("/telegram/webhook", update) == 401
        assert await bot.send(update, secret="wrong-secret") == 401
        assert await bot.send([1, 2, 3]) == 400
        assert await bot.send({"hello": "world"}) == 400
        async with bot._http.post(
            f"{bot.base_url}/telegram/webhook",
            data=b"\xff{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": bot.frontend.secret},
        ) as response:
            assert response.status == 400
        assert bot.telegram.calls("sendMessage") == []
        assert await bot.pool.fetchval("SELECT count(*) FROM telegram_updates") == 0

    async def test_a_redelivered_update_is_applied_once(self, bot: BotHarness) -> None:
        update = message_update(bot.next_update_id(), ANN, text="/start")
        assert await bot.send(update) == 200
        assert await bot.send(update) == 200, "acknowledged, so Telegram stops resending it"
        assert len(texts_to(bot.telegram, ANN)) == 1
        assert await bot.ledger(ANN) == [("starter", 100)]

    async def test_nothing_is_lost_while_the_database_is_down(
        self, make_bot, bot_environment: dict[str, str], fake_telegram: FakeTelegram
    ) -> None:
        """503 while PostgreSQL is unreachable (Telegram redelivers); once it is back, applied once."""
        proxy = await DatabaseProxy(bot_environment["DATABASE_URL"]).start()
        try:
            async with make_bot(DATABASE_URL=proxy.dsn, QUEUE_CONSUMERS="1") as bot:
                update = message_update(bot.next_update_id(), ANN, text="/start")
                await proxy.cut()
                assert await bot.send(update) == 503
                await proxy.restore()
                assert await bot.send(update) == 200
                assert await bot.send(update) == 200
                assert len(texts_to(fake_telegram, ANN)) == 1
                assert await bot.ledger(ANN) == [("starter", 100)]
        finally:
            await proxy.cut()


class TestCommands:
    async def test_start_grants_starter_credits_once(self, bot: BotHarness) -> None:
        first = await say(bot, ANN, "/start")
        again = await say(bot, ANN, "/start")
        assert "You have 100 credits" in first and "100 free credits" in first
        assert "You have 100 credits" in again and "free credits" not in again
        assert await bot.ledger(ANN) == [("starter", 100)]

    async def test_help_balance_and_unknown_commands(self, bot: BotHarness) -> None:
        assert "/balance" in await say(bot, ANN, "/help")
        assert await say(bot, ANN, "/balance") == "💳 You have 0 credits."
        assert "don't know that command" in await say(bot, ANN, "/dance")

    async def test_commands_in_a_photo_caption(self, bot: BotHarness) -> None:
        """A caption is a command when it names one (as aiogram reads captions); a caption that only
        starts with "/" is the photo's idea, never the unknown-command reply."""
        assert "/balance" in await say(bot, ANN, photo=photo_sizes("p1", 1000), caption="/help")
        reply = await say(bot, ANN, photo=photo_sizes("p2", 1000), caption="/dance in the rain")
        assert "don't know that command" not in reply
        assert await bot.pool.fetchval("SELECT idea FROM generations WHERE user_id = $1", ANN) == "/dance in the rain"

    async def test_cancel_drops_the_open_proposal(self, bot: BotHarness) -> None:
        await say(bot, ANN, "/start")
        draft = await propose(bot, ANN, text="an idea I regret")
        row = await bot.generation(draft)
        assert await say(bot, ANN, "/cancel") == "Okay, dropped."
        assert (await bot.generation(draft))["status"] == "discarded"
        assert "no longer open" in await tap(bot, ANN, f"go:{draft}", row["status_message_id"])
        assert await bot.credits(ANN) == 100
        assert "nothing to cancel" in await say(bot, ANN, "/cancel")

    async def test_proposal_state_survives_a_restart(self, make_bot) -> None:
        """The conversation state lives in PostgreSQL: a new process knows the open proposal."""
        async with make_bot() as bot:
            await say(bot, ANN, "/start")
            draft = await propose(bot, ANN, text="an idea across restarts")
        async with make_bot() as bot:
            assert await say(bot, ANN, "/cancel") == "Okay, dropped."
            assert (await bot.generation(draft))["status"] == "discarded"


class TestIdeas:
    async def test_proposal_shows_model_price_and_choices(self, bot: BotHarness) -> None:
        await say(bot, ANN, "/start")
        draft = await propose(bot, ANN, text="a whale in the clouds")
        proposal = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
        assert (
            "Model: Veo 3.1 Fast" in proposal.params["text"]
            and "Price: 60 credits (you have 100)" in proposal.params["text"]
        )
        assert button_data(proposal) == [
            f"go:{draft}",
            f"model:{draft}:veo3_lite",
            f"model:{draft}:veo3",
            f"model:{draft}:kling-3.0-std",
            *(f"style:{draft}:{preset}" for preset in ("cinematic", "anime", "product-ad", "vlog", "dreamy")),
            f"drop:{draft}",
        ]
        row = await bot.generation(draft)
        assert (row["status"], row["price"], row["idea"]) == ("draft", 60, "a whale in the clouds")
        assert "Model changed" in await tap(bot, ANN, f"model:{draft}:veo3_lite", row["status_message_id"])
        edited = bot.telegram.messages(ANN)[row["status_message_id"]]
        assert "Price: 30 credits" in edited["text"]
        assert (await bot.generation(draft))["price"] == 30

    async def test_wrong_input_gets_a_helpful_reply(self, make_bot, fake_telegram: FakeTelegram) -> None:
        async with make_bot(IDEA_MAX_LENGTH="40") as bot:
            assert "keep it under 40" in await say(bot, ANN, "x" * 41)
            document = {"file_id": "doc1", "file_unique_id": "udoc1", "file_name": "idea.pdf", "file_size": 100}
            assert "I can't use that" in await say(bot, ANN, document=document)
            sticker = {
                "file_id": "st1",
                "file_unique_id": "ust1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
            assert "I can't use that" in await say(bot, ANN, sticker=sticker)
            video = {"file_id": "v1", "file_unique_id": "uv1", "width": 720, "height": 1280, "duration": 5}
            assert "I can't use that" in await say(bot, ANN, video=video)
            huge = photo_sizes("big-photo", 12 * 1024 * 1024)
            assert "That photo is 12 MB; the limit is 10 MB" in await say(bot, ANN, photo=huge)
            assert await bot.pool.fetchval("SELECT count(*) FROM generations") == 0

    async def test_message_rate_limit_answers_once(self, make_bot) -> None:
        async with make_bot(USER_MESSAGES_PER_MINUTE="3") as bot:
            for n in range(6):
                assert await bot.send(message_update(bot.next_update_id(), ANN, text=f"/balance {n}")) == 200
            replies = texts_to(bot.telegram, ANN)
            outcomes = await bot.pool.fetch("SELECT outcome, count(*) FROM telegram_updates GROUP BY 1 ORDER BY 1")
        assert replies[:3] == ["💳 You have 0 credits."] * 3
        assert replies[3:] == ["⏳ You are sending messages too fast. Wait a minute, then try again."]
        assert [(r["outcome"], r["count"]) for r in outcomes] == [("handled", 3), ("rate_limited", 3)]


class TestMoney:
    async def test_double_tap_charges_once(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        await say(bot, ANN, "/start")
        draft = await propose(bot, ANN, text="a hummingbird in slow motion")
        message_id = (await bot.generation(draft))["status_message_id"]
        taps = [callback_update(bot.next_update_id(), ANN, f"go:{draft}", message_id=message_id) for _ in range(2)]
        assert await asyncio.gather(*(bot.send(t) for t in taps)) == [200, 200]
        answers = sorted(c.params.get("text", "") for c in bot.telegram.calls("answerCallbackQuery"))
        assert answers == ["", "This video is already on its way."]
        assert "already on its way" in await tap(bot, ANN, f"go:{draft}", message_id), "a third tap, later"
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60)]
        assert await bot.pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'generation.prompt'") == 1
        await fake_kie.wait_for(lambda fake: fake.tasks)
        assert len(fake_kie.tasks) == 1

    async def test_not_enough_credits(self, make_bot) -> None:
        async with make_bot(STARTER_CREDITS="10") as bot:
            await say(bot, ANN, "/start")
            draft = await propose(bot, ANN, text="an expensive dream")
            alert = await tap(bot, ANN, f"go:{draft}", (await bot.generation(draft))["status_message_id"])
            assert alert is None, "answered with a message that offers credits instead"
            offer = bot.telegram.calls("sendMessage", chat_id=ANN)[-1]
            assert offer.params["text"].startswith("This video costs 60 credits and you have 10.")
            assert button_data(offer) == ["buy:100:50", "buy:300:140", "buy:1000:400"]
            assert (await bot.generation(draft))["status"] == "draft"
            assert await bot.ledger(ANN) == [("starter", 10)]

    async def test_one_unfinished_generation_per_user(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        await say(bot, ANN, "/start")
        await bot.pool.execute("UPDATE users SET credits = 1000 WHERE id = $1", ANN)  # a rich user
        await start_and_confirm(bot, ANN, text="the first one")
        second = await propose(bot, ANN, text="the second one")
        alert = await tap(bot, ANN, f"go:{second}", (await bot.generation(second))["status_message_id"])
        assert alert == "You already have 1 video in progress; wait for it to finish first."
        assert (await bot.generation(second))["status"] == "draft"
        await render(fake_kie)
        await videos_sent(bot.telegram, ANN)
        await wait_until(lambda: _no_unfinished(bot, ANN))
        assert await tap(bot, ANN, f"go:{second}", (await bot.generation(second))["status_message_id"]) is None


async def _no_unfinished(bot: BotHarness, user_id: int) -> bool:
    return await bot.pool.fetchval(
        "SELECT count(*) = 0 FROM generations"
        " WHERE user_id = $1 AND status NOT IN ('draft', 'discarded', 'done', 'failed')",
        user_id,
    )


class TestTelegramTrouble:
    async def test_a_user_who_blocked_the_bot_is_refunded_and_left_alone(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        draft = await start_and_confirm(bot, ANN, text="a gift nobody will open")
        await fake_kie.wait_for(lambda fake: fake.tasks)
        fake_telegram.block(ANN)
        calls_before = len(fake_telegram.calls(chat_id=ANN))
        await render(fake_kie)
        row = await bot.wait_for_generation(draft, "failed")
        assert row["error"] == "undeliverable: the user blocked the bot"
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("refund", 60)]
        assert await bot.pool.fetchval("SELECT blocked_at IS NOT NULL FROM users WHERE id = $1", ANN)
        tried = fake_telegram.calls(chat_id=ANN)[calls_before:]
        assert len(tried) <= 2, "one refused call marks the user blocked; nothing more is sent"
        assert fake_telegram.calls("sendVideo") == []

    async def test_block_and_unblock_updates(self, bot: BotHarness) -> None:
        await say(bot, ANN, "/start")
        assert await bot.send(my_chat_member_update(bot.next_update_id(), ANN, blocked=True)) == 200
        assert await bot.pool.fetchval("SELECT blocked_at IS NOT NULL FROM users WHERE id = $1", ANN)
        assert await bot.send(my_chat_member_update(bot.next_update_id(), ANN, blocked=False)) == 200
        assert not await bot.pool.fetchval("SELECT blocked_at IS NOT NULL FROM users WHERE id = $1", ANN)

    async def test_telegram_429_waits_and_retries(self, bot: BotHarness, fake_telegram: FakeTelegram) -> None:
        fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        assert "You have 100 credits" in await say(bot, ANN, "/start")
        attempts = fake_telegram.calls("sendMessage", chat_id=ANN)
        assert len(attempts) == 2
        assert attempts[1].at - attempts[0].at >= 1.0, "waited retry_after before trying again"


class TestHistory:
    async def test_history_resends_by_file_id_and_regenerate_proposes_again(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        assert await say(bot, ANN, "/history") == "No videos yet. Send me an idea!"
        draft = await start_and_confirm(bot, ANN, text="a dragon made of paper")
        await render(fake_kie)
        (video,) = await videos_sent(fake_telegram, ANN)
        done = await bot.wait_for_generation(draft, "done")
        await say(bot, ANN, "/history")
        listing = fake_telegram.calls("sendMessage", chat_id=ANN)[-1]
        assert button_data(listing) == [f"send:{draft}"]
        assert "a dragon made of paper" in str(listing.params["reply_markup"])
        await tap(bot, ANN, f"send:{draft}", listing_message_id(fake_telegram, ANN))
        resent = fake_telegram.calls("sendVideo", chat_id=ANN)[-1]
        assert resent.params["video"] == done["video_file_id"] and resent.files == {}, "by file_id, no upload"
        assert "no longer available" in await say_after_tap(bot, ANN, f"send:{draft + 1000}")
        await tap(bot, ANN, f"again:{draft}", listing_message_id(fake_telegram, ANN))
        proposal = fake_telegram.calls("sendMessage", chat_id=ANN)[-1]
        assert "a dragon made of paper" in proposal.params["text"]
        new_draft = await bot.pool.fetchval("SELECT max(id) FROM generations WHERE status = 'draft'")
        assert new_draft > draft and f"go:{new_draft}" in button_data(proposal)
        assert video.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"again:{draft}"


def listing_message_id(telegram: FakeTelegram, chat_id: int) -> int:
    return max(telegram.messages(chat_id))


async def say_after_tap(bot: BotHarness, user_id: int, data: str) -> str:
    before = len(texts_to(bot.telegram, user_id))
    await tap(bot, user_id, data, listing_message_id(bot.telegram, user_id))
    return texts_to(bot.telegram, user_id)[before]


class TestPolling:
    async def test_long_polling_when_there_is_no_public_url(self, make_bot, fake_telegram: FakeTelegram) -> None:
        """Without PUBLIC_BASE_URL the bot removes any webhook and polls; an update counts as
        received (offset moved past it) only after it was applied."""
        async with make_bot(PUBLIC_BASE_URL="") as bot:
            assert bot.app.settings.telegram.webhook_mode is False
            fake_telegram.push_update(message_update(bot.next_update_id(), ANN, text="/start"))
            await fake_telegram.wait_for(lambda calls: [c for c in calls if c.method == "sendMessage"])
            second = bot.next_update_id()
            fake_telegram.push_update(message_update(second, ANN, text="/balance"))
            await fake_telegram.wait_for(lambda calls: len([c for c in calls if c.method == "sendMessage"]) == 2)
            assert texts_to(fake_telegram, ANN)[1] == "💳 You have 100 credits."
            # The next poll confirms the second update: only now would Telegram forget it.
            await fake_telegram.wait_for(
                lambda calls: [
                    c for c in calls if c.method == "getUpdates" and c.params.get("offset") == str(second + 1)
                ]
            )
        assert fake_telegram.webhook is None
        assert fake_telegram.calls("deleteWebhook")[0].params.get("drop_pending_updates") in (None, "false")
        assert fake_telegram.calls("getUpdates")[0].params.get("offset") is None


class TestStatusMessage:
    async def test_an_identical_edit_is_not_an_error(self, bot: BotHarness, fake_kie: FakeKie) -> None:
        from core.pipeline.status import show
        from db import generations as db_generations

        draft = await start_and_confirm(bot, ANN, text="a still life")
        await bot.wait_for_generation(draft, "rendering")
        # The status message says "rendering" just after the row does: count edits from then on.
        await bot.telegram.wait_for(
            lambda calls: any(c.method == "editMessageText" and "Rendering" in c.params.get("text", "") for c in calls)
        )
        generation = await db_generations.get(bot.pool, draft)
        before = len(bot.telegram.calls("editMessageText"))
        await show(bot.app, generation, "prompting", force=True)
        await show(bot.app, generation, "prompting", force=True)  # Telegram: "message is not modified"
        assert len(bot.telegram.calls("editMessageText")) == before + 2
        assert bot.telegram.messages(ANN)[generation.status_message_id]["text"] == "✍️ Writing the prompt…"
        await show(bot.app, generation, "rendering", elapsed_s=75)  # a new stage always shows
        await show(bot.app, generation, "rendering", elapsed_s=80)  # the same stage, just edited: skipped
        assert len(bot.telegram.calls("editMessageText")) == before + 3

    async def test_a_deleted_proposal_is_confirmed_into_a_new_status_message(
        self, bot: BotHarness, fake_kie: FakeKie
    ) -> None:
        """Telegram will not edit a deleted message ("message to edit not found"): the status goes out
        as a new message, and it is the one the pipeline edits from then on."""
        from core.pipeline.status import show
        from db import generations as db_generations

        await say(bot, ANN, "/start")
        (welcome,) = bot.telegram.messages(ANN)
        draft = await propose(bot, ANN, text="a lighthouse at dusk")
        proposal = (await bot.generation(draft))["status_message_id"]
        await bot.app.bot.delete_message(ANN, proposal)  # the user deleted it
        assert await tap(bot, ANN, f"go:{draft}", proposal) is None
        await wait_until(lambda: bot.telegram.messages(ANN).keys() - {welcome})
        (status,) = bot.telegram.messages(ANN).keys() - {welcome}
        assert status != proposal
        query = "SELECT status_message_id = $2 FROM generations WHERE id = $1"
        await wait_until(lambda: bot.pool.fetchval(query, draft, status))
        generation = await db_generations.get(bot.pool, draft)
        assert generation is not None
        await show(bot.app, generation, "prompting", force=True)
        edits = [int(c.params["message_id"]) for c in bot.telegram.calls("editMessageText")]
        assert status in edits and bot.telegram.messages(ANN).keys() == {welcome, status}


class TestHandlerFailure:
    async def test_a_refused_reply_gets_an_apology_after_the_commit(
        self, bot: BotHarness, fake_telegram: FakeTelegram
    ) -> None:
        """Replies go out after the update committed: Telegram refusing the proposal cannot undo the
        draft; the user is told something went wrong and the update is applied once."""
        await say(bot, ANN, "/start")
        fake_telegram.fail_next("sendMessage", 400, "Bad Request: can't parse entities", chat_id=ANN)
        update = message_update(bot.next_update_id(), ANN, text="an idea Telegram chokes on")
        assert await bot.send(update) == 200
        assert texts_to(fake_telegram, ANN)[-1] == "⚠️ Something went wrong on our side. Please try again."
        row = await bot.pool.fetchrow(
            "SELECT outcome, error FROM telegram_updates WHERE update_id = $1", update["update_id"]
        )
        assert row["outcome"] == "handled"
        assert await bot.send(update) == 200, "a redelivery is not applied again"
        assert await bot.pool.fetchval("SELECT count(*) FROM generations") == 1
        assert len(texts_to(fake_telegram, ANN)) == 3
