"""The queue side of a process, assembled: listener → producer → consumers → completer, plus upkeep.

NOTIFY ─▶ Listener ─wake─▶ Producer ─claim (1 query)─▶ offer ─▶ N consumers ─▶ Completer ─▶ 1 query
                               ▲                                     │
                               └──────────── slot freed ─────────────┘
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from dataclasses import dataclass

import asyncpg
import structlog

from core.queue import outcomes
from core.queue.breaker import CircuitBreaker
from core.queue.completer import Completer
from core.queue.consumers import Consumers, Interrupt
from core.queue.jobs import Job, Registry
from core.queue.listener import Listener
from core.queue.outcomes import Outcome
from core.queue.producer import Producer
from core.queue.upkeep import LeaseKeeper, Maintenance
from core.tasks import Starter
from db.jobs import JOBS_CHANNEL, STOP_CHANNEL

log = structlog.get_logger("queue.worker")

# A run cut short by shutdown gets this long to unwind before its consumer is cancelled outright.
UNWIND_S = 2.0


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """What the queue needs of the settings (QUEUE_*), and nothing else."""

    consumers: int
    lease_s: float
    poll_s: float
    keep_succeeded_s: float
    keep_failed_s: float
    vacuum_dead_rows: int


def worker_id() -> str:
    """Names this process in lease_owner and attempted_by: host, pid and a token against pid reuse."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: Registry,
        config: QueueConfig,
        *,
        listen_dsn: str | None,
        breaker: CircuitBreaker,
        owner: str | None = None,
    ) -> None:
        self.owner = owner or worker_id()
        self.consumer_count = config.consumers
        self.breaker = breaker
        self.consumers = Consumers(registry, on_done=self._on_done)
        self.producer = Producer(
            pool,
            registry,
            self.consumers.offer,
            owner=self.owner,
            slots=config.consumers,
            lease_s=config.lease_s,
            poll_s=config.poll_s,
        )
        self.completer = Completer(pool, owner=self.owner, on_requeued=self.producer.wake_in)
        self.leases = LeaseKeeper(pool, self.consumers, owner=self.owner, lease_s=config.lease_s)
        self.maintenance = Maintenance(
            pool,
            rescue_every_s=min(15.0, config.lease_s / 2),
            keep_succeeded_s=config.keep_succeeded_s,
            keep_failed_s=config.keep_failed_s,
            vacuum_dead_rows=config.vacuum_dead_rows,
        )
        self.listener = None
        if listen_dsn:
            self.listener = Listener(
                listen_dsn,
                {JOBS_CHANNEL: lambda _payload: self.producer.wake(), STOP_CHANNEL: self._on_stop_request},
                on_connect=self.producer.wake,
            )
        self._supervisor: Starter | None = None

    def start(self, supervisor: Starter) -> None:
        self._supervisor = supervisor
        if self.listener:
            supervisor.start("queue.listener", self.listener.run)
        supervisor.start("queue.completer", self.completer.run)
        for index in range(self.consumer_count):
            supervisor.start(f"queue.consumer.{index}", self.consumers.consume)
        supervisor.start("queue.leases", self.leases.run)
        supervisor.start("queue.maintenance", self.maintenance.run)
        supervisor.start("queue.producer", self.producer.run)
        if not self.listener:
            log.warning("queue.polling_only", reason="no direct connection for LISTEN (DATABASE_DIRECT_URL)")

    def alive(self) -> bool:
        return self._supervisor is not None and self._supervisor.alive("queue.")

    def _on_done(self, job: Job, outcome: Outcome | None) -> None:
        self.producer.release(job.kind)
        if outcome is None:
            return
        self.completer.add(outcome)
        self.breaker.record(outcome)

    def _on_stop_request(self, payload: str) -> None:
        if payload.isdigit():
            self.consumers.interrupt(int(payload), Interrupt.STOP)

    async def drain(self, deadline: float) -> None:
        """Stop claiming, let running jobs finish until ``deadline`` (loop time), hand back the rest."""
        assert self._supervisor is not None
        loop = asyncio.get_running_loop()
        tasks = self._supervisor.tasks
        self.producer.stop()
        await asyncio.wait([tasks["queue.producer"]], timeout=max(0.1, deadline - loop.time()))
        for job in self.consumers.take_waiting():
            self._on_done(job, outcomes.released(job))
        self.consumers.close(self.consumer_count)
        consumers = [t for name, t in tasks.items() if name.startswith("queue.consumer.")]
        _, pending = await asyncio.wait(consumers, timeout=max(0.0, deadline - loop.time()))
        if pending:
            handed_back = self.consumers.interrupt_all(Interrupt.SHUTDOWN)
            log.warning("queue.drain.grace_over", handing_back=handed_back)
            _, pending = await asyncio.wait(pending, timeout=UNWIND_S)
            for task in pending:
                task.cancel()  # a handler that ignores cancellation; consume() still hands it back
            await asyncio.gather(*pending, return_exceptions=True)
        await self._supervisor.cancel("queue.producer")  # in case the claim never returned
        try:
            await asyncio.wait_for(self.completer.flush(), timeout=5.0)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            log.error(
                "queue.drain.unwritten",
                outcomes=self.completer.pending,
                error=str(error),
                note="those jobs stay leased until their lease expires, then run again",
            )
        await self._supervisor.cancel(*[name for name in tasks if name.startswith("queue.")])
