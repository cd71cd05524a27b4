"""Speaking intervals from the picture (tasks/speaking.py) on synthetic faces that speak at known times."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from foleyflow.video import VideoError
from tasks.speaking import PRESETS, FaceDetector, SpeakingResult, find_cascade, speaking_intervals, speaking_path
from tests.face_clips import CLEAN, OLD_FILM, Damage, _background, draw_face, no_face, silent_face, speaking_face

try:
    find_cascade()
except FileNotFoundError as exc:  # OpenCV 5's wheel ships no cascade: Debian's opencv-data does
    pytest.skip(str(exc), allow_module_level=True)

FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "footage"


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


@pytest.mark.parametrize("size", [60, 90, 130])
def test_the_detector_sees_the_drawn_face(size):
    img = _background(np.random.default_rng(size))[8:248, 8:328].copy()
    draw_face(img, 150, 120, size, 0.5)
    found = FaceDetector().detect(img, scale_factor=1.1, min_size=24, min_neighbors=4)
    assert len(found) == 1, found
    x, y, w, h = found[0]
    assert abs(x + w / 2 - 150) < 0.2 * size and abs(y + h / 2 - 120) < 0.3 * size
    assert 0.6 * size < w < 1.4 * size


@dataclass(frozen=True)
class Case:
    id: str
    damage: Damage
    seed: int
    size: float = 110
    sway: float = 6.0


CASES = [Case("clean", CLEAN, 0), Case("old-film", OLD_FILM, 1), Case("old-film-small-face", OLD_FILM, 2, size=75),
         Case("old-film-head-motion", OLD_FILM, 3, sway=14.0)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_intervals_cover_the_speech(tmp_path, case):
    clip = speaking_face(tmp_path / "talk.mkv", case.damage, case.seed, frames=120, size=case.size, sway=case.sway)
    assert clip.speaking_time > 1.0
    result = speaking_intervals(clip.path)
    found = overlap(clip.speaking, result.intervals)
    assert found >= 0.8 * clip.speaking_time, (clip.speaking, result.intervals)
    assert found >= 0.8 * result.speaking_time, (clip.speaking, result.intervals)
    assert all(0.0 <= a < b <= result.duration for a, b in result.intervals)
    assert result.faces.shape == result.mouth_activity.shape == (clip.frames,)
    assert (result.faces[clip.fps:-clip.fps] == 1).all()  # one face, tracked through


@pytest.mark.parametrize("damage", [CLEAN, OLD_FILM], ids=["clean", "old-film"])
def test_a_face_that_never_speaks_gives_no_intervals(tmp_path, damage):
    clip = silent_face(tmp_path / "silent.mkv", damage, seed=4, frames=96, sway=10.0)
    result = speaking_intervals(clip.path)
    assert result.intervals == []
    assert (result.faces > 0).mean() > 0.9  # the face was seen all the same


def test_no_face_no_intervals(tmp_path):
    clip = no_face(tmp_path / "empty.mkv", OLD_FILM, seed=5, frames=48)
    result = speaking_intervals(clip.path)
    assert result.intervals == []
    assert result.faces.max() == 0 and result.mouth_activity.max() == 0


def test_a_sub_range_is_timed_from_its_first_frame(tmp_path):
    clip = speaking_face(tmp_path / "talk.mkv", CLEAN, seed=6)
    start, stop = 24, 120
    result = speaking_intervals(clip.path, start, stop)
    truth = [(max(a - 1.0, 0.0), min(b - 1.0, 4.0)) for a, b in clip.speaking if b > 1.0 and a < 5.0]
    assert result.faces.size == stop - start
    assert result.duration == pytest.approx(4.0)
    assert overlap(truth, result.intervals) >= 0.8 * sum(b - a for a, b in truth)
    path = result.to_npz(speaking_path(clip.path))
    again = SpeakingResult.from_npz(path)
    assert np.allclose(again.intervals, result.intervals) and again.meta["stop_frame"] == stop


def test_bad_input_says_what_is_wrong(tmp_path):
    clip = no_face(tmp_path / "empty.mkv", CLEAN, seed=0, frames=12)
    with pytest.raises(VideoError, match="holds no frame"):
        speaking_intervals(clip.path, 20, 30)
    with pytest.raises(VideoError, match="holds no frame"):
        speaking_intervals(clip.path, 5, 5)
    with pytest.raises(VideoError, match="no such file"):
        speaking_intervals(tmp_path / "missing.mkv")
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"not a film at all" * 100)
    with pytest.raises(VideoError, match="not a readable video"):
        speaking_intervals(broken)


def test_a_missing_cascade_says_what_to_install(tmp_path, monkeypatch):
    import tasks.speaking as sp

    monkeypatch.setattr(sp, "_CASCADE_DIRS", ())
    monkeypatch.setattr(sp.cv2, "data", None, raising=False)
    monkeypatch.delenv("FOLEYFLOW_FACE_CASCADE", raising=False)
    clip = no_face(tmp_path / "empty.mkv", CLEAN, seed=0, frames=12)
    with pytest.raises(FileNotFoundError, match="opencv-data"):
        speaking_intervals(clip.path, config=sp.SpeakingConfig(cascade=str(tmp_path / "nothing.xml")))


@pytest.mark.skipif(not (FOOTAGE / "a-bomb_blast_effects_part.mp4").exists(),
                    reason="no shared real footage beside the repository")
def test_a_real_archival_face_is_tracked():
    # the clip's first shot: a soldier behind a truck window, looking (not speaking); cut at frame ~42
    result = speaking_intervals(FOOTAGE / "a-bomb_blast_effects_part.mp4", 0, 40, config=PRESETS["sensitive"])
    assert result.faces.size == 40
    assert (result.faces[:36] > 0).mean() > 0.8
    assert all(0.0 <= a < b <= result.duration for a, b in result.intervals)
