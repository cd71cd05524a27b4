"""Shot detection on footage with the troubles of old film, and on real archival clips."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from foleyflow.video import VideoWriter
from tasks.shots import ShotConfig, detect_shots, format_timecode, write_keyframes
from tests.conftest import require_shared

W, H = 192, 144


def _texture(seed: int, size=(480, 640)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size[0] // 12, size[1] // 12), dtype=np.uint8)
    tex = cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):  # a few shapes so scenes differ in structure, not only in noise
        c = tuple(int(v) for v in rng.integers(0, [size[1], size[0]]))
        cv2.circle(tex, c, int(rng.integers(15, 60)), int(rng.integers(0, 255)), -1)
    return tex


@dataclass(frozen=True)
class Case:
    name: str
    frames: int = 96
    cuts: tuple[int, ...] = ()  # first frames of new scenes
    pan: float = 0.0  # px per frame
    shake: float = 0.0  # px std
    flicker: float = 0.0  # relative brightness std
    dust: int = 0  # specks per frame
    fade_at: int | None = None  # fade out and in through black around this frame (16 frames each way)


CASES = [
    Case("flicker", flicker=0.2),
    Case("dust", dust=25),
    Case("fast-pan", pan=14.0),
    Case("camera-shake", shake=5.0),
    Case("all-troubles", pan=6.0, shake=3.0, flicker=0.15, dust=15),
    Case("three-hard-cuts", frames=120, cuts=(30, 55, 90), flicker=0.1, dust=8),
    Case("fade-through-black", frames=120, fade_at=60),
]


def _render(case: Case, path: Path) -> Path:
    rng = np.random.default_rng(42)
    scene_starts = [0, *case.cuts]
    with VideoWriter(path, fps=24, width=W, height=H, codec="h264", crf=16, input_format="gray", pix_fmt="yuv420p") as w:
        for i in range(case.frames):
            scene = sum(i >= s for s in scene_starts) - 1
            if case.fade_at is not None:
                scene = int(i >= case.fade_at)
            tex = _texture(scene)
            x = 40 + case.pan * i + rng.normal(0, case.shake)
            y = 60 + rng.normal(0, case.shake)
            x = int(np.clip(x, 0, tex.shape[1] - W * 2))
            y = int(np.clip(y, 0, tex.shape[0] - H * 2))
            frame = cv2.resize(tex[y:y + H * 2, x:x + W * 2], (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
            # a moving object
            cx = int((i * 3) % W)
            cv2.circle(frame, (cx, H // 2), 10, 250.0, -1)
            frame *= 1.0 + rng.normal(0, case.flicker) if case.flicker else 1.0
            if case.fade_at is not None:
                frame *= min(1.0, abs(i - case.fade_at + 0.5) / 16)
            for _ in range(case.dust):
                cv2.circle(frame, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.integers(1, 4)),
                           float(rng.choice([5.0, 250.0])), -1)
            w.write(np.clip(frame, 0, 255).astype(np.uint8))
    return path


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_only_real_cuts_are_found(tmp_path, case):
    result = detect_shots(_render(case, tmp_path / f"{case.name}.mp4"))
    if case.fade_at is not None:
        assert len(result.cuts) == 1 and abs(result.cuts[0] - case.fade_at) <= 16
        return
    assert len(result.cuts) == len(case.cuts), result.cuts
    for found, truth in zip(result.cuts, case.cuts):
        assert abs(found - truth) <= 1
    assert result.frames == case.frames
    assert result.shots[0].start_frame == 0 and result.shots[-1].end_frame == case.frames


def test_json_shape_and_timecodes(tmp_path):
    result = detect_shots(_render(Case("cuts", frames=72, cuts=(24, 48)), tmp_path / "c.mp4"))
    data = json.loads(json.dumps(result.to_json()))
    assert data["fps"] == pytest.approx(24.0) and data["frames"] == 72
    assert data["shots"][1] == {"index": 1, "start_frame": 24, "end_frame": 48,
                                "start": "00:00:01.000", "end": "00:00:02.000"}
    assert format_timecode(44 / 29) == "00:00:01.517"
    assert format_timecode(3725.5) == "01:02:05.500"


def test_min_shot_length_merges_flashes(tmp_path):
    path = _render(Case("flash", frames=96, cuts=(40, 43)), tmp_path / "f.mp4")
    assert detect_shots(path, config=ShotConfig(min_shot_seconds=0.5)).cuts in ([40], [43])


def test_one_keyframe_per_shot(tmp_path):
    path = _render(Case("cuts", frames=72, cuts=(24, 48)), tmp_path / "c.mp4")
    shots = detect_shots(path)
    thumbs = write_keyframes(path, shots, tmp_path / "kf", width=128)
    assert [p.name for p in thumbs] == ["shot-0000.jpg", "shot-0001.jpg", "shot-0002.jpg"]
    images = [cv2.imread(str(p)) for p in thumbs]
    assert all(img is not None and img.shape[1] == 128 for img in images)
    assert not np.array_equal(images[0], images[1])
    assert not list((tmp_path / "kf").glob(".*partial*"))


@pytest.mark.shared
@pytest.mark.parametrize("name, cuts", [("a-bomb_blast_effects_part.mp4", [44, 134, 299]), ("chaplin.mp4", [])])
def test_real_archival_footage(name, cuts):
    footage = require_shared(name)
    found = detect_shots(footage / name).cuts
    assert len(found) == len(cuts), found
    assert all(abs(f - c) <= 1 for f, c in zip(found, cuts)), found
