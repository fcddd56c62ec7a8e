"""Error reports to Sentry (optional, SENTRY_DSN): job failures and handler exceptions.

Each report carries what the log lines around it carry (structlog's context: job_id, kind,
attempt, generation_id, user_id, update_id) as tags, so a Sentry issue leads to its log story.
Before anything leaves the process the whole event goes through the log's secret scrubber. The
SDK sends from a thread of its own; with SENTRY_DSN unset every function here returns at once, and
the SDK (about 30 MB) is never imported.

A bottom-layer module (the queue imports it): sentry_sdk, structlog and core.logging only.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import structlog

from core.logging import redact

log = structlog.get_logger("errors")

# Context fields that become tags: the ones a person filters issues by.
TAGS = ("job_id", "kind", "attempt", "generation_id", "user_id", "update_id", "update_type")


def init(dsn: str | None, *, environment: str, release: str | None = None) -> bool:
    """Start reporting when a DSN is set; True when it is."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.aiohttp import AioHttpIntegration
    from sentry_sdk.integrations.asyncio import AsyncioIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[
            AsyncioIntegration(),
            AioHttpIntegration(),
            # Library log lines become breadcrumbs, not issues: our own reports say more.
            LoggingIntegration(level=logging.INFO, event_level=None),
        ],
        # The default sends no personal data (IP addresses, cookies, users); request bodies never.
        max_request_body_size="never",
        include_local_variables=False,  # locals may hold tokens, prompts, personal data
        before_send=scrub,
        before_breadcrumb=scrub,
    )
    log.info("errors.sentry.ready", environment=environment)
    return True


def enabled() -> bool:
    if "sentry_sdk" not in sys.modules:  # nothing started it: it cannot be reporting
        return False
    import sentry_sdk

    return sentry_sdk.get_client().is_active()


def report(error: BaseException | None, message: str | None = None, **tags: Any) -> None:
    """Send ``error`` (or ``message`` when there is no exception object) with the log's context as tags."""
    if not enabled():
        return
    import sentry_sdk

    context = {**structlog.contextvars.get_contextvars(), **tags}
    with sentry_sdk.new_scope() as scope:
        for key in TAGS:
            if context.get(key) is not None:
                scope.set_tag(key, str(context[key]))
        scope.set_context("log", {k: str(v) for k, v in context.items()})
        if error is not None:
            scope.capture_exception(error)
        else:
            scope.capture_message(message or "error", level="error")


def scrub(event: Any, _hint: Any) -> Any:
    """before_send: the whole event through the log's secret scrubber (messages, frames, tags, URLs)."""
    return json.loads(redact(json.dumps(event, default=str)))


def flush(timeout: float = 2.0) -> None:
    """Send what is queued (at stop; a process about to exit drops what is unsent)."""
    if enabled():
        import sentry_sdk

        sentry_sdk.flush(timeout)
