"""Sharing through inline mode (issue 16, part 4), through the real webhook against the fake Telegram:
the Share button under a delivered video, and the inline queries it opens, which offer each user their
own delivered videos only, by file_id, a page at a time."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from core.bot.sharing import _Shared, pattern_of, read_offset
from core.growth import DEFAULT_PRESETS, invite_link, parse_presets
from core.runtime.preflight import run_checks
from core.settings import Settings
from db.generations import Delivered
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram, inline_query_update, message_update
from tests.helpers import BotHarness, button_data
from tests.test_e2e_generation import ANN, render, start_and_confirm, videos_sent

BOB = 778
BOT_NAME = "reelsmith_bot"  # the fake's getMe


async def delivered(bot: BotHarness, user_id: int, idea: str, *, minutes_ago: int = 0) -> tuple[int, str]:
    """A video delivered to ``user_id`` some minutes ago, held by (the fake) Telegram: its id and file_id."""
    await bot.pool.execute("INSERT INTO users (id, credits) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING", user_id)
    file_id = bot.telegram.add_file(b"mp4", file_id=f"vid-{user_id}-{secrets.token_hex(4)}")
    finished = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    generation_id = await bot.pool.fetchval(
        """INSERT INTO generations (user_id, chat_id, status, model, price, idea, callback_token, provider,
                                    video_file_id, confirmed_at, finished_at)
           VALUES ($1, $1, 'done', 'veo3_fast', 60, $2, $3, 'kie', $4, $5, $5) RETURNING id""",
        *(user_id, idea, secrets.token_urlsafe(12), file_id, finished),
    )
    return generation_id, file_id


async def ask(bot: BotHarness, user_id: int, query: str = "", offset: str = "") -> dict[str, Any]:
    """Type ``@bot query`` as ``user_id``; the bot's answer to it, as the fake Telegram accepted it."""
    update = inline_query_update(bot.next_update_id(), user_id, query=query, offset=offset)
    assert await bot.send(update) == 200
    return bot.telegram.inline_answers[update["inline_query"]["id"]]


def file_ids(answer: dict[str, Any]) -> list[str]:
    return [result["video_file_id"] for result in answer["results"]]


class TestShareButton:
    async def test_a_delivered_video_has_a_share_button_and_is_offered_by_its_file_id(
        self, bot: BotHarness, fake_kie: FakeKie, fake_telegram: FakeTelegram
    ) -> None:
        draft = await start_and_confirm(bot, ANN, text="A  paper boat sailing down a rainy street in the evening")
        await render(fake_kie)
        (video,) = await videos_sent(fake_telegram, ANN)
        done = await bot.wait_for_generation(draft, "done")

        regenerate, share = video.params["reply_markup"]["inline_keyboard"][0]
        assert regenerate["callback_data"] == f"again:{draft}" and share["text"] == "📤 Share"
        assert share["switch_inline_query"] == "A paper boat sailing down a rainy street in the"
        # What the Share button types finds this very video, as Telegram holds it.
        answer = await ask(bot, ANN, share["switch_inline_query"])
        assert file_ids(answer) == [done["video_file_id"]]
        (result,) = answer["results"]
        assert result["id"] == f"g{draft}" and result["type"] == "video"
        assert result["title"] == "A paper boat sailing down a rainy street in the evening"
        assert result["caption"].startswith("🎬 A  paper boat") and f"@{BOT_NAME}" in result["caption"]
        ((make_your_own,),) = result["reply_markup"]["inline_keyboard"]
        assert make_your_own == {"text": "✨ Make your own", "url": invite_link(BOT_NAME, ANN)}

    async def test_no_share_button_while_inline_mode_is_off(
        self, make_bot, fake_kie: FakeKie, fake_telegram: FakeTelegram, bot_environment: dict[str, str]
    ) -> None:
        fake_telegram.inline_mode = False  # never /setinline in @BotFather: the button would open nothing
        async with make_bot() as bot:
            draft = await start_and_confirm(bot, ANN, text="a quiet harbour")
            await render(fake_kie)
            (video,) = await videos_sent(fake_telegram, ANN)
            assert button_data(video) == [f"again:{draft}"]
        # The preflight says so, and still passes: sharing is optional.
        settings = Settings.from_env(bot_environment)
        checks = {c.name: c for c in await run_checks(settings, settings.database.dsn or "")}
        assert checks["Telegram"].ok and "inline mode off" in checks["Telegram"].detail
        assert "/setinline" in checks["Telegram"].detail


class TestInlineQueries:
    async def test_each_user_sees_only_their_own_videos(self, bot: BotHarness) -> None:
        _, ann_old = await delivered(bot, ANN, "a red fox in the snow", minutes_ago=30)
        _, ann_new = await delivered(bot, ANN, "a Fox on a skateboard", minutes_ago=5)
        _, bob_fox = await delivered(bot, BOB, "a fox made of glass", minutes_ago=1)

        ann = await ask(bot, ANN)
        assert file_ids(ann) == [ann_new, ann_old], "newest first, none of Bob's"
        assert ann["is_personal"] == "true" and ann["cache_time"] == "10"
        assert all(
            r["reply_markup"]["inline_keyboard"][0][0]["url"] == invite_link(BOT_NAME, ANN) for r in ann["results"]
        )
        bob = await ask(bot, BOB, "FOX")
        assert file_ids(bob) == [bob_fox]
        assert bob["results"][0]["reply_markup"]["inline_keyboard"][0][0]["url"] == invite_link(BOT_NAME, BOB)
        # Bob typing the words of Ann's ideas finds nothing of hers.
        assert file_ids(await ask(bot, BOB, "skateboard")) == []
        assert file_ids(await ask(bot, ANN, "fox   ON a")) == [ann_new], "any case, the words in order"
        assert file_ids(await ask(bot, ANN, "%")) == file_ids(await ask(bot, ANN, "_")) == [], "no wildcards"

    def test_a_result_without_words_and_in_russian(self) -> None:
        """A photo alone (or an idea cleared by retention): titled by its day; the sharer's language."""
        when = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
        shared = _Shared("ru", BOT_NAME, parse_presets(DEFAULT_PRESETS), invite_link(BOT_NAME, ANN))
        result = shared.result(Delivered(5, "", when, "vlog", "vid-5"))
        assert (result.title, result.description) == ("Видео от 7 дек.", "Создано 7 дек. · Влог")
        assert result.caption == f"🎬 📷\n\nСделано с помощью ИИ в @{BOT_NAME}"
        assert result.reply_markup is not None
        assert result.reply_markup.inline_keyboard[0][0].text == "✨ Сделать своё"
        assert [read_offset(o) for o in ("", "50", "abc", "-1", "1e3", "100001", "٣")] == [0, 50, 0, 0, 0, 0, 0]

    def test_the_pattern_is_the_words_in_order_with_wildcards_escaped(self) -> None:
        assert pattern_of("  a  fox\n") == "%a%fox%"
        assert pattern_of("100% a_b c\\d") == "%100\\%%a\\_b%c\\\\d%"
        assert pattern_of("   ") == ""

    async def test_more_than_a_page_pages_on(self, bot: BotHarness) -> None:
        made = [(await delivered(bot, ANN, f"idea number {n}", minutes_ago=n))[1] for n in range(120)]

        first = await ask(bot, ANN)
        second = await ask(bot, ANN, offset=first["next_offset"])
        third = await ask(bot, ANN, offset=second["next_offset"])
        assert (len(first["results"]), first["next_offset"]) == (50, "50")
        assert (len(second["results"]), second["next_offset"]) == (50, "100")
        assert (len(third["results"]), third.get("next_offset", "")) == (20, "")
        assert file_ids(first) + file_ids(second) + file_ids(third) == made, "every video once, newest first"
        # An offset the bot never gave starts from the top instead of failing.
        assert file_ids(await ask(bot, ANN, offset="-5")) == made[:50]
        assert file_ids(await ask(bot, ANN, offset="9" * 40)) == made[:50]

    async def test_nothing_to_share_offers_to_make_a_video(self, bot: BotHarness) -> None:
        await delivered(bot, BOB, "bob's own video")
        answer = await ask(bot, ANN)
        assert answer["results"] == []
        assert answer["button"] == {"text": "🎬 No videos to share yet: make one", "start_parameter": "inline"}
        assert "button" not in await ask(bot, BOB), "none while there are videos"
        words = await ask(bot, BOB, "nothing like it")
        assert words["results"] == [] and words["button"]["start_parameter"] == "inline"

    async def test_a_stranger_is_offered_the_bot_and_gets_no_row_so_a_later_start_is_first_contact(
        self, bot: BotHarness
    ) -> None:
        """Tapping "via @bot" on a shared video types @bot: that inline query must not make the user known,
        or the invitation in the /start that follows would find an existing user."""
        answer = await ask(bot, 4242)
        assert answer["results"] == [] and answer["button"]["start_parameter"] == "inline"
        assert await bot.pool.fetchval("SELECT count(*) FROM users WHERE id = 4242") == 0
        assert await bot.send(message_update(bot.next_update_id(), 4242, text="/start")) == 200
        assert await bot.ledger(4242) == [("starter", 100)], "a new user at /start"

    async def test_an_inline_query_does_not_unblock(self, bot: BotHarness) -> None:
        """Inline mode works in other chats while the bot is blocked in the private one."""
        await delivered(bot, ANN, "still blocked")
        await bot.pool.execute("UPDATE users SET blocked_at = now() WHERE id = $1", ANN)
        assert len((await ask(bot, ANN))["results"]) == 1
        assert await bot.pool.fetchval("SELECT blocked_at IS NOT NULL FROM users WHERE id = $1", ANN)

    async def test_videos_sent_as_links_or_erased_are_not_offered(self, bot: BotHarness) -> None:
        kept, file_id = await delivered(bot, ANN, "kept")
        link_only, _ = await delivered(bot, ANN, "too large for Telegram")
        await bot.pool.execute("UPDATE generations SET video_file_id = NULL WHERE id = $1", link_only)
        assert file_ids(await ask(bot, ANN)) == [file_id]
        assert kept != link_only

    async def test_redelivered_query_answered_once_and_a_banned_user_gets_nothing(self, bot: BotHarness) -> None:
        await delivered(bot, ANN, "once")
        update = inline_query_update(bot.next_update_id(), ANN, query="once")
        assert await bot.send(update) == 200 and await bot.send(update) == 200
        assert len(bot.telegram.calls("answerInlineQuery")) == 1, "a redelivery is recognised by its update_id"
        await bot.pool.execute("UPDATE users SET banned_at = now() WHERE id = $1", ANN)
        banned = inline_query_update(bot.next_update_id(), ANN)
        assert await bot.send(banned) == 200
        assert banned["inline_query"]["id"] not in bot.telegram.inline_answers

    async def test_a_flooding_user_is_not_answered_and_queries_do_not_count_as_messages(
        self, make_bot, fake_telegram: FakeTelegram
    ) -> None:
        async with make_bot(USER_MESSAGES_PER_MINUTE="3") as bot:
            await delivered(bot, ANN, "typed slowly")
            for _ in range(5):  # one query per pause in typing: never the messages' budget
                await ask(bot, ANN, "typed")
            assert await bot.send(message_update(bot.next_update_id(), ANN, text="/balance")) == 200
            assert "You have" in fake_telegram.calls("sendMessage", chat_id=ANN)[-1].params["text"]
            for _ in range(3):
                await bot.send(message_update(bot.next_update_id(), ANN, text="/balance"))
            flooded = inline_query_update(bot.next_update_id(), ANN)
            assert await bot.send(flooded) == 200
            assert flooded["inline_query"]["id"] not in fake_telegram.inline_answers
