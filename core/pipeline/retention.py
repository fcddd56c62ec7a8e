"""How long what users wrote and sent is kept, and erasing it on request (README, "Privacy").

- ``privacy.retention``: one job across all processes (enqueued at start with a fixed unique key,
  like the housekeeping), run once a day: generations older than RETENTION_DAYS lose their idea,
  prompt and photo in the database, then their archived photo and video in storage.
  The same run deletes proposals never confirmed after DRAFT_DAYS (drafts and discarded ones: each
  "Again" tap, replaced proposal or moderation refusal leaves a row nothing else removes).
- ``privacy.erase_archive`` {user_id, generation_ids}: /deletemydata's storage half, enqueued in
  the erasing transaction and run after it (storage is a network call).

Archived objects expire by this job's deletion, not by an S3 lifecycle rule: the keys follow from
the ids the database clears, so the two stay in step (no history entry links to a deleted video,
no object outlives its row's retention), it needs no bucket-configuration permission, and it works
the same on every S3-compatible store, including those without lifecycle rules.

Input photos kept for the provider (generation_inputs) go as soon as a generation ends: at the
provider's acceptance (steps), at a cancel, and at a failure (core/pipeline/refunds.py).
"""

from __future__ import annotations

import structlog

from core.pipeline.archive import forget
from core.pipeline.services import App
from core.queue import Job, JobSpec, Registry, Snooze
from db import generations as db_generations
from db import privacy as db_privacy

log = structlog.get_logger("privacy")

RETENTION = "privacy.retention"
ERASE_ARCHIVE = "privacy.erase_archive"
DAY_S = 86_400
BATCH = 500
DRAFT_DAYS = 2  # a proposal left that long is abandoned; its buttons then answer "draft_gone"


class Retention:
    def __init__(self, app: App) -> None:
        self.app = app

    def register(self, registry: Registry) -> Registry:
        registry.add(JobSpec(RETENTION, self.retention, timeout=600, max_attempts=5))
        registry.add(JobSpec(ERASE_ARCHIVE, self.erase_archive, timeout=300, max_attempts=10))
        return registry

    async def retention(self, _job: Job) -> Snooze:
        """Clear what is older than RETENTION_DAYS, a batch at a time; then again in a day."""
        days, cleared = self.app.settings.product.retention_days, 0
        while batch := await self._clear_batch(days):
            cleared += len(batch)
        if cleared:
            log.info("privacy.retention.cleared", generations=cleared, days=days)
        await self._delete_drafts()
        return Snooze(DAY_S)

    async def _delete_drafts(self) -> None:
        """Drafts carry no money and no archive object: a batch per statement, each committed alone."""
        deleted = 0
        while batch := await db_generations.delete_stale_drafts(self.app.pool, DRAFT_DAYS, BATCH):
            deleted += batch
        if deleted:
            log.info("generations.drafts.deleted", drafts=deleted, days=DRAFT_DAYS)

    async def _clear_batch(self, days: int) -> list[tuple[int, int]]:
        """One batch, its objects deleted before its rows commit: a storage error rolls the rows back,
        so the retried job finds them again (the rows are months old: no one else waits on them)."""
        async with self.app.pool.acquire() as conn, conn.transaction():
            batch = await db_privacy.clear_old(conn, days, BATCH)
            for generation_id, user_id in batch:
                await forget(self.app.storage, user_id=user_id, generation_id=generation_id)
        return batch

    async def erase_archive(self, job: Job) -> None:
        user_id = job.payload["user_id"]
        for generation_id in job.payload["generation_ids"]:
            await forget(self.app.storage, user_id=user_id, generation_id=generation_id)
        log.info("privacy.erased_archive", generations=len(job.payload["generation_ids"]))
