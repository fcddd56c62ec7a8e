"""A tiny MP4 writer: real ISO BMFF headers around zero padding, for the fake KIE, tests and benches.

The file is ``ftyp`` + ``moov`` (``mvhd``, one video ``trak`` with ``tkhd`` and ``mdia``/``mdhd``/``hdlr``
'vide', optionally an audio ``trak`` first) + ``mdat`` padding up to the size asked for. No sample tables:
nothing can play it, but every header a prober reads is as a muxer writes it (ISO/IEC 14496-12).

``chunks()`` yields the file piece by piece, so a 200 MB video is never built in memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024
UNITY = 0x00010000  # 1.0 in 16.16 fixed point
W_UNITY = 0x40000000  # 1.0 in 2.30, the matrix's last column
# The tkhd matrix (a, b, u, c, d, v, x, y, w) for a clockwise display rotation, as phones write it.
MATRICES = {
    0: (UNITY, 0, 0, 0, UNITY, 0, 0, 0, W_UNITY),
    90: (0, UNITY, 0, -UNITY, 0, 0, 0, 0, W_UNITY),
    180: (-UNITY, 0, 0, 0, -UNITY, 0, 0, 0, W_UNITY),
    270: (0, -UNITY, 0, UNITY, 0, 0, 0, 0, W_UNITY),
}


@dataclass(frozen=True)
class Mp4Spec:
    """What the header says. ``width``/``height`` go into ``tkhd`` as stored (before ``rotation``)."""

    width: int = 720
    height: int = 1280
    duration_s: float = 8.0
    timescale: int = 1000
    version: int = 0  # 1: 64-bit times and durations in mvhd, tkhd and mdhd
    rotation: int = 0  # 0, 90, 180 or 270
    audio_track: bool = False  # an 'soun' trak before the video one
    mvhd_duration: bool = True  # False: mvhd says 0, only mdhd knows the duration
    moov_first: bool = True  # False: ftyp + mdat + moov, as a muxer without faststart writes it
    largesize_mdat: bool = False  # the mdat header uses the 64-bit largesize form


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _times(spec: Mp4Spec, duration: int) -> bytes:
    """creation, modification, timescale, duration: the shared head of mvhd and mdhd."""
    if spec.version == 1:
        return struct.pack(">QQIQ", 0, 0, spec.timescale, duration)
    return struct.pack(">IIII", 0, 0, spec.timescale, duration)


def _matrix(rotation: int) -> bytes:
    return struct.pack(">9i", *MATRICES[rotation])


def mvhd(spec: Mp4Spec) -> bytes:
    duration = round(spec.duration_s * spec.timescale) if spec.mvhd_duration else 0
    tail = struct.pack(">IH10x", UNITY, 0x0100) + _matrix(0) + bytes(24) + struct.pack(">I", 3)
    return full_box(b"mvhd", spec.version, 0, _times(spec, duration) + tail)


def tkhd(spec: Mp4Spec, track_id: int, width: int, height: int, rotation: int) -> bytes:
    duration = round(spec.duration_s * spec.timescale)
    if spec.version == 1:
        head = struct.pack(">QQII", 0, 0, track_id, 0) + struct.pack(">Q", duration)
    else:
        head = struct.pack(">IIIII", 0, 0, track_id, 0, duration)
    # reserved (8), layer, alternate group, volume, reserved (2 each): all zero for a video track
    tail = bytes(16) + _matrix(rotation) + struct.pack(">II", width << 16, height << 16)
    return full_box(b"tkhd", spec.version, 3, head + tail)


def mdia(spec: Mp4Spec, handler: bytes) -> bytes:
    mdhd = full_box(b"mdhd", spec.version, 0, _times(spec, round(spec.duration_s * spec.timescale)) + bytes(4))
    hdlr = full_box(b"hdlr", 0, 0, bytes(4) + handler + bytes(12) + b"Handler\x00")
    return box(b"mdia", mdhd + hdlr)


def header(spec: Mp4Spec) -> tuple[bytes, bytes]:
    """(ftyp, moov)."""
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    traks = []
    if spec.audio_track:
        traks.append(box(b"trak", tkhd(spec, 2, 0, 0, 0) + mdia(spec, b"soun")))
    video = tkhd(spec, 1, spec.width, spec.height, spec.rotation) + mdia(spec, b"vide")
    traks.append(box(b"trak", video))
    return ftyp, box(b"moov", mvhd(spec) + b"".join(traks))


def file_size(spec: Mp4Spec, total: int) -> int:
    """The size ``chunks(spec, total)`` really yields: ``total``, or the headers' size if they need more."""
    ftyp, moov = header(spec)
    mdat_head = 16 if spec.largesize_mdat else 8
    return max(total, len(ftyp) + len(moov) + mdat_head)


def chunks(spec: Mp4Spec, total: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """The file, ``total`` bytes long (at least its headers), in pieces of at most ``chunk`` bytes."""
    ftyp, moov = header(spec)
    size = file_size(spec, total)
    mdat_size = size - len(ftyp) - len(moov)
    if spec.largesize_mdat:
        mdat = struct.pack(">I4sQ", 1, b"mdat", mdat_size)
    else:
        mdat = struct.pack(">I4s", mdat_size, b"mdat")
    padding = mdat_size - len(mdat)
    yield ftyp
    if spec.moov_first:
        yield moov
    yield mdat
    zeros = bytes(chunk)
    for offset in range(0, padding, chunk):
        yield zeros[: min(chunk, padding - offset)]
    if not spec.moov_first:
        yield moov


def write(path: Path, spec: Mp4Spec | None = None, total: int = 0) -> Path:
    """Write an MP4 of ``total`` bytes (at least its headers) to ``path``."""
    with path.open("wb") as out:
        for piece in chunks(spec or Mp4Spec(), total):
            out.write(piece)
    return path
