"""KIE's quirks, handled once in core/providers/kie.py: parsing, request shapes, what its errors mean
for us; and the provider against the fake KIE over real HTTP."""

from __future__ import annotations

import json

import aiohttp
import pytest

from core.catalogue import VideoModel, parse_models
from core.pipeline.verdict import poll_delay
from core.providers.base import (
    AccountProblem,
    ContentRefused,
    FinalFailure,
    ModelUnavailable,
    ProviderError,
    Retryable,
    Unanswered,
    WorthAnotherTry,
)
from core.providers.kie import (
    MARKET_CREATE,
    VEO_CREATE,
    VEO_RECORD,
    KieError,
    KieProvider,
    create_request,
    neutral,
    parse_market_record,
    parse_result_urls,
    parse_veo_record,
    signature,
    signature_valid,
    unwrap,
    verdict,
)
from tests.fakes.kie import NO_AUDIO, PAUSED, FakeKie, Outcome, contract_problem, load_contracts

VEO, KLING, SORA, KLING3 = (
    VideoModel("veo3_fast", "veo", 60),
    VideoModel("kling-2.6", "kling", 55),
    VideoModel("sora-2", "sora", 30),
    VideoModel("kling-3.0-pro", "kling3", 120),
)
SEEDANCE = VideoModel("seedance-2-mini", "seedance", 45, per_second=9, durations=(5, 10))


class TestParsing:
    @pytest.mark.parametrize(
        "value",
        [
            ["https://x/v.mp4"],
            '["https://x/v.mp4"]',
            "[https://x/v.mp4]",
            '{"resultUrls": ["https://x/v.mp4"]}',
            "https://x/v.mp4",
        ],
    )
    def test_result_urls_in_every_shape(self, value: object) -> None:
        assert parse_result_urls(value) == ["https://x/v.mp4"]

    def test_no_urls(self) -> None:
        assert parse_result_urls(None) == [] and parse_result_urls("") == [] and parse_result_urls([]) == []

    def test_veo_record(self) -> None:
        assert parse_veo_record({"successFlag": 0}).finished is False
        done = parse_veo_record({"successFlag": 1, "response": {"resultUrls": '["https://x/a.mp4"]'}})
        assert (done.succeeded, done.video_url) == (True, "https://x/a.mp4")
        for flag in (2, 3):
            failed = parse_veo_record({"successFlag": flag, "errorCode": 400, "errorMessage": "flagged"})
            assert (failed.finished, failed.succeeded) == (True, False)
            assert isinstance(failed.failure, ContentRefused) and "flagged" in failed.failure.detail
        # Flag 3 with errorCode 500 is KIE's final verdict, not a passing trouble: never retried.
        final = parse_veo_record({"successFlag": 3, "errorCode": 500, "errorMessage": "upstream failed"})
        assert final.finished and isinstance(final.failure, FinalFailure)
        empty = parse_veo_record({"successFlag": 1, "response": {"resultUrls": []}})
        assert empty.finished and not empty.succeeded and isinstance(empty.failure, FinalFailure)

    def test_market_record(self) -> None:
        for state in ("waiting", "queuing", "generating"):
            assert parse_market_record({"state": state}).finished is False
        done = parse_market_record({"state": "success", "resultJson": '{"resultUrls":["https://x/b.mp4"]}'})
        assert done.video_url == "https://x/b.mp4"
        failed = parse_market_record({"state": "fail", "failCode": "422", "failMsg": "prohibited content"})
        assert isinstance(failed.failure, ContentRefused) and failed.failure.detail == "KIE 422: prohibited content"
        broken = parse_market_record({"state": "fail", "failCode": "500", "failMsg": "Internal server error"})
        assert isinstance(broken.failure, FinalFailure)

    def test_unwrap_reads_the_body_code_not_the_http_status(self) -> None:
        assert unwrap(200, {"code": 200, "msg": "success", "data": {"taskId": "t"}}) == {"taskId": "t"}
        with pytest.raises(KieError) as caught:
            unwrap(200, {"code": 429, "msg": "Too many requests"})
        assert isinstance(neutral(caught.value), Retryable)
        with pytest.raises(KieError, match="KIE 402: no credits"):
            unwrap(200, {"code": 402, "message": "no credits"})
        with pytest.raises(KieError) as caught:
            unwrap(502, "<html>bad gateway</html>")
        assert isinstance(neutral(caught.value), Retryable)

    @pytest.mark.parametrize(
        ("code", "kind"),
        [
            (0, Retryable),
            (429, Retryable),
            (455, Retryable),
            (500, Retryable),
            (503, Retryable),
            (408, Retryable),
            (401, AccountProblem),
            (402, AccountProblem),
            (433, AccountProblem),
            (400, ContentRefused),
            (422, ContentRefused),
            (404, FinalFailure),
            (451, FinalFailure),
            (501, FinalFailure),
            (505, FinalFailure),
            (520, Retryable),
        ],
    )
    def test_what_each_code_means_for_us(self, code: int, kind: type) -> None:
        assert type(neutral(KieError(code, "x"))) is kind

    def test_record_not_visible_yet_is_retryable_and_maintenance_says_how_long(self) -> None:
        assert isinstance(neutral(KieError(422, "record is null"), reading=True), Retryable)
        maintenance = neutral(KieError(455, "maintenance"))
        assert isinstance(maintenance, Retryable) and maintenance.retry_after == 30
        account = neutral(KieError(402, "Insufficient credits"))
        assert isinstance(account, AccountProblem) and account.code == "402"


class TestRequests:
    def test_veo_is_vertical_with_image_and_callback(self) -> None:
        path, body = create_request(VEO, "p", "https://kie/u.jpg", "https://bot/cb/tok")
        assert path == VEO_CREATE
        assert body == {
            "prompt": "p",
            "model": "veo3_fast",
            "aspect_ratio": "9:16",
            "enableTranslation": True,
            "imageUrls": ["https://kie/u.jpg"],
            "callBackUrl": "https://bot/cb/tok",
        }

    def test_kling_text_and_image(self) -> None:
        path, body = create_request(KLING, "p" * 2000, None, None)
        assert path == MARKET_CREATE
        assert body == {
            "model": "kling-2.6/text-to-video",
            "input": {"prompt": "p" * 1000, "sound": True, "duration": "5", "aspect_ratio": "9:16"},
        }
        _, body = create_request(KLING, "p", "https://kie/u.jpg", "https://bot/cb")
        assert body["model"] == "kling-2.6/image-to-video" and body["input"]["image_urls"] == ["https://kie/u.jpg"]
        assert body["callBackUrl"] == "https://bot/cb"

    def test_sora_says_portrait(self) -> None:
        _, body = create_request(SORA, "p", None, None)
        assert body["model"] == "sora-2-text-to-video" and body["input"]["aspect_ratio"] == "portrait"
        _, body = create_request(SORA, "p", "https://kie/u.jpg", None)
        assert body["model"] == "sora-2-image-to-video"
        assert (body["input"]["image_urls"], body["input"]["upload_method"]) == (["https://kie/u.jpg"], "s3")

    def test_kling_3_is_one_market_model_with_a_mode(self) -> None:
        path, body = create_request(KLING3, "p", None, "https://bot/cb")
        assert path == MARKET_CREATE and body["model"] == "kling-3.0/video"
        assert body["input"] | {"prompt": "p"} == {
            "prompt": "p",
            "mode": "pro",
            "sound": True,
            "duration": "5",
            "aspect_ratio": "9:16",
        }
        _, body = create_request(VideoModel("kling-3.0-std", "kling3", 80), "p", "https://kie/u.jpg", None)
        assert body["input"]["mode"] == "std" and body["input"]["image_urls"] == ["https://kie/u.jpg"]
        # A Market model of a known family is configuration only.
        _, body = create_request(VideoModel("kling-2.5-turbo", "kling", 40), "p", None, None)
        assert body["model"] == "kling-2.5-turbo/text-to-video"

    def test_catalogue_parsing(self) -> None:
        assert parse_models("veo3:veo:250, sora-2:sora:30")["sora-2"] == SORA.__class__("sora-2", "sora", 30)
        for bad, why in (
            ("veo3:veo", "id:family:price"),
            ("veo3:Runway 4:10", "family"),
            ("veo3:veo:0", "price"),
            ("Veo 3:veo:1", "the id"),
            ("a:veo:1,a:veo:2", "twice"),
            ("", "at least one"),
        ):
            with pytest.raises(ValueError, match=why):
                parse_models(bad)

    def test_polling_pace_follows_kie_advice(self) -> None:
        assert [poll_delay(s) for s in (0, 29, 30, 119, 120, 600)] == [3, 3, 8, 8, 20, 20]


class TestCallbackSignature:
    def test_valid_within_the_window_only(self) -> None:
        now = 1_800_000_000
        good = signature("key", "task-1", now)
        assert signature_valid("key", "task-1", str(now), good, now + 299)
        assert not signature_valid("key", "task-1", str(now), good, now + 301)
        assert not signature_valid("key", "task-2", str(now), good, now)
        assert not signature_valid("other", "task-1", str(now), good, now)
        assert not signature_valid("key", "task-1", "yesterday", good, now)
        assert not signature_valid("key", "", str(now), good, now)

    async def test_task_id_in_every_callback_shape(self) -> None:
        async with aiohttp.ClientSession() as http:
            kie = KieProvider(http, api_key="k", base_url="http://x", upload_base_url="http://y")
        assert kie.callback_task_id({"data": {"taskId": "veo_1"}}) == "veo_1"
        assert kie.callback_task_id({"data": {"task_id": "rw_1"}}) == "rw_1"
        assert kie.callback_task_id({"data": None}) == "" and kie.callback_task_id([1]) == ""


class TestClient:
    @pytest.fixture
    async def client(self, fake_kie: FakeKie) -> KieProvider:
        async with aiohttp.ClientSession() as http:
            yield KieProvider(
                http, api_key=fake_kie.api_key, base_url=fake_kie.base_url, upload_base_url=fake_kie.upload_base_url
            )

    async def test_upload_create_and_read_each_family(self, client: KieProvider, fake_kie: FakeKie) -> None:
        url = await client.upload_image(b"\xff\xd8jpeg", "g1.jpg")
        assert fake_kie.uploads[url] == b"\xff\xd8jpeg"
        assert await client.balance() == fake_kie.credits
        for model in (VEO, KLING, KLING3, SEEDANCE):
            task_id = await client.create(model, "a prompt", url, None)
            assert (await client.state(model, task_id)).finished is False
            await fake_kie.finish(task_id)
            state = await client.state(model, task_id)
            assert state.succeeded and state.video_url.endswith(f"/videos/{task_id}.mp4")
        auth = {c.headers.get("Authorization") for c in fake_kie.requests}
        assert auth == {f"Bearer {fake_kie.api_key}"}

    async def test_failures_become_neutral_errors(self, client: KieProvider, fake_kie: FakeKie) -> None:
        fake_kie.fail_next_create(455, "Service unavailable (maintenance)", http_status=200)
        with pytest.raises(Retryable) as retry:
            await client.create(VEO, "p", None, None)
        assert retry.value.retry_after == 30
        fake_kie.script(Outcome.failure(422, "Your request was rejected by Flow(x)"))
        task_id = await client.create(VEO, "p", None, None)
        await fake_kie.finish(task_id)
        failure = (await client.state(VEO, task_id)).failure
        assert isinstance(failure, ContentRefused) and failure.detail == "KIE 422: Your request was rejected by Flow(x)"
        with pytest.raises(Retryable):
            await client.state(VEO, "veo_task_missing")  # "record is null": not visible yet

    async def test_wrong_key_and_no_server(self, fake_kie: FakeKie) -> None:
        async with aiohttp.ClientSession() as http:
            wrong = KieProvider(
                http, api_key="nope", base_url=fake_kie.base_url, upload_base_url=fake_kie.upload_base_url
            )
            with pytest.raises(AccountProblem) as account:
                await wrong.create(VEO, "p", None, None)
            assert account.value.code == "401"
            with pytest.raises(AccountProblem):
                await wrong.balance()
            gone = KieProvider(http, api_key="k", base_url="http://127.0.0.1:9", upload_base_url="http://127.0.0.1:9")
            with pytest.raises(Retryable) as caught:
                await gone.create(VEO, "p", None, None)
            assert "KIE unreachable" in caught.value.detail
            assert "nope" not in str(caught.value) and json.dumps(caught.value.detail)
            assert not isinstance(caught.value, Unanswered), "a connection never opened sent nothing"

    async def test_a_paused_model_is_unavailable_not_an_outage(self, client: KieProvider, fake_kie: FakeKie) -> None:
        """KIE's code 500 "temporarily paused" names the model, read from the message, not the code."""
        fake_kie.pause_model("kling-")
        with pytest.raises(ModelUnavailable) as paused:
            await client.create(KLING, "p", None, None)
        assert paused.value.code == "500" and "temporarily paused" in paused.value.detail
        fake_kie.fail_next_create(500, "Server Error")
        with pytest.raises(Retryable):
            await client.create(KLING, "p", None, None)
        assert await client.create(VEO, "p", None, None)

    async def test_a_lost_create_answer_is_unanswered(self, client: KieProvider, fake_kie: FakeKie) -> None:
        """The task was made and the connection dropped: not a plain retry (the task may be billed)."""
        fake_kie.lose_create_answers(1)
        with pytest.raises(Unanswered):
            await client.create(VEO, "p", None, None)
        assert len(fake_kie.tasks) == 1


class TestSharedRateLimit:
    async def test_slots_are_counted_across_connections(self, pool) -> None:
        """The KIE create limiter lives in the database, so every process shares it."""
        from db.telegram import take_rate_slot_stamped

        async with pool.acquire() as one, pool.acquire() as two:
            waits = [(await take_rate_slot_stamped(conn, "kie.create", 3, 10.0))[0] for conn in (one, two, one, two)]
        assert waits[:3] == [0.0, 0.0, 0.0]
        assert 9.0 < waits[3] <= 10.0, "the fourth waits for the oldest slot to leave the window"
        async with pool.acquire() as conn:
            assert (await take_rate_slot_stamped(conn, "another.bucket", 3, 10.0))[0] == 0.0

    async def test_a_settled_slot_counts_from_its_answer(self, pool) -> None:
        """KIE counts a create when it arrives, after the slot was taken; settled once answered, the slot
        keeps the next create out for a whole window from then, not from when it was taken."""
        from db.telegram import settle_rate_slot, take_rate_slot_stamped

        hour = 3600.0
        async with pool.acquire() as conn:
            for bucket, settle in (("slow.unsettled", False), ("slow.settled", True)):
                wait_s, slot = await take_rate_slot_stamped(conn, bucket, 1, hour)
                assert wait_s == 0.0 and slot is not None
                # The create took almost the whole window to be answered: the slot is that old now.
                aged = await conn.fetchval(
                    "UPDATE rate_slots SET taken_at = taken_at - interval '3599 s'"
                    " WHERE bucket = $1 RETURNING taken_at",
                    bucket,
                )
                if settle:
                    await settle_rate_slot(conn, bucket, aged)
                next_wait, next_slot = await take_rate_slot_stamped(conn, bucket, 1, hour)
                assert next_slot is None
                if settle:
                    assert next_wait > hour - 60, "settled: a whole window from the answer"
                else:
                    assert next_wait <= 1.0, "unsettled: the window ran from the take, nearly over"


class TestSeedance:
    """Seedance 2 (Standard, Fast, Mini) against the shape confirmed from KIE's pages (tests/fixtures/kie)."""

    CONTRACTS = load_contracts()

    @pytest.mark.parametrize("model_id", ["seedance-2", "seedance-2-fast", "seedance-2-mini"])
    @pytest.mark.parametrize("photo", [None, "https://kie/u.jpg"])
    @pytest.mark.parametrize("seconds", [5, 10])
    def test_each_request_keeps_its_contract(self, model_id: str, photo: str | None, seconds: int) -> None:
        model = VideoModel(model_id, "seedance", 9 * 5, per_second=9, durations=(5, 10))
        path, body = create_request(model, "a prompt", photo, "https://bot/cb", seconds)
        assert path == MARKET_CREATE and body["model"] == f"bytedance/{model_id}"
        assert body["callBackUrl"] == "https://bot/cb" and "callBackUrl" not in body["input"]
        assert contract_problem(self.CONTRACTS[body["model"]], body["input"]) is None
        expected = {"prompt": "a prompt", "aspect_ratio": "9:16", "resolution": "720p", "duration": seconds}
        expected |= {"generate_audio": True} | ({"first_frame_url": photo} if photo else {})
        assert body["input"] == expected

    def test_the_first_length_is_sent_when_none_was_chosen(self) -> None:
        _, body = create_request(SEEDANCE, "p", None, None)
        assert body["input"]["duration"] == 5

    @pytest.mark.parametrize(
        ("change", "problem"),
        [
            ({"prompt": ""}, "prompt is required"),
            ({"duration": "5"}, "duration must be of type integer"),
            ({"duration": 3}, "duration must be between 4 and 15"),
            ({"aspect_ratio": "portrait"}, "aspect_ratio must be one of"),
            ({"resolution": "1080p"}, "resolution must be one of 480p, 720p"),
            ({"generate_audio": "yes"}, "generate_audio must be of type boolean"),
            ({"image_urls": ["x"]}, "image_urls is not a known parameter"),
            ({"reference_image_urls": ["x"]}, "cannot be combined"),
            ({"first_frame_url": None, "last_frame_url": "x"}, "last_frame_url needs first_frame_url"),
        ],
    )
    def test_the_contract_refuses_what_kie_refuses(self, change: dict[str, object], problem: str) -> None:
        _, body = create_request(SEEDANCE, "p", "https://kie/u.jpg", None, 5)
        params = {k: v for k, v in (body["input"] | change).items() if v is not None}
        found = contract_problem(self.CONTRACTS["bytedance/seedance-2-mini"], params)
        assert found is not None and problem in found

    async def test_the_fake_answers_422_on_a_shape_violation(self, fake_kie: FakeKie) -> None:
        async with aiohttp.ClientSession() as http:
            url = f"{fake_kie.base_url}/api/v1/jobs/createTask"
            headers = {"Authorization": f"Bearer {fake_kie.api_key}"}
            bad = {"model": "bytedance/seedance-2-fast", "input": {"prompt": "p", "duration": "5"}}
            async with http.post(url, json=bad, headers=headers) as response:
                assert (response.status, await response.json()) == (
                    200,
                    {"code": 422, "msg": "duration must be of type integer", "data": None},
                )
        assert fake_kie.tasks == {}


async def test_kie_refuses_every_sora_model_as_paused(fake_kie: FakeKie) -> None:
    """KIE answers every Sora slug "temporarily paused" (reference section 13.1); so does the fake."""
    async with aiohttp.ClientSession() as http:
        client = KieProvider(
            http, api_key=fake_kie.api_key, base_url=fake_kie.base_url, upload_base_url=fake_kie.upload_base_url
        )
        for model, photo in ((SORA, None), (SORA, "https://kie/u.jpg"), (VideoModel("sora-2-pro", "sora", 90), None)):
            with pytest.raises(ProviderError, match=PAUSED):
                await client.create(model, "p", photo, None)
    slugs = {c.json["model"] for c in fake_kie.requests if c.path.endswith("createTask")}
    assert slugs == {"sora-2-text-to-video", "sora-2-image-to-video", "sora-2-pro-text-to-video"}
    assert fake_kie.tasks == {}


def test_unable_to_generate_audio_is_worth_another_try() -> None:
    """Veo's audio verdict (reference 13.3) is its own kind of final failure; a refusal stays a refusal."""
    failure = verdict(501, "The Google model was unable to generate audio. Try again.")
    assert isinstance(failure, WorthAnotherTry) and failure.code == "501"
    assert isinstance(verdict(500, "Unable to generate audio"), WorthAnotherTry)
    assert type(verdict(400, "unable to generate audio")) is ContentRefused
    assert type(verdict(501, "generation failed")) is FinalFailure
    record = {"successFlag": 2, "errorCode": 501, "errorMessage": NO_AUDIO}
    assert isinstance(parse_veo_record(record).failure, WorthAnotherTry)


async def test_the_fake_fails_a_veo_task_for_audio_in_kies_record_format(fake_kie: FakeKie) -> None:
    fake_kie.script(Outcome.no_audio())
    async with aiohttp.ClientSession() as http:
        client = KieProvider(
            http, api_key=fake_kie.api_key, base_url=fake_kie.base_url, upload_base_url=fake_kie.upload_base_url
        )
        task_id = await client.create(VEO, "p", "https://kie/u.jpg", None)
        await fake_kie.finish(task_id)
        headers = {"Authorization": f"Bearer {fake_kie.api_key}"}
        async with http.get(f"{fake_kie.base_url}{VEO_RECORD}", params={"taskId": task_id}, headers=headers) as answer:
            data = (await answer.json())["data"]
        assert (data["successFlag"], data["errorCode"], data["errorMessage"]) == (2, 501, NO_AUDIO)
        assert data["response"] is None
        assert isinstance((await client.state(VEO, task_id)).failure, WorthAnotherTry)
