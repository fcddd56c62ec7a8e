"""Reelsmith: one process serving Telegram and KIE webhooks and running the job queue.

    python bot.py [--role all|web|worker]     (or `reelsmith`, once installed)
    python bot.py check                        preflight: settings, database, Telegram, webhook, KIE, OpenAI
    python bot.py migrate                      apply the migrations and exit

Reading order: settings → logging → database (embedded when DATABASE_URL is unset) → migrations →
services (Telegram bot, KIE, OpenAI) → job kinds → runtime (web server, Telegram frontend, KIE
callbacks, supervised consumers) → graceful stop. Exit codes: core/exits.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

# Only what reading the settings needs: aiogram, openai and asyncpg take seconds to import, and a
# bad setting must be reported within a second. The rest is imported by serve() below.
from core.exits import EXIT_CONFIG, EXIT_START_FAILED, Role
from core.logging import configure_logging, wants_json
from core.settings import Settings, SettingsError, read_environment, redact_dsn
from core.settings.sections import reveal

if TYPE_CHECKING:
    from core.runtime.process import Component

log = structlog.get_logger("bot")

# The start's preflight waits this long, so the web process has set the webhook it then reads.
PREFLIGHT_DELAY = 5.0


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    environ = read_environment(os.environ, Path(".env"))
    try:
        settings = Settings.from_env(environ)
    except SettingsError as error:
        _report_bad_settings(error, environ.get("LOG_FORMAT", "auto"))
        return EXIT_CONFIG
    configure_logging(settings.logging.level, settings.logging.format, secrets=settings.secrets())
    from core import errors

    errors.init(reveal(settings.metrics.sentry_dsn), environment=settings.metrics.sentry_environment)
    if args.command == "check":
        return asyncio.run(check(settings))
    if args.command == "migrate":
        return asyncio.run(migrate_only(settings))
    return asyncio.run(serve(settings, Role(args.role)))


async def serve(settings: Settings, role: Role) -> int:
    from core.bot.frontend import TelegramFrontend
    from core.bot.menus import CommandMenus
    from core.pipeline import HOUSEKEEPING
    from core.pipeline import health as provider_health
    from core.pipeline.retention import RETENTION
    from core.queue import enqueue
    from core.runtime.jobs import job_kinds
    from core.runtime.preflight import log_checks
    from core.runtime.process import Runtime
    from core.runtime.services import services
    from core.web.callbacks import ProviderCallbacks
    from core.web.miniapp.routes import MiniApp
    from db.embedded import stop_embedded
    from db.migrate import migrate
    from db.pool import create_pool

    log.info("runtime.boot", role=str(role), settings=settings.summary())
    try:
        database_url = settings.database.dsn or await _embedded_database(settings)
        pool = await create_pool(
            database_url,
            max_size=settings.database.pool_size,
            transaction_pooler=settings.database.transaction_pooler,
            log_sql=settings.logging.sql,
        )
    except _db_errors() as error:
        log.critical("db.unreachable", error=str(error))
        return EXIT_START_FAILED
    preflight: asyncio.Task[None] | None = None
    try:
        async with pool.acquire() as conn:
            applied = await migrate(conn)
        log.info("db.migrations.applied", applied=[m.path.name for m in applied])
        # Logged, never waited for: a provider being down must not keep the bot from serving the rest.
        preflight = asyncio.create_task(log_checks(settings, database_url, delay=PREFLIGHT_DELAY))
        async with services(settings, pool) as app:
            try:
                app.registry = job_kinds(app)
            except ValueError as error:
                log.critical("settings.invalid", problems=[str(error)])
                return EXIT_CONFIG
            await enqueue(pool, app.registry, HOUSEKEEPING, unique_key="housekeeping")
            await enqueue(pool, app.registry, RETENTION, unique_key="retention")
            await provider_health.ensure(app)
            web: list[Component] = []
            if role is not Role.WORKER:
                web = [TelegramFrontend(app), CommandMenus(app), ProviderCallbacks(app), MiniApp(app)]
            runtime = Runtime(
                settings.runtime,
                pool,
                app.registry,
                queue=settings.queue,
                metrics_settings=settings.metrics,
                role=role,
                listen_dsn=settings.database.listen_dsn(database_url),
                components=web,
                on_forced_exit=None if settings.database.dsn else stop_embedded,  # no orphan postgres
                private_metrics=settings.telegram.webhook_mode,
            )
            return await runtime.run()
    finally:
        if preflight is not None:
            preflight.cancel()
        await pool.close()


async def check(settings: Settings) -> int:
    """``check``: exit 0 only when every check passed; it reads and changes nothing."""
    from core.runtime.preflight import print_checks

    try:
        database_url = settings.database.dsn or await _embedded_database(settings)
    except _db_errors() as error:
        print(f"❌ Database: the embedded PostgreSQL did not start: {error}")
        return EXIT_START_FAILED
    return 0 if await print_checks(settings, database_url) else 1


async def migrate_only(settings: Settings) -> int:
    """``migrate``: apply what is missing (under the same lock as a start) and exit."""
    from db.migrate import migrate
    from db.pool import connect

    try:
        database_url = settings.database.dsn or await _embedded_database(settings)
        conn = await connect(database_url, transaction_pooler=settings.database.transaction_pooler)
    except _db_errors() as error:
        log.critical("db.unreachable", error=str(error))
        return EXIT_START_FAILED
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    log.info("db.migrations.applied", applied=[m.path.name for m in applied])
    return 0


def _db_errors() -> tuple[type[BaseException], ...]:
    """What an unreachable database raises (asyncpg is imported only once settings are good)."""
    import asyncpg

    return (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


async def _embedded_database(settings: Settings) -> str:
    from db.embedded import start_embedded

    dsn = await asyncio.to_thread(start_embedded, settings.database.embedded_pg_dir)
    log.warning(
        "db.embedded.started",
        dsn=redact_dsn(dsn),
        data_dir=str(settings.database.embedded_pg_dir.resolve()),
        note="DATABASE_URL is unset: using the embedded PostgreSQL; its data persists in data_dir. "
        "Set DATABASE_URL in production.",
    )
    return dsn


def _report_bad_settings(error: SettingsError, log_format: str) -> None:
    if wants_json(log_format.strip().lower(), sys.stderr):
        configure_logging(log_format="json")
        log.critical("settings.invalid", problems=error.problems)
    else:
        print(f"💥 {error}", file=sys.stderr)


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Reelsmith: idea in, vertical video out.")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "check", "migrate"],
        default="run",
        help="run: serve (default); check: test settings and every service, exit 0 if all pass; "
        "migrate: apply the database migrations and exit",
    )
    parser.add_argument(
        "--role",
        choices=[r.value for r in Role],
        default=Role.ALL.value,
        help="all: web server and job consumers (default); web: only the web server; worker: only consumers",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
