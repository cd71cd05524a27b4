"""foleyflow verify on a delivered film: watermark with its catalog record, C2PA, and after re-encoding."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from foleyflow.cli import app

pytestmark = pytest.mark.slow


def _reencode_audio(src: Path, dst: Path, bitrate: int) -> None:
    """The first audio stream of ``src`` alone, re-encoded to AAC at ``bitrate`` in an M4A (PyAV)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=inp.streams.audio[0].rate)
        stream.bit_rate = bitrate
        for frame in inp.decode(inp.streams.audio[0]):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _verify(path: Path) -> tuple[int, dict]:
    out = CliRunner().invoke(app, ["verify", str(path), "--json"])
    assert out.stdout.strip(), f"verify printed nothing (exit {out.exit_code}): {out.output[-2000:]} {out.exception!r}"
    return out.exit_code, json.loads(out.stdout)


@pytest.fixture()
def delivered_12s(prefect_harness, foleyflow_home, tmp_path):
    """A 12 s, three-shot film (made here), delivered; its status row. (The mark needs a few seconds of sound.)"""
    from catalog import repo
    from catalog.db import session_scope
    from flows.collection import process_collection
    from tests.media import write_video

    folder = tmp_path / "reel"
    folder.mkdir()
    write_video(folder / "film.mp4", frames=288, fps=24, scenes=3)
    assert process_collection(str(folder))["failed"] == 0
    with session_scope() as s:
        return repo.status_report(s)["films"][0]


def test_verify_finds_the_mark_its_record_and_a_valid_manifest(delivered_12s, tmp_path):
    from catalog.db import session_scope
    from catalog.models import Watermark
    import sqlalchemy as sa

    delivered = delivered_12s
    mp4 = Path(delivered["delivery_path"])
    code, result = _verify(mp4)
    with session_scope() as s:
        mark = s.scalars(sa.select(Watermark).where(Watermark.film_id == delivered["id"])).one()
        mark_id, generations = mark.id, mark.generation_ids
    assert code == 0
    assert result["watermark"]["present"] and result["watermark"]["payload"] == str(mark_id)
    assert result["catalog"]["generation_id"] == mark_id and result["catalog"]["generation_ids"] == generations
    assert result["catalog"]["film"]["id"] == delivered["id"] and result["catalog"]["sha256_match"] is True
    assert result["c2pa"]["present"] and result["c2pa"]["valid"]
    assert result["c2pa"]["generation"]["watermark"]["id"] == mark_id
    # the WAV stem carries the same mark and its own manifest
    stem = Path(result["catalog"]["delivery"]["soundtrack_path"])
    code, stem_result = _verify(stem)
    assert code == 0 and stem_result["watermark"]["payload"] == str(mark_id) and stem_result["c2pa"]["valid"]

    # re-encoded to AAC at 128 kbit/s: the manifest is gone, the file is not the catalog's, the mark stays
    m4a = tmp_path / "reencoded.m4a"
    _reencode_audio(mp4, m4a, 128_000)
    code, again = _verify(m4a)
    assert code == 0 and again["watermark"]["payload"] == str(mark_id)
    assert again["c2pa"]["present"] is False and again["catalog"]["sha256_match"] is False


def test_verify_unmarked_audio_is_not_found(foleyflow_home, tmp_path):
    from tasks.stitch import write_wav

    rng = np.random.default_rng(3)
    t = np.arange(16000 * 6) / 16000
    audio = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2 + 0.02 * rng.standard_normal(t.size)
    wav = write_wav(tmp_path / "plain.wav", audio, 16000)
    code, result = _verify(wav)
    assert code == 3 and result["watermark"]["present"] is False and result["watermark"]["payload"] is None
    assert result["c2pa"]["present"] is False and result["catalog"]["sha256_match"] is False


def test_verify_refuses_what_it_cannot_read(foleyflow_home, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    out = CliRunner().invoke(app, ["verify", str(bad)])
    assert out.exit_code == 1 and "verify reads .mp4, .m4a, .wav files" in out.stderr
    out = CliRunner().invoke(app, ["verify", str(tmp_path / "missing.mp4")])
    assert out.exit_code == 1 and "no such file" in out.stderr
