"""Diagnostic job kinds, registered in every process.

Operators use them to check a deployment from psql without touching users' work, e.g.
``INSERT INTO jobs (kind, payload) VALUES ('diag.sleep', '{"seconds": 5}');`` shows a worker
picking up, running and finishing a job; ``diag.fail`` rehearses alerts and the circuit breaker.
The queue's benchmarks and process tests run them too.
"""

from __future__ import annotations

import asyncio

from core.queue import Cancel, Job, JobSpec, Registry, TransientError


async def noop(_job: Job) -> None:
    return None


async def sleep(job: Job) -> None:
    seconds = job.payload.get("seconds", 1)
    if not isinstance(seconds, int | float) or seconds < 0:
        raise Cancel(f"payload.seconds must be a non-negative number, got {seconds!r}")
    await asyncio.sleep(seconds)


async def fail(job: Job) -> None:
    message = str(job.payload.get("error", "diag.fail was asked to fail"))
    if job.payload.get("transient"):
        raise TransientError(message)
    raise RuntimeError(message)


def register_diagnostics(registry: Registry) -> Registry:
    registry.add(JobSpec("diag.noop", noop, timeout=10, max_attempts=1))
    registry.add(JobSpec("diag.sleep", sleep, timeout=3600, max_attempts=3))
    registry.add(JobSpec("diag.fail", fail, timeout=10, max_attempts=1))
    return registry
