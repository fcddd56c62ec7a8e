"""S3-compatible object storage (optional, STORAGE_URL): Supabase Storage, Cloudflare R2, AWS S3, MinIO.

aiobotocore: the S3 client on aiohttp, like the rest of the process, so nothing blocks the loop.
Uploads from a file go in parts of PART_SIZE (S3's smallest), read one at a time: memory stays
flat whatever the file's size. Addressing is path-style (``endpoint/bucket/key``), which every
S3-compatible service accepts and Supabase and MinIO require. aiobotocore is imported only when
STORAGE_URL is set (about 35 MB and a quarter of a second); botocore's exceptions alone are light.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from botocore.exceptions import BotoCoreError, ClientError

from core.settings.sections import StorageSettings, reveal

log = structlog.get_logger("storage")

PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (except the last): the memory an upload holds
# What a failing call can raise: the service's answer, the SDK, the network.
STORAGE_ERRORS = (ClientError, BotoCoreError, aiohttp.ClientError, OSError, TimeoutError)


class Storage:
    def __init__(self, client: Any, *, inputs: str, outputs: str, link_ttl: float) -> None:
        self._client = client
        self.inputs = inputs
        self.outputs = outputs
        self.link_ttl = link_ttl

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Store small bytes (a photo) in one request."""
        await self._client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    async def upload(self, bucket: str, key: str, path: Path, content_type: str) -> int:
        """Stream a file into ``bucket/key``, one part in memory at a time; its size in bytes."""
        size = (await asyncio.to_thread(path.stat)).st_size
        if size <= PART_SIZE:
            await self.put(bucket, key, await asyncio.to_thread(path.read_bytes), content_type)
            return size
        upload = await self._client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            with path.open("rb") as file:
                while chunk := await asyncio.to_thread(file.read, PART_SIZE):
                    number = len(parts) + 1
                    part = await self._client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                    )
                    parts.append({"PartNumber": number, "ETag": part["ETag"]})
                    del chunk  # let the part go before the next one is read
            await self._client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # An abandoned multipart upload keeps its parts (and costs storage) until aborted.
            with contextlib.suppress(*STORAGE_ERRORS):
                await self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
        return size

    async def delete(self, bucket: str, key: str) -> None:
        """Remove ``bucket/key``; one already gone is no error (S3 answers 204 either way)."""
        await self._client.delete_object(Bucket=bucket, Key=key)

    async def exists(self, bucket: str, key: str) -> bool:
        try:
            await self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def get(self, bucket: str, key: str) -> bytes:
        """Small bytes back (the check's probe object)."""
        response = await self._client.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            return bytes(await body.read())

    async def bucket_exists(self, bucket: str) -> bool:
        try:
            await self._client.head_bucket(Bucket=bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    async def link(self, bucket: str, key: str, ttl: float | None = None) -> str:
        """A presigned GET URL, valid for ``ttl`` seconds (STORAGE_LINK_TTL, at most 7 days)."""
        return await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(ttl or self.link_ttl)
        )

    async def create_buckets(self) -> None:
        """Create the two buckets when missing (a fresh MinIO, a test); platforms usually have them."""
        for bucket in (self.inputs, self.outputs):
            try:
                await self._client.head_bucket(Bucket=bucket)
            except ClientError:
                await self._client.create_bucket(Bucket=bucket)


@contextlib.asynccontextmanager
async def open_storage(settings: StorageSettings) -> AsyncIterator[Storage | None]:
    """The storage for the life of the process, or None when STORAGE_URL is unset."""
    if not settings.url:
        yield None
        return
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    session = get_session()
    config = AioConfig(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": 3},
        # Checksums only where S3 demands them: several S3-compatible services refuse the default ones.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    async with session.create_client(
        "s3",
        endpoint_url=settings.url,
        region_name=settings.region,
        aws_access_key_id=reveal(settings.access_key),
        aws_secret_access_key=reveal(settings.secret_key),
        config=config,
    ) as client:
        log.info("storage.ready", inputs=settings.inputs_bucket, outputs=settings.outputs_bucket)
        yield Storage(
            client,
            inputs=settings.inputs_bucket,
            outputs=settings.outputs_bucket,
            link_ttl=settings.link_ttl,
        )
