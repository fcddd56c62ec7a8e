"""What checking an idea with moderation adds to its proposal.

The whole bot runs in this process (tests.helpers.BotHarness) against the fakes, with the fake
OpenAI's ``/v1/moderations`` answering after ``--delay`` (50 ms: about what OpenAI's moderation
takes). One idea at a time, each from a new user (the per-user message limit stays out of it); the
latency is from the idea's POST to the webhook to the proposal's ``sendMessage`` answered by the fake
Telegram (the webhook's answer and the replies sent after the commit). Modes: moderation off, on
(text), on with a photo (downloaded from Telegram and sent as data).

    .venv/bin/python -m bench.moderation_bench --ideas 200
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time

import structlog

from bench.common import DEFAULT_SERVER, REPO, free_port, fresh_database
from core.settings import Settings
from tests.fakes.kie import FakeKie
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram, message_update, photo_sizes
from tests.helpers import SECRETS, BotHarness

assert REPO  # bench.common put the repository on sys.path


def jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (720, 1280), (30, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


async def measure(url: str, mode: str, ideas: int, delay: float, first_user: int) -> list[float]:
    telegram, kie, openai = await FakeTelegram().start(), await FakeKie(render_seconds=None).start(), FakeOpenAI()
    await openai.start()
    openai.moderation_delay = delay
    port = free_port()
    env = {
        **SECRETS,
        "DATABASE_URL": url,
        "TELEGRAM_API_BASE": telegram.base_url,
        "KIE_BASE_URL": kie.base_url,
        "KIE_UPLOAD_BASE_URL": kie.upload_base_url,
        "OPENAI_BASE_URL": openai.base_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "MODERATION": "false" if mode == "off" else "true",
    }
    photo = jpeg()
    latencies: list[float] = []
    try:
        async with BotHarness.running(Settings.from_env(env), telegram) as bot:
            for n in range(ideas):
                user = first_user + n
                message: dict[str, object] = {"text": f"a lighthouse in a storm, take {n}"}
                if mode == "photo":
                    file_id = telegram.add_file(photo)
                    message = {"photo": photo_sizes(file_id, len(photo)), "caption": f"make it snow, take {n}"}
                started = time.perf_counter()
                assert await bot.send(message_update(bot.next_update_id(), user, **message)) == 200  # type: ignore[arg-type]
                latencies.append(time.perf_counter() - started)
                assert telegram.calls("sendMessage", chat_id=user), "no proposal"
    finally:
        await telegram.stop()
        await kie.stop()
        await openai.stop()
    assert len(openai.moderations) == (0 if mode == "off" else ideas)
    return latencies


def row(mode: str, latencies: list[float]) -> str:
    ms = sorted(1000 * x for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"| {mode} | {len(ms)} | {statistics.median(ms):.1f} | {p99:.1f} | {max(ms):.1f} |"


async def run(args: argparse.Namespace) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    url = await fresh_database(args.server, "reelsmith_bench")
    print(f"moderation answers after {args.delay * 1000:.0f} ms; {args.ideas} ideas per mode, one at a time\n")
    print("| moderation | ideas | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for index, mode in enumerate(args.modes):
        latencies = await measure(url, mode, args.ideas, args.delay, first_user=1_000_000 * (index + 1))
        print(row(mode, latencies), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--ideas", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the fake moderation takes")
    parser.add_argument("--modes", nargs="+", default=["off", "text", "photo"], choices=["off", "text", "photo"])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
