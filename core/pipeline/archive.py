"""Keep what users made: the input photo and the final video, in the storage's two buckets.

Called from the deliver step and /history, when STORAGE_URL is set (``storage`` None otherwise:
every function then does nothing and says so by returning None). Keys follow from the ids, so no
row needs to remember them: ``inputs/<user>/<generation>.jpg``, ``outputs/<user>/<generation>.mp4``.
A video too large for Telegram is linked from here with a presigned URL (STORAGE_LINK_TTL, 7 days),
made anew on each request, instead of KIE's URL, which dies after a few days.

Archiving never fails a generation: a storage that is down costs the copy, logged, not the video.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from core.storage import STORAGE_ERRORS, Storage

log = structlog.get_logger("generation.archive")


def input_key(user_id: int, generation_id: int) -> str:
    return f"{user_id}/{generation_id}.jpg"


def video_key(user_id: int, generation_id: int) -> str:
    return f"{user_id}/{generation_id}.mp4"


async def archive_input(
    storage: Storage | None, *, user_id: int, generation_id: int, photo: bytes, content_type: str = "image/jpeg"
) -> str | None:
    """Store the user's photo; its key, or None when there is no storage or it failed."""
    if storage is None:
        return None
    key = input_key(user_id, generation_id)
    try:
        await storage.put(storage.inputs, key, photo, content_type)
    except STORAGE_ERRORS as error:
        log.warning("generation.archive.input_failed", generation_id=generation_id, error=_describe(error))
        return None
    log.info("generation.archive.input_stored", generation_id=generation_id, bytes=len(photo))
    return key


async def archive_video(storage: Storage | None, *, user_id: int, generation_id: int, path: Path) -> str | None:
    """Stream the finished video from its temporary file; its key, or None (no storage, or it failed)."""
    if storage is None:
        return None
    key = video_key(user_id, generation_id)
    try:
        size = await storage.upload(storage.outputs, key, path, "video/mp4")
    except STORAGE_ERRORS as error:
        log.warning("generation.archive.video_failed", generation_id=generation_id, error=_describe(error))
        return None
    log.info("generation.archive.video_stored", generation_id=generation_id, bytes=size)
    return key


async def video_link(storage: Storage | None, *, user_id: int, generation_id: int) -> str | None:
    """A fresh presigned link to the archived video, or None when it is not archived (or no storage)."""
    if storage is None:
        return None
    key = video_key(user_id, generation_id)
    try:
        if not await storage.exists(storage.outputs, key):
            return None
        return await storage.link(storage.outputs, key)
    except STORAGE_ERRORS as error:
        log.warning("generation.archive.link_failed", generation_id=generation_id, error=_describe(error))
        return None


async def forget(storage: Storage | None, *, user_id: int, generation_id: int) -> None:
    """Delete a generation's archived photo and video (erasure, retention). Raises on a storage
    error: the job that calls it is retried, so nothing is left behind by a blip."""
    if storage is None:
        return
    await storage.delete(storage.inputs, input_key(user_id, generation_id))
    await storage.delete(storage.outputs, video_key(user_id, generation_id))


def _describe(error: BaseException) -> str:
    # Botocore's messages name the bucket and key, never the credentials; the URL is not in them.
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
