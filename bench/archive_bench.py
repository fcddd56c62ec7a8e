"""Archiving a big video: how much memory the upload takes, and how fast it goes.

    python -m bench.archive_bench [--megabytes 200]

A file of ``--megabytes`` random bytes is streamed by ``archive_video`` (core/pipeline/archive.py)
to an S3-compatible server (moto in server mode, in a process of its own so the copy it keeps in
memory is not counted here), then its presigned link is downloaded back and compared. Resident
memory of this process is sampled every 10 ms during the upload; "grew" is the peak minus the
resident memory just before (after a small upload warmed the client up).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import free_port, rss_mb, table
from core.pipeline.archive import archive_video, video_link
from core.settings import Settings
from core.storage import PART_SIZE, open_storage
from tests.helpers import SECRETS


async def run(args: argparse.Namespace) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    directory = Path(tempfile.mkdtemp(prefix="reelsmith-archive-bench-"))
    video = directory / "video.mp4"
    digest = hashlib.sha256()
    with video.open("wb") as file:
        for _ in range(args.megabytes):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            file.write(block)
    settings = Settings.from_env(
        {
            **SECRETS,
            "STORAGE_URL": f"http://127.0.0.1:{port}",
            "STORAGE_ACCESS_KEY": "bench",
            "STORAGE_SECRET_KEY": "bench-secret",
        }
    )
    try:
        await _wait_for_port(port)
        async with open_storage(settings.storage) as storage:
            assert storage is not None
            await storage.create_buckets()
            warm = directory / "warm.mp4"
            warm.write_bytes(os.urandom(2 * PART_SIZE + 1))
            await archive_video(storage, user_id=1, generation_id=1, path=warm)  # client and parts warmed up
            before = rss_mb(os.getpid())
            peak = before
            done = asyncio.Event()

            async def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, rss_mb(os.getpid()))
                    await asyncio.sleep(0.01)

            sampler = asyncio.create_task(sample())
            started = time.perf_counter()
            key = await archive_video(storage, user_id=1, generation_id=2, path=video)
            elapsed = time.perf_counter() - started
            done.set()
            await sampler
            assert key is not None
            link = await video_link(storage, user_id=1, generation_id=2)
            assert link is not None
            downloaded = hashlib.sha256()
            async with aiohttp.ClientSession() as http, http.get(link) as response:
                async for chunk in response.content.iter_chunked(1024 * 1024):
                    downloaded.update(chunk)
            same = downloaded.digest() == digest.digest()
        table(
            f"archive_video of {args.megabytes} MB (parts of {PART_SIZE // (1024 * 1024)} MB) to moto on 127.0.0.1",
            [
                ("upload", f"{elapsed:.1f} s, {args.megabytes / elapsed:,.0f} MB/s"),
                ("resident memory", f"{before:.0f} MB before, peak {peak:.0f} MB: grew {peak - before:.1f} MB"),
                ("link downloads it back", "yes, same sha256" if same else "NO: the bytes differ"),
            ],
        )
    finally:
        server.terminate()
        server.wait()
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()


async def _wait_for_port(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("moto server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
