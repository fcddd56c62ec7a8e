"""core.pipeline.mp4 reads a video's size and duration from MP4 headers the tiny writer in tests/fakes/mp4.py makes."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.pipeline.mp4 import VideoInfo, probe
from tests.fakes import mp4
from tests.fakes.mp4 import Mp4Spec


def make(tmp_path: Path, spec: Mp4Spec, total: int = 0, name: str = "v.mp4") -> Path:
    return mp4.write(tmp_path / name, spec, total)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (Mp4Spec(), VideoInfo(720, 1280, 8.0)),
        (Mp4Spec(width=1080, height=1920, duration_s=5.5, timescale=90000), VideoInfo(1080, 1920, 5.5)),
        (Mp4Spec(version=1, duration_s=12.25), VideoInfo(720, 1280, 12.25)),
        (Mp4Spec(moov_first=False), VideoInfo(720, 1280, 8.0)),
        (Mp4Spec(largesize_mdat=True, moov_first=False), VideoInfo(720, 1280, 8.0)),
        (Mp4Spec(audio_track=True), VideoInfo(720, 1280, 8.0)),  # the sound track is not the video
        (Mp4Spec(mvhd_duration=False, duration_s=3.0), VideoInfo(720, 1280, 3.0)),  # mdhd is the fallback
        (Mp4Spec(width=1920, height=1080, rotation=90), VideoInfo(1080, 1920, 8.0)),  # a phone held upright
        (Mp4Spec(width=1920, height=1080, rotation=270), VideoInfo(1080, 1920, 8.0)),
        (Mp4Spec(width=1920, height=1080, rotation=180), VideoInfo(1920, 1080, 8.0)),
    ],
    ids=["default", "90k", "v1", "moov-last", "largesize", "audio", "mdhd", "rot90", "rot270", "rot180"],
)
def test_probe_reads_size_and_duration(tmp_path: Path, spec: Mp4Spec, expected: VideoInfo) -> None:
    assert probe(make(tmp_path, spec, total=100_000)) == expected


def test_mdat_of_size_zero_runs_to_the_end(tmp_path: Path) -> None:
    path = make(tmp_path, Mp4Spec(), total=50_000)
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat") - 4
    assert struct.unpack_from(">I", data, at)[0] == len(data) - at  # the last box
    data[at : at + 4] = bytes(4)
    path.write_bytes(data)
    assert probe(path) == VideoInfo(720, 1280, 8.0)


def test_reads_headers_only(tmp_path: Path) -> None:
    """A 64 MB mdat in front of the moov is seeked past: memory stays far below the file size."""
    path = make(tmp_path, Mp4Spec(moov_first=False), total=64 * 1024 * 1024)
    tracemalloc.start()
    try:
        assert probe(path) == VideoInfo(720, 1280, 8.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a video at all, just some text that goes on for a while",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42",  # ftyp and nothing else
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42" + b"\x00\x00\x00\x08moov",  # an empty moov
        b"\x00\x00\x00\x01mdat" + struct.pack(">Q", 4),  # a largesize smaller than its own header
    ],
    ids=["empty", "text", "png", "ftyp-only", "empty-moov", "bad-largesize"],
)
def test_junk_is_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.mp4"
    path.write_bytes(content)
    assert probe(path) is None


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert probe(tmp_path / "absent.mp4") is None


def test_no_video_track_is_none(tmp_path: Path) -> None:
    path = make(tmp_path, Mp4Spec(width=0, height=0))  # a track whose tkhd has no size: audio-like
    assert probe(path) is None


def test_every_truncation_is_none(tmp_path: Path) -> None:
    spec = Mp4Spec(audio_track=True)
    whole = make(tmp_path, spec, total=2_000).read_bytes()
    boundary = sum(map(len, mp4.header(spec)))  # ftyp + moov with no mdat is a whole file, not a cut one
    path = tmp_path / "cut.mp4"
    for length in (n for n in range(len(whole)) if n != boundary):
        path.write_bytes(whole[:length])
        assert probe(path) is None, length


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_headers_never_raise(tmp_path: Path, data: st.DataObject) -> None:
    spec = Mp4Spec(version=data.draw(st.sampled_from([0, 1])), audio_track=data.draw(st.booleans()))
    ftyp, moov = mp4.header(spec)
    raw = bytearray(ftyp + moov + struct.pack(">I4s", 8, b"mdat"))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    path = tmp_path / "fuzz.mp4"
    path.write_bytes(bytes(raw))
    info = probe(path)
    assert info is None or (info.width >= 0 and info.height >= 0 and info.duration_s >= 0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=512))
def test_random_bytes_never_raise(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "random.mp4"
    path.write_bytes(content)
    assert probe(path) is None
