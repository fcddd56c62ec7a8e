"""Test helpers: waiting on conditions, running the runtime in-process or as a real process,
and a TCP proxy that can cut the database connection."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import asyncpg

from core.queue import Registry
from core.runtime.process import Role, Runtime
from core.settings import Settings, variables

REPO = Path(__file__).resolve().parent.parent

# What the fakes accept (tests/fakes): the bot must send exactly these, and never leak them.
SECRETS = {
    "BOT_TOKEN": "123456:TEST-token-abcdefghijklmnopqrstuvwxyz",
    "OPENAI_API_KEY": "sk-test-openai-key",
    "KIE_API_KEY": "kie-test-key",
}


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until(
    condition: Callable[[], Awaitable[Any] | Any], *, timeout: float = 20.0, interval: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``.

    For state held in another process or in the database, where there is no event to await."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def runtime_for(settings: Settings, pool: asyncpg.Pool, registry: Registry, **options: Any) -> Runtime:
    """A Runtime handed its sections of ``settings``, as bot.py hands them."""
    return Runtime(settings.runtime, pool, registry, queue=settings.queue, metrics_settings=settings.metrics, **options)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    pool: asyncpg.Pool,
    registry: Registry,
    *,
    role: Role = Role.WORKER,
    listen: bool = True,
    fresh_port: bool = False,
    **options: Any,
) -> AsyncIterator[Runtime]:
    """A runtime running in this event loop; stopped (and drained) when the block ends.

    Every role serves HTTP on ``settings.runtime.port``; ``fresh_port`` picks another, for a second runtime."""
    runtime = runtime_for(
        settings.changed(runtime={"port": free_port()}) if fresh_port else settings,
        pool,
        registry,
        role=role,
        handle_signals=False,
        listen_dsn=settings.database.dsn if listen else None,
        **options,
    )
    task = asyncio.create_task(runtime.run())
    ready = [asyncio.ensure_future(runtime.started.wait())]
    if runtime.worker and runtime.worker.listener:
        ready.append(asyncio.ensure_future(runtime.worker.listener.wait_connected()))
    all_ready = asyncio.ensure_future(asyncio.gather(*ready))
    await asyncio.wait([task, all_ready], return_when=asyncio.FIRST_COMPLETED, timeout=30)
    try:
        if not (task.done() or all_ready.done()):  # a failure to report, never a silent hang
            all_ready.cancel()
            raise AssertionError("the runtime neither started nor ended within 30 s (LISTEN never connected?)")
        yield runtime
    finally:
        runtime.stop("test over")
        await asyncio.wait_for(task, 60)


async def job_row(db: asyncpg.Pool | asyncpg.Connection, job_id: int) -> asyncpg.Record:
    return await db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)


# --- real processes ------------------------------------------------------------------------------


class BotProcess:
    """``python bot.py`` as a child process, its JSON log lines collected as they come."""

    started: ClassVar[list[BotProcess]] = []  # killed after each test, whatever happened in it

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        BotProcess.started.append(self)
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: dict[str, str], *args: str, cwd: Path | None = None) -> BotProcess:
        known = {var.name for var in variables()}
        full_env = {k: v for k, v in os.environ.items() if k not in known}
        full_env.update({"LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", **env})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "bot.py"),
            *args,
            env=full_env,
            cwd=cwd or REPO / "tests",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            async with self._changed:
                self.raw.append(line)
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        self.events.append(event)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def wait_for_event(self, name: str, *, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for event in self.events:
                if event.get("event") == name and all(event.get(k) == v for k, v in fields.items()):
                    return event
            return None

        async def wait() -> dict[str, Any]:
            async with self._changed:
                await self._changed.wait_for(lambda: found() is not None or self._reader.done())
                event = found()
                if event is None:
                    raise AssertionError(f"process ended without logging {name}; output:\n" + self.output())
                return event

        return await asyncio.wait_for(wait(), timeout)

    def output(self) -> str:
        return "\n".join(self.raw[-80:])

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 60.0) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader
        return code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.wait()

    @classmethod
    async def kill_all(cls) -> None:
        while cls.started:
            await cls.started.pop().kill()


@contextlib.asynccontextmanager
async def bot_process(env: dict[str, str]) -> AsyncIterator[BotProcess]:
    """A ``bot.py`` that has logged runtime.started; at the end SIGTERM, and it must exit 0."""
    process = await BotProcess.start(env)
    try:
        await process.wait_for_event("runtime.started")
        yield process
    finally:
        process.signal(signal.SIGTERM)
        assert await process.wait() == 0


class ProcessWebhook:
    """Updates posted to real ``bot.py`` processes' webhook as Telegram posts them, with the secret
    they check: the one the first process stored (core/telegram/webhook_secret.py)."""

    def __init__(self, env: dict[str, str], pool: asyncpg.Pool, http: Any) -> None:
        self.url = f"{env['PUBLIC_BASE_URL']}/telegram/webhook"
        self.bot_id = int(env["BOT_TOKEN"].split(":")[0])
        self.pool = pool
        self._http = http

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, env: dict[str, str], pool: asyncpg.Pool) -> AsyncIterator[ProcessWebhook]:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            yield cls(env, pool, http)

    async def send(self, update: dict[str, Any]) -> None:
        secret = await self.pool.fetchval("SELECT webhook_secret FROM bot_secrets WHERE bot_id = $1", self.bot_id)
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with self._http.post(self.url, json=update, headers=headers) as response:
            assert response.status == 200

    async def confirm_idea(self, telegram: Any, user_id: int, idea: str) -> int:
        """/start, the idea, then its proposal's confirm button (update ids 1-3): the draft's id."""
        from tests.fakes.telegram import callback_update, message_update

        await self.send(message_update(1, user_id, text="/start"))
        await self.send(message_update(2, user_id, text=idea))
        # Replies go out just after the webhook's answer.
        await telegram.wait_for(lambda calls: any(button_data(c) for c in calls if c.method == "sendMessage"))
        proposal = telegram.calls("sendMessage", chat_id=user_id)[-1]
        confirm = next(d for d in button_data(proposal) if d.startswith("go:"))
        await self.send(callback_update(3, user_id, confirm, message_id=max(telegram.messages(user_id))))
        return int(confirm.split(":")[1])


async def has_status(db: asyncpg.Pool, generation_id: int, status: str) -> bool:
    return await db.fetchval("SELECT status FROM generations WHERE id = $1", generation_id) == status


async def ledger_of(db: asyncpg.Pool, user_id: int) -> list[tuple[str, int]]:
    rows = await db.fetch("SELECT reason, delta FROM ledger WHERE user_id = $1 ORDER BY id", user_id)
    return [(row["reason"], row["delta"]) for row in rows]


def bot_env(database_url: str, **overrides: str) -> dict[str, str]:
    """A worker process's environment; services it does not call point nowhere."""
    return {
        **SECRETS,
        "TELEGRAM_API_BASE": "http://127.0.0.1:9",
        "KIE_BASE_URL": "http://127.0.0.1:9",
        "KIE_UPLOAD_BASE_URL": "http://127.0.0.1:9",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "DATABASE_URL": database_url,
        "QUEUE_LEASE": "2s",
        "QUEUE_POLL_INTERVAL": "200ms",
        "SHUTDOWN_GRACE": "5s",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        **overrides,
    }


# --- network faults ------------------------------------------------------------------------------


class DatabaseProxy:
    """A TCP front for the database that the test can cut, to lose connections for real."""

    def __init__(self, target_dsn: str) -> None:
        self._target_dsn = target_dsn
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def dsn(self) -> str:
        parts = urlsplit(self._target_dsn)
        query = {k: v for k, v in parse_qs(parts.query).items() if k != "host"}
        user = parts.username or "postgres"
        return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{self.port}", query=urlencode(query, doseq=True)))

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self._target_dsn)
        socket_dir = parse_qs(parts.query).get("host", [None])[0]
        if socket_dir:
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{parts.port or 5432}")
        return await asyncio.open_connection(parts.hostname, parts.port or 5432)

    async def start(self) -> DatabaseProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await self._open_target()
        except OSError:
            writer.close()
            return
        self._links.update({writer, target_writer})
        await asyncio.gather(_pipe(reader, target_writer), _pipe(target_reader, writer), return_exceptions=True)

    async def cut(self) -> None:
        """Refuse new connections and break the open ones."""
        if self._server:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.transport.abort()
        self._links.clear()

    async def restore(self) -> None:
        await self.start()

    async def stop(self) -> None:
        """Cut, and wait until every socket of the proxy is closed."""
        server = self._server
        await self.cut()
        if server is not None:
            await server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class Probe:
    """A job handler a test can watch: it records each run, and with ``hold`` it runs until cancelled."""

    def __init__(self, *, hold: bool = False) -> None:
        self.hold = hold
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.ran: list[int] = []

    async def __call__(self, job: Any) -> None:
        self.ran.append(job.id)
        self.started.set()
        if self.hold:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise


# --- the whole bot --------------------------------------------------------------------------------


def button_data(call: Any) -> list[str]:
    """The callback_data of every inline button of a recorded Bot API call."""
    markup = call.params.get("reply_markup") or {}
    return [button.get("callback_data", "") for row in markup.get("inline_keyboard", []) for button in row]


_update_ids = itertools.count(10_000)  # shared: a restarted bot must not see old ids again


class BotHarness:
    """The whole bot (web server, Telegram frontend, KIE callbacks, consumers) in this event loop,
    talked to as Telegram does: updates POSTed to the webhook with the secret header."""

    def __init__(self, app: Any, runtime: Runtime, telegram: Any, http: Any, frontend: Any, menus: Any) -> None:
        self.app = app
        self.frontend = frontend
        self.menus = menus
        self.runtime = runtime
        self.telegram = telegram
        self.pool = app.pool
        self._http = http
        self.base_url = app.settings.telegram.public_base_url

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        settings: Settings,
        telegram: Any,
        *,
        wait_for_telegram: bool = True,
        extra_providers: tuple[Any, ...] = (),
        **runtime_options: Any,
    ) -> AsyncIterator[BotHarness]:
        import aiohttp

        from core.bot.frontend import TelegramFrontend
        from core.bot.menus import CommandMenus
        from core.pipeline import health
        from core.runtime.jobs import job_kinds
        from core.runtime.services import services
        from core.web.callbacks import ProviderCallbacks
        from core.web.miniapp.routes import MiniApp
        from db.pool import create_pool

        database_url = settings.database.dsn or ""
        pool = await create_pool(
            database_url,
            max_size=settings.database.pool_size,
            transaction_pooler=settings.database.transaction_pooler,
        )
        try:
            async with (
                services(settings, pool, extra_providers=extra_providers) as app,
                aiohttp.ClientSession() as http,
            ):
                app.registry = job_kinds(app)
                await health.ensure(app)
                runtime = runtime_for(
                    settings,
                    pool,
                    app.registry,
                    role=Role.ALL,
                    listen_dsn=settings.database.listen_dsn(database_url),
                    handle_signals=False,
                    components=[
                        frontend := TelegramFrontend(app),
                        menus := CommandMenus(app),
                        ProviderCallbacks(app),
                        MiniApp(app),
                    ],
                    **runtime_options,
                )
                task = asyncio.create_task(runtime.run())
                started = asyncio.ensure_future(runtime.started.wait())
                await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
                if wait_for_telegram and not task.done():  # the webhook and the menus are set in the background
                    set_up = asyncio.gather(frontend.set_up_done.wait(), menus.set_up_done.wait())
                    await asyncio.wait([task, set_up], return_when=asyncio.FIRST_COMPLETED)
                    set_up.cancel()
                if task.done():
                    raise AssertionError(f"the bot did not start (exit code {task.result()})")
                try:
                    yield cls(app, runtime, telegram, http, frontend, menus)
                finally:
                    runtime.stop("test over")
                    await task
        finally:
            await pool.close()

    def next_update_id(self) -> int:
        return next(_update_ids)

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> int:
        async with self._http.post(f"{self.base_url}{path}", json=body, headers=headers or {}) as response:
            await response.read()
            return response.status

    async def send(self, update: dict[str, Any], *, secret: str | None = None) -> int:
        """Deliver an update to the webhook as Telegram does; the HTTP status it answered."""
        header = {"X-Telegram-Bot-Api-Secret-Token": secret or self.frontend.secret}
        status = await self.post("/telegram/webhook", update, header)
        await self.replies_sent()
        return status

    async def replies_sent(self) -> None:
        """The webhook answers before the replies go out (in the background): wait for them."""
        await self.frontend.processor.replies.settled()

    async def credits(self, user_id: int) -> int:
        return await self.pool.fetchval("SELECT credits FROM users WHERE id = $1", user_id)

    async def generation(self, generation_id: int) -> Any:
        return await self.pool.fetchrow("SELECT * FROM generations WHERE id = $1", generation_id)

    async def ledger(self, user_id: int) -> list[tuple[str, int]]:
        return await ledger_of(self.pool, user_id)

    async def wait_for_generation(self, generation_id: int, *statuses: str, timeout: float = 30.0) -> Any:
        async def reached() -> Any:
            row = await self.generation(generation_id)
            return row if row is not None and row["status"] in statuses else None

        return await wait_until(reached, timeout=timeout)
