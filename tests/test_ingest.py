"""Ingest: fixity and probe of good files, clear errors for every kind of bad one."""

from __future__ import annotations

import hashlib

import pytest

from tasks.ingest import IngestError, probe_video, sha256_file
from tests.media import write_audio_only, write_video


def test_probe_reports_what_an_archivist_needs(tmp_path):
    film = write_video(tmp_path / "film.mp4", frames=50, fps=25, size=(160, 120), audio=True)
    probe = probe_video(film)
    assert probe.frame_count == 50
    assert probe.fps == pytest.approx(25.0)
    assert not probe.vfr
    assert (probe.width, probe.height) == (160, 120)
    assert probe.video_codec == "h264"
    assert probe.duration_s == pytest.approx(2.0, abs=0.05)
    assert len(probe.audio_tracks) == 1
    assert probe.audio_tracks[0]["codec"] == "aac" and probe.audio_tracks[0]["sample_rate"] == 48000
    assert probe.rotation == 0


def test_probe_detects_variable_frame_rate(tmp_path):
    # 40 ms steps, then 80 ms steps: 25 fps then 12.5 fps
    pts = [i * 40 for i in range(20)] + [800 + i * 80 for i in range(20)]
    film = write_video(tmp_path / "vfr.mkv", frames=40, fps=25, pts_list=pts)
    probe = probe_video(film)
    assert probe.vfr
    assert probe.frame_count == 40
    assert probe.duration_s == pytest.approx(2.4, abs=0.1)
    assert probe.fps == pytest.approx(40 / probe.duration_s, rel=0.01)


def test_probe_reads_rotation(tmp_path):
    film = write_video(tmp_path / "rot.mp4", frames=10, rotation=90)
    assert probe_video(film).rotation in (90, 270)


def test_sha256_matches_hashlib(tmp_path):
    film = write_video(tmp_path / "film.mp4", frames=10)
    assert sha256_file(film) == hashlib.sha256(film.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "kind, expect",
    [
        ("empty", r"empty \(0 bytes\)"),
        ("garbage", "not a readable video"),
        ("truncated", "truncated"),
        ("audio_only", "no video stream"),
        ("missing", "no such file"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_unusable_files_get_a_clear_reason(tmp_path, kind, expect):
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"\x00\x01not a video" * 500)
    elif kind == "truncated":
        good = write_video(tmp_path / "good.mp4", frames=120, faststart=True)
        data = good.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "audio_only":
        path = write_audio_only(tmp_path / "audio.m4a")
    with pytest.raises(IngestError, match=expect):
        probe_video(path)
