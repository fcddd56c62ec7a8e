"""The job queue: PostgreSQL rows claimed with FOR UPDATE SKIP LOCKED, run by in-process consumers.

Producers enqueue inside their own transaction (``enqueue``); handlers are registered by kind in a
``Registry``; a ``Worker`` claims, runs and records jobs. See jobs.py for what handlers may answer.
"""

from core.backoff import Backoff
from core.queue.enqueue import NewJob, cancel, enqueue, enqueue_many
from core.queue.jobs import Cancel, Classifier, Job, JobSpec, Registry, RetryAfter, Snooze, TransientError

__all__ = [
    "Backoff",
    "Cancel",
    "Classifier",
    "Job",
    "JobSpec",
    "NewJob",
    "Registry",
    "RetryAfter",
    "Snooze",
    "TransientError",
    "cancel",
    "enqueue",
    "enqueue_many",
]
