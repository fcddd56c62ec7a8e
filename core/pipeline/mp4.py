"""An MP4's video width, height and duration, read from its header (ISO/IEC 14496-12), without ffmpeg.

Telegram shows a video with the width, height and duration ``sendVideo`` claims, so they must be the file's
own. Only box headers and four small leaf boxes are read; every other box (``mdat`` above all, wherever it
sits) is skipped by seeking, so memory and time stay flat whatever the file's size. Anything that does not
walk as MP4 boxes gives ``None``: the caller then sends the video without dimensions.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_BOXES = 10_000  # a real header has a few dozen; junk that happens to parse must not spin for long
LEAF_READ = 128  # the largest leaf read here (tkhd version 1) is 96 bytes after its header


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration_s: float


class _Malformed(Exception):
    """The bytes are not the MP4 boxes they claim to be."""


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int  # the payload's first byte
    end: int  # one past its last byte


@dataclass
class _Track:
    handler: bytes = b""
    width: int = 0
    height: int = 0
    timescale: int = 0
    duration: int = 0


def probe(path: Path) -> VideoInfo | None:
    """The first video track's display size and the movie's duration, or None if the file is not a readable MP4."""
    try:
        with path.open("rb") as file:
            return _probe(file, os.fstat(file.fileno()).st_size)
    except (OSError, _Malformed, struct.error):
        return None


def _probe(file: BinaryIO, size: int) -> VideoInfo | None:
    budget = [MAX_BOXES]
    top = list(_boxes(file, 0, size, budget))
    moovs = [b for b in top if b.kind == b"moov"]
    if len(moovs) != 1 or top[0].kind not in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"):
        return None
    timescale, duration = 0, 0
    video: _Track | None = None
    for child in _boxes(file, moovs[0].start, moovs[0].end, budget):
        if child.kind == b"mvhd":
            timescale, duration = _mvhd(_leaf(file, child))
        elif child.kind == b"trak" and video is None:
            track = _trak(file, child, budget)
            if track.handler == b"vide" and track.width > 0 and track.height > 0:
                video = track
    if video is None:
        return None
    if timescale > 0 and 0 < duration < _unknown(duration):
        seconds = duration / timescale
    elif video.timescale > 0 and 0 < video.duration < _unknown(video.duration):
        seconds = video.duration / video.timescale
    else:
        seconds = 0.0  # a fragmented MP4 announces no duration up front
    return VideoInfo(video.width, video.height, seconds)


def _unknown(duration: int) -> int:
    """All ones means "unknown" in both the 32- and 64-bit forms."""
    return 0xFFFFFFFF if duration <= 0xFFFFFFFF else 0xFFFFFFFFFFFFFFFF


def _boxes(file: BinaryIO, start: int, end: int, budget: list[int]) -> Iterator[_Box]:
    """The boxes laid end to end between ``start`` and ``end``; raises _Malformed if they do not fit exactly."""
    offset = start
    while offset < end:
        budget[0] -= 1
        if budget[0] < 0 or end - offset < 8:
            raise _Malformed
        file.seek(offset)
        size, kind = struct.unpack(">I4s", _read(file, 8))
        head = 8
        if size == 1:
            (size,) = struct.unpack(">Q", _read(file, 8))
            head = 16
        elif size == 0:
            size = end - offset  # the box runs to the end of its parent (in practice: of the file)
        if size < head or offset + size > end or not kind.isascii() or not kind.decode().isprintable():
            raise _Malformed
        yield _Box(kind, offset + head, offset + size)
        offset += size


def _read(file: BinaryIO, count: int) -> bytes:
    data = file.read(count)
    if len(data) != count:
        raise _Malformed
    return data


def _leaf(file: BinaryIO, box: _Box) -> bytes:
    file.seek(box.start)
    data = file.read(min(box.end - box.start, LEAF_READ))
    if len(data) < 12:  # version, flags and at least a handler type
        raise _Malformed
    return data


def _mvhd(data: bytes) -> tuple[int, int]:
    """(timescale, duration); mdhd has the same head."""
    if data[0] == 1:
        return struct.unpack_from(">IQ", data, 20)
    return struct.unpack_from(">II", data, 12)


def _trak(file: BinaryIO, trak: _Box, budget: list[int]) -> _Track:
    track = _Track()
    for child in _boxes(file, trak.start, trak.end, budget):
        if child.kind == b"tkhd":
            track.width, track.height = _tkhd(_leaf(file, child))
        elif child.kind == b"mdia":
            for part in _boxes(file, child.start, child.end, budget):
                if part.kind == b"mdhd":
                    track.timescale, track.duration = _mvhd(_leaf(file, part))
                elif part.kind == b"hdlr":
                    track.handler = _leaf(file, part)[8:12]
    return track


def _tkhd(data: bytes) -> tuple[int, int]:
    """The display size: the stored 16.16 size, turned by the matrix when it rotates by 90 or 270 degrees."""
    matrix_at = 40 if data[0] == 0 else 52
    a, b = struct.unpack_from(">ii", data, matrix_at)
    width, height = struct.unpack_from(">II", data, matrix_at + 36)
    width, height = round(width / 65536), round(height / 65536)
    if abs(b) > abs(a):  # cos(θ) ≈ 0: a quarter turn
        return height, width
    return width, height
