"""Provider health, shared by every process through PostgreSQL (sql/providers.sql).

available ──(PROVIDER_FAILURE_THRESHOLD retryable failures in a row, fleet-wide)──▶ unavailable
available ──(an account problem: key, credit, quota)──▶ unavailable, and new confirms are refused
unavailable ──(any success: a create, or the probe's balance call)──▶ available

While a provider is unavailable, submits wait (snoozing, no attempt spent) instead of failing; one
``provider.probe`` job asks it with backoff up to a minute. The admins are told once when it goes
down and once when it is back, with the duration. ``provider.balance`` reads the credit every few
minutes: under the minimum the admins are told (at most hourly), at zero it is an account problem.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from core.pipeline import ALERT, BALANCE, PROBE, SUBMIT, job_key
from core.pipeline.services import App
from core.providers.base import AccountProblem, ProviderError, Retryable, VideoProvider
from core.providers.prompter import PromptError
from core.queue import Backoff, Job, NewJob, Snooze, enqueue, enqueue_many
from db import jobs as db_jobs
from db import providers as db_providers

log = structlog.get_logger("provider")

PROBE_MAX_WAIT_S = 60.0
BALANCE_EVERY_S = 600.0
LOW_BALANCE_ALERT_EVERY_S = 3600.0
ACCOUNT_ALERT_FOLD_S = 600.0  # repeats of one account problem within this are one alert
SUBMIT_BACKOFF = Backoff(base=2.0, cap=PROBE_MAX_WAIT_S, jitter=0)  # a submit after its n-th failure: 2, 4 ... 60 s
PROBE_BACKOFF = Backoff(base=1.0, cap=PROBE_MAX_WAIT_S, jitter=0)  # the probe's n-th ask: 1, 2, 4 ... 60 s


def retry_delay(failures: int, retry_after: float | None) -> float:
    """How long a submit waits after a retryable failure: the provider's word, else 2, 4 ... 60 s."""
    if retry_after is not None:
        return retry_after
    return SUBMIT_BACKOFF.delay(failures)


async def ensure(app: App) -> None:
    """Every provider has its row, its probe if it is down, and its balance watch (once fleet-wide)."""
    jobs = []
    for provider in app.providers:
        await db_providers.ensure(app.pool, provider.name)
        jobs.append(NewJob(BALANCE, {"provider": provider.name}, unique_key=job_key(BALANCE, provider.name)))
        if not (await db_providers.get(app.pool, provider.name)).available:
            jobs.append(NewJob(PROBE, {"provider": provider.name}, unique_key=job_key(PROBE, provider.name)))
    await enqueue_many(app.pool, app.registry, jobs)


async def failed(app: App, provider: VideoProvider, error: Retryable) -> float:
    """Count a retryable failure; the seconds the caller should wait before its next try."""
    went_down, failures = await db_providers.failed(
        app.pool, provider.name, app.settings.kie.provider_failure_threshold, error.detail
    )
    if went_down:
        log.critical("provider.down", provider=provider.name, failures=failures, reason=error.detail)
        await _went_down(app, provider, "admin_provider_down", {"provider": provider.name, "reason": error.detail})
    return retry_delay(failures, error.retry_after)


async def account_problem(app: App, provider: VideoProvider, error: AccountProblem) -> None:
    went_down = await db_providers.account_problem(app.pool, provider.name, error.detail)
    log.critical("provider.account_problem", provider=provider.name, code=error.code, error=error.detail)
    params = {"provider": provider.name, "code": error.code, "message": error.detail}
    await _alert(app, "admin_account_problem", params, fold=job_key("alert", f"{provider.name}:{error.code}"))
    if went_down:
        await enqueue(
            app.pool, app.registry, PROBE, {"provider": provider.name}, unique_key=job_key(PROBE, provider.name)
        )


async def prompt_writer_refused(app: App, error: PromptError) -> None:
    """OpenAI refused the key or the quota: the admins are told, at most once per ACCOUNT_ALERT_FOLD_S
    (every prompt meanwhile is the user's own words, which nobody would otherwise notice)."""
    log.critical("prompter.account_problem", error=str(error), note="prompts fall back to the users' own words")
    await _alert(app, "admin_openai_problem", {"message": str(error)[:300]}, fold=job_key("alert", "openai"))


async def succeeded(app: App, provider: VideoProvider) -> None:
    """A call worked: an unavailable provider is back; waiting submits go at once."""
    down_s = await db_providers.succeeded(app.pool, provider.name)
    if down_s is None:
        return
    woken = await db_jobs.wake_kind(app.pool, SUBMIT)
    log.info("provider.back", provider=provider.name, down_s=round(down_s, 1), submits_woken=woken)
    await _alert(app, "admin_provider_up", {"provider": provider.name, "duration": _duration(down_s)})


async def _went_down(app: App, provider: VideoProvider, key: str, params: Mapping[str, object]) -> None:
    await _alert(app, key, params)
    await enqueue(app.pool, app.registry, PROBE, {"provider": provider.name}, unique_key=job_key(PROBE, provider.name))


async def _alert(app: App, key: str, params: Mapping[str, object], *, fold: str | None = None) -> None:
    if app.settings.telegram.admin_ids:
        await enqueue(
            app.pool, app.registry, ALERT, {"key": key, "params": params, "fold": fold is not None}, unique_key=fold
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"


# --- the jobs -------------------------------------------------------------------------------------


async def probe(app: App, job: Job) -> Snooze | None:
    """While the provider is down: ask for its balance with backoff (1, 2, 4 ... 60 s) until it answers
    with credit; the first such answer makes it available again."""
    provider = app.providers.named(str(job.payload.get("provider")))
    if provider is None:
        return None
    state = await db_providers.get(app.pool, provider.name)
    if state.available:
        return None
    try:
        balance = await provider.balance()
    except ProviderError as error:
        log.info("provider.probe.unanswered", provider=provider.name, error=error.detail)
        return Snooze(PROBE_BACKOFF.delay(job.snoozes + 1))
    await db_providers.balance_seen(app.pool, provider.name, balance)
    # After an account problem (no credit, a key refused) it must have been topped up to the minimum,
    # or it would flap: available, one refused create, unavailable again.
    needed = max(provider.min_balance, 0.0) if state.account_problem else 0.0
    if balance <= 0 or balance < needed:
        log.warning("provider.probe.no_credit", provider=provider.name, balance=balance, needed=needed)
        return Snooze(PROBE_MAX_WAIT_S)
    await succeeded(app, provider)
    return None


async def watch_balance(app: App, job: Job) -> Snooze | None:
    """Every few minutes: the provider's credit; low: tell the admins (hourly at most); none: unavailable."""
    provider = app.providers.named(str(job.payload.get("provider")))
    if provider is None:
        return None
    try:
        balance = await provider.balance()
    except AccountProblem as error:
        await account_problem(app, provider, error)
        return Snooze(BALANCE_EVERY_S)
    except ProviderError as error:
        log.warning("provider.balance.unanswered", provider=provider.name, error=error.detail)
        return Snooze(BALANCE_EVERY_S)
    await db_providers.balance_seen(app.pool, provider.name, balance)
    log.info("provider.balance.read", provider=provider.name, balance=balance)
    if balance <= 0:
        await account_problem(app, provider, AccountProblem(f"balance is {balance:g}", code="balance"))
    elif balance < provider.min_balance and await db_providers.claim_low_balance_alert(
        app.pool, provider.name, LOW_BALANCE_ALERT_EVERY_S
    ):
        log.warning("provider.balance.low", provider=provider.name, balance=balance, minimum=provider.min_balance)
        params = {"provider": provider.name, "balance": f"{balance:g}", "minimum": f"{provider.min_balance:g}"}
        await _alert(app, "admin_low_balance", params)
    return Snooze(BALANCE_EVERY_S)
