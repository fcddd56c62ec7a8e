"""The Mini App's API over real HTTP, against the whole bot and the fakes: who is asking (valid,
forged, stale, missing init data), each user seeing only their own things, creating a video as the
chat's confirm does, buying through an invoice link, and the admins' screen."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import aiohttp

from core.growth import invite_payload
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import THUMBNAIL_JPEG, message_update, successful_payment_update
from tests.helpers import SECRETS, BotHarness
from tests.miniapp import app_user, sign_init_data, tma
from tests.test_e2e_generation import JPEG, render, start_and_confirm

TOKEN = SECRETS["BOT_TOKEN"]
ANN, BOB, ADMIN = 701, 702, 42


class Api:
    """The page's side of the API: requests signed as ``user_id``."""

    def __init__(self, bot: BotHarness, http: aiohttp.ClientSession, user_id: int, **user: Any) -> None:
        self.base = f"{bot.base_url}/app/api"
        self.http = http
        self.headers = tma(TOKEN, user_id, **user)

    async def call(self, method: str, path: str, **options: Any) -> tuple[int, Any]:
        headers = {**self.headers, **options.pop("headers", {})}
        async with self.http.request(method, self.base + path, headers=headers, **options) as response:
            body = await response.json() if response.content_type == "application/json" else await response.read()
            return response.status, body

    async def get(self, path: str, **options: Any) -> Any:
        status, body = await self.call("GET", path, **options)
        assert status == 200, (path, status, body)
        return body


def form(**fields: Any) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        if isinstance(value, bytes):
            data.add_field(name, value, filename="photo.jpg", content_type="image/jpeg")
        else:
            data.add_field(name, str(value))
    return data


async def test_who_is_asking(bot: BotHarness) -> None:
    async with aiohttp.ClientSession() as http:
        ann = Api(bot, http, ANN, first_name="Ann", language_code="ru")
        me = await ann.get("/me")
        assert (me["id"], me["first_name"], me["language"], me["balance"]) == (ANN, "Ann", "ru", 0)
        assert me["is_admin"] is False and me["notifications"] is True
        assert me["invite"]["link"] == f"https://t.me/{bot.telegram.bot_user['username']}?start={invite_payload(ANN)}"
        assert me["invite"]["joined"] == 0 and "t.me/share/url" in me["invite"]["share_url"]

        await bot.pool.execute("UPDATE users SET banned_at = now() WHERE id = $1", ANN)
        status, body = await ann.call("GET", "/me")
        assert status == 403 and body["error"] == "forbidden" and body["message"]

        stale = {"Authorization": "tma " + sign_init_data(TOKEN, app_user(ANN), int(time.time()) - 3601)}
        forged = {"Authorization": "tma " + sign_init_data("1:another-bot", app_user(ANN))}
        for headers in ({}, stale, forged, {"Authorization": "Bearer x"}):
            async with http.get(f"{bot.base_url}/app/api/me", headers=headers) as response:
                assert response.status == 401
                body = await response.json()
                assert body["error"] == "unauthorized" and body["message"]


async def test_each_user_sees_only_their_own(bot: BotHarness, fake_kie: FakeKie) -> None:
    generation = await start_and_confirm(bot, ANN, text="a cat surfing at dawn")
    await render(fake_kie)
    await bot.wait_for_generation(generation, "done")
    async with aiohttp.ClientSession() as http:
        ann, bob = Api(bot, http, ANN), Api(bot, http, BOB)
        videos = (await ann.get("/videos"))["videos"]
        assert [v["id"] for v in videos] == [generation]
        shown = videos[0]
        assert shown["state"] == "done" and shown["idea"] == "a cat surfing at dawn" and shown["price"] == 60
        assert shown["thumbnail"] == f"/app/api/videos/{generation}/thumbnail"
        status, thumbnail = await ann.call("GET", f"/videos/{generation}/thumbnail")
        assert (status, thumbnail) == (200, THUMBNAIL_JPEG)
        init_data = quote(ann.headers["Authorization"].removeprefix("tma "), safe="")
        by_query = f"{bot.base_url}{shown['thumbnail']}?auth={init_data}"
        async with http.get(by_query) as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "private, max-age=86400"
        assert [e["reason"] for e in (await ann.get("/ledger"))["entries"]] == ["generation", "starter"]

        assert (await bob.get("/videos"))["videos"] == []
        for path in (f"/videos/{generation}", f"/videos/{generation}/thumbnail"):
            assert (await bob.call("GET", path))[0] == 404
        assert (await bob.call("POST", f"/videos/{generation}/send"))[0] == 404
        assert (await bob.get("/ledger"))["entries"] == []
        assert (await bob.get("/me"))["invite"]["link"] != (await ann.get("/me"))["invite"]["link"]

        sent = len(bot.telegram.calls("sendVideo", chat_id=ANN))
        assert await ann.call("POST", f"/videos/{generation}/send") == (200, {"ok": True})
        assert len(bot.telegram.calls("sendVideo", chat_id=ANN)) == sent + 1


async def test_create_charges_as_the_chat_does(make_bot, fake_kie: FakeKie) -> None:
    async with make_bot(STARTER_CREDITS="100") as bot, aiohttp.ClientSession() as http:
        ann = Api(bot, http, ANN)
        first = await start_and_confirm(bot, ANN, text="first, from the chat")  # 60 of 100
        catalogue = await ann.get("/catalogue")
        status, body = await ann.call("POST", "/generations", data=form(idea="a dog", model="x"))
        assert status == 400 and body["error"] == "bad_request"
        model = catalogue["models"][0]
        status, body = await ann.call("POST", "/generations", data=form(idea="a dog", model=model["id"]))
        assert status == 409 and body["error"] == "busy"  # MAX_ACTIVE_PER_USER, as in the chat
        await render(fake_kie)
        await bot.wait_for_generation(first, "done")
        catalogue = await ann.get("/catalogue")
        assert catalogue["balance"] == 40
        model = next(m for m in catalogue["models"] if m["price"] > 40)
        status, body = await ann.call("POST", "/generations", data=form(idea="a dog", model=model["id"]))
        assert status == 402 and body["error"] == "balance"
        assert (body["balance"], body["price"]) == (40, model["price"])
        assert await bot.credits(ANN) == 40

        await bot.pool.execute("UPDATE users SET credits = 500 WHERE id = $1", ANN)
        status, body = await ann.call("POST", "/generations", data=form(idea="a dog", model=model["id"]))
        assert status == 201, body
        created = body["video"]
        assert body["balance"] == 500 - model["price"] and created["state"] == "rendering"
        assert await bot.ledger(ANN) == [("starter", 100), ("generation", -60), ("generation", -model["price"])]
        status_message = (await bot.generation(created["id"]))["status_message_id"]
        assert status_message in bot.telegram.messages(ANN)  # the chat shows its status too, as after a confirm
        await bot.wait_for_generation(created["id"], "rendering")
        progress = (await ann.get(f"/videos/{created['id']}"))["progress"]
        assert 0 <= progress["fraction"] <= 0.95 and progress["late"] is False
        await render(fake_kie, 2)
        await bot.wait_for_generation(created["id"], "done")
        assert (await ann.get(f"/videos/{created['id']}"))["state"] == "done"
        assert bot.telegram.calls("sendVideo", chat_id=ANN)[-1].params["caption"] == "🎬 a dog"

        # A photo goes to the user's own chat first; the draft keeps its file_id, as a chat photo's.
        status, body = await ann.call("POST", "/generations", data=form(idea="", model=model["id"], photo=JPEG))
        assert status == 201, body
        row = await bot.generation(body["video"]["id"])
        sent = bot.telegram.calls("sendPhoto", chat_id=ANN)
        assert len(sent) == 1 and row["photo_file_id"] and row["confirmed_at"] is not None


async def test_buy_a_package_or_a_plan(make_bot) -> None:
    async with make_bot(SUBSCRIPTION_PLANS="500:200") as bot, aiohttp.ClientSession() as http:
        ann = Api(bot, http, ANN)
        catalogue = await ann.get("/catalogue")
        package = catalogue["packages"][0]
        assert catalogue["plans"] == [{"id": "500:200", "credits": 500, "stars": 200}]
        assert catalogue["subscription"] is None
        status, body = await ann.call("POST", "/invoices", json={"kind": "package", "id": package["id"]})
        assert status == 200 and body["link"].startswith("https://t.me/$")
        invoice = bot.telegram.invoice_links[body["link"]]
        assert invoice["currency"] == "XTR" and invoice["prices"][0]["amount"] == package["stars"]
        assert "subscription_period" not in invoice
        assert (await ann.get("/me"))["balance"] == 0  # credits come only from the payment
        update = successful_payment_update(
            bot.next_update_id(), ANN, payload=invoice["payload"], total_amount=package["stars"], charge_id="ch-app"
        )
        assert await bot.send(update) == 200
        assert (await ann.get("/me"))["balance"] == package["credits"]

        status, body = await ann.call("POST", "/invoices", json={"kind": "plan", "id": "500:200"})
        assert status == 200
        assert int(bot.telegram.invoice_links[body["link"]]["subscription_period"]) == 2592000
        for junk in ({"kind": "package", "id": "1:1"}, {"kind": "plan", "id": "1:1"}):
            assert (await ann.call("POST", "/invoices", json=junk))[0] == 404
        assert (await ann.call("POST", "/invoices", json={"kind": "gift"}))[0] == 400


async def test_admin_screen_is_for_admins(make_bot) -> None:
    async with make_bot(ADMIN_IDS=str(ADMIN)) as bot, aiohttp.ClientSession() as http:
        ann, admin = Api(bot, http, ANN, first_name="Ann", username="ann"), Api(bot, http, ADMIN)
        await ann.get("/me")
        for path in ("/stats", f"/users/{ANN}"):
            status, body = await ann.call("GET", path)
            assert status == 403 and body["error"] == "forbidden"
        stats = await admin.get("/stats")
        assert len(stats["days"]) == 14 and stats["summary"]["users"]["total"] == 2
        assert (await admin.get(f"/users/{ANN}"))["id"] == ANN
        assert (await admin.get("/users/@ann"))["id"] == ANN
        assert (await admin.call("GET", "/users/@nobody"))[0] == 404
        assert (await admin.get("/me"))["is_admin"] is True


async def test_language_texts_and_erasure(bot: BotHarness) -> None:
    async with aiohttp.ClientSession() as http:
        ann = Api(bot, http, ANN)
        assert (await ann.get("/texts"))["lang"] == "en"
        assert await ann.call("POST", "/language", json={"language": "ru"}) == (200, {"language": "ru"})
        assert (await ann.get("/texts"))["lang"] == "ru"
        status, body = await ann.call("GET", "/nowhere")
        assert status == 404 and body["message"]
        assert (await ann.call("DELETE", "/me", json={"confirm": False}))[0] == 400
        assert await ann.call("DELETE", "/me", json={"confirm": True}) == (200, {"ok": True})
        assert await bot.pool.fetchval("SELECT erased_at IS NOT NULL FROM users WHERE id = $1", ANN)


async def test_actions_share_the_chat_budget(make_bot) -> None:
    """USER_MESSAGES_PER_MINUTE counts the chat's messages and the app's actions together, per whole
    minute (a minute may turn during the test: then the count starts again, once)."""
    async with make_bot(USER_MESSAGES_PER_MINUTE="3") as bot, aiohttp.ClientSession() as http:
        ann = Api(bot, http, ANN)
        assert await bot.send(message_update(bot.next_update_id(), ANN, text="/help")) == 200
        statuses = [(await ann.call("POST", "/language", json={"language": "en"}))[0] for _ in range(8)]
        assert 429 in statuses and set(statuses) == {200, 429}
        assert 2 <= statuses.index(429) <= 5
        async with http.post(ann.base + "/language", headers=ann.headers, json={"language": "en"}) as response:
            if response.status == 429:  # (unless the minute turned just now)
                assert (await response.json())["error"] == "rate_limited"
                assert 1 <= int(response.headers["Retry-After"]) <= 60
        await ann.get("/me")  # reads have their own budget
        # ... and the chat counts the app's actions too: after 3 of them this minute, a message is one too many.
        await bot.pool.execute("UPDATE app_rates SET actions = 3, window_start = now() WHERE user_id = $1", ANN)
        assert await bot.send(message_update(bot.next_update_id(), ANN, text="/balance")) == 200
        outcome = "SELECT outcome FROM telegram_updates WHERE user_id = $1 ORDER BY received_at DESC LIMIT 1"
        assert await bot.pool.fetchval(outcome, ANN) == "rate_limited"


async def test_app_command_and_menu_button(make_bot, bot_environment: dict[str, str]) -> None:
    """Telegram opens a web app only over https: then /app sends its button and the chat's menu
    button opens it; over plain http (the tests' webhook) /app says so and no menu button is set."""
    async with make_bot() as bot:
        assert await bot.send(message_update(bot.next_update_id(), ANN, text="/app")) == 200
        reply = bot.telegram.calls("sendMessage", chat_id=ANN)[-1].params
        assert "HTTPS" in reply["text"] and not reply.get("reply_markup")
        assert bot.telegram.menu_button == {}
    https = "https://reelsmith.example.com"
    async with make_bot(PUBLIC_BASE_URL=https) as bot:
        assert bot.telegram.menu_button[None] == {
            "type": "web_app",
            "text": "Videos",
            "web_app": {"url": f"{https}/app"},
        }
        bot.base_url = bot_environment["PUBLIC_BASE_URL"]  # the webhook itself is still reached locally
        assert await bot.send(message_update(bot.next_update_id(), BOB, text="/app", language_code="ru")) == 200
        reply = bot.telegram.calls("sendMessage", chat_id=BOB)[-1].params
        button = reply["reply_markup"]["inline_keyboard"][0][0]
        assert button == {"text": "Открыть приложение", "web_app": {"url": f"{https}/app"}}


async def test_the_page_and_its_files(bot: BotHarness) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{bot.base_url}/app") as response:
            assert response.status == 200 and response.content_type == "text/html"
        async with http.get(f"{bot.base_url}/app/static/../../bot.py") as response:
            assert response.status in (400, 403, 404)
