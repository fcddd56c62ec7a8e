"""What the bot benchmarks share: a scratch database, the fakes, a real ``bot.py`` process, a table."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from db.embedded import start_embedded  # noqa: E402
from db.migrate import migrate  # noqa: E402
from tests.helpers import SECRETS as TEST_SECRETS  # noqa: E402

# A bench bot's secrets; WEBHOOK_SECRET set, so the bench knows what to send (unset, the bot would
# generate and store one: core/telegram/webhook_secret.py).
SECRETS = {**TEST_SECRETS, "WEBHOOK_SECRET": "reelsmith-bench-webhook-secret-0123456789"}

DEFAULT_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def server_dsn(server: str) -> str:
    return start_embedded(REPO / ".data" / "bench-postgres", keep_data=False) if server == "embedded" else server


async def fresh_database(server: str, name: str, *, migrated: bool = True) -> str:
    """An empty database ``name`` on ``server``; ``migrated=False`` leaves the schema to the bot.py under test
    (another checkout's migrations may differ from this one's)."""
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
        version = await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    if migrated:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    print(f"PostgreSQL {version}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Bot:
    """``python bot.py`` with the given environment; its output goes to a log file. ``repo`` runs
    another checkout's bot.py (a before/after comparison) with this interpreter."""

    def __init__(self, env: dict[str, str], log_path: Path, *, repo: Path = REPO) -> None:
        self.env = {**os.environ, **SECRETS, "LOG_FORMAT": "json", "LOG_LEVEL": "warning", **env}
        self.log_path = log_path
        self.repo = repo
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_rss = 0.0

    async def start(self) -> Bot:
        log = self.log_path.open("wb")
        # BENCH_PROFILE=DIR: the bot runs under cProfile and leaves DIR/<checkout>.prof at its exit
        profile = os.environ.get("BENCH_PROFILE")
        profiler = ["-m", "cProfile", "-o", str(Path(profile) / f"{self.repo.name}.prof")] if profile else []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *profiler, str(self.repo / "bot.py"), env=self.env, stdout=log, stderr=log, cwd=self.repo
        )
        port = int(self.env["PORT"])
        for _ in range(600):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return self
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"bot.py did not start; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the bot process has used: a cost per update that holds on a
        machine shared with other work, where wall-clock throughput does not."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sample_rss(self) -> float:
        assert self.proc is not None
        current = rss_mb(self.proc.pid)
        self.peak_rss = max(self.peak_rss, current)
        return current

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await self.proc.wait()


@dataclass(frozen=True)
class FakeServers:
    """Fake Telegram, KIE and OpenAI servers, in a process of their own so their work does not
    share the benchmark's event loop. ``command()`` reaches into that process: start or end a KIE
    outage, or read what the fakes saw (the fakes themselves are the ones the tests use, unchanged)."""

    process: multiprocessing.process.BaseProcess
    control: Connection
    telegram: str
    kie: str
    kie_upload: str
    openai: str

    @classmethod
    def start(
        cls, *, render_seconds: float = 60.0, enforce_create_limit: bool = False, admin_ids: tuple[int, ...] = ()
    ) -> FakeServers:
        spawn = multiprocessing.get_context("spawn")
        ours, theirs = spawn.Pipe()
        process = spawn.Process(
            target=_serve_fakes, args=(theirs, render_seconds, enforce_create_limit, admin_ids), daemon=True
        )
        process.start()
        if not ours.poll(60):
            raise RuntimeError("the fake servers did not start within 60 s")
        return cls(process, ours, *ours.recv())

    def command(self, name: str, *args: Any) -> Any:
        """Run one command in the fakes' process (see ``_commands``) and return its answer."""
        self.control.send((name, args))
        if not self.control.poll(30):
            raise RuntimeError(f"the fake servers did not answer {name!r} within 30 s")
        return self.control.recv()

    def stop(self) -> None:
        self.process.terminate()


def _serve_fakes(
    control: Connection, render_seconds: float, enforce_create_limit: bool, admin_ids: tuple[int, ...]
) -> None:
    from tests.fakes.kie import FakeKie
    from tests.fakes.openai import FakeOpenAI
    from tests.fakes.telegram import FakeTelegram

    async def serve() -> None:
        telegram = FakeTelegram()
        kie = FakeKie(render_seconds=render_seconds, enforce_create_limit=enforce_create_limit)
        kie.credits = 10**9  # a benchmark's thousands of renders must not run out of (fake) KIE credit
        openai = FakeOpenAI()
        for fake in (telegram, kie, openai):
            await fake.start()
        control.send((telegram.base_url, kie.base_url, kie.upload_base_url, openai.base_url))
        loop = asyncio.get_running_loop()
        while True:
            # The pipe is read in a thread so the fakes keep serving; the command itself runs on the loop.
            name, args = await loop.run_in_executor(None, control.recv)
            control.send(_commands(telegram, kie, admin_ids, name, args))

    asyncio.run(serve())


def _commands(telegram: Any, kie: Any, admin_ids: tuple[int, ...], name: str, args: tuple[Any, ...]) -> Any:
    """``outage <mode>`` and ``recover`` switch KIE; ``stats`` reads counters the benchmarks report;
    ``copies`` and ``first_replies`` say when messages arrived."""
    if name == "outage":
        kie.outage(args[0])
        return time.time()
    if name == "recover":
        kie.recover()
        return time.time()
    if name == "lose_answers":
        kie.lost_answer_ratio = float(args[0])
        return None
    if name == "stats":
        return {
            "answers_lost": kie.answers_lost,
            "creates": len(kie.create_times),
            "refused_by_limit": kie.rate_limited,
            "refused_by_outage": len(kie.refused),
            "admin_messages": [
                str(call.params.get("text", ""))
                for admin in admin_ids
                for call in telegram.calls("sendMessage", chat_id=admin)
            ],
        }
    if name == "copies":
        # When each chat got its copies (support tickets): (chat, copied from chat, time.monotonic()),
        # a clock this machine's processes share.
        return [(call.chat_id, int(call.params["from_chat_id"]), call.at) for call in telegram.calls("copyMessage")]
    if name == "first_replies":
        # When each chat got its first sendMessage (the answer to a /start), same clock.
        first: dict[int, float] = {}
        for call in telegram.calls("sendMessage"):
            first.setdefault(call.chat_id, call.at)
        return first
    if name == "add_files":  # file_ids the fake Telegram then knows (inline results name them)
        for file_id in args[0]:
            telegram.add_file(b"", file_id=file_id)
        return len(args[0])
    if name == "inline_answers":
        # When each inline query was answered: (query id, results, time.monotonic()), same clock.
        return [
            (str(call.params["inline_query_id"]), len(call.params.get("results") or []), call.at)
            for call in telegram.succeeded
            if call.method == "answerInlineQuery"
        ]
    raise ValueError(f"unknown fake-server command {name!r}")


def table(title: str, rows: list[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"  {title}")
    print(f"  {'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print()


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return pick(0.50), pick(0.95), pick(0.99)
