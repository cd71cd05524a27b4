"""Synthetic shots of faces that speak at known times, for tests/test_speaking.py and bench/bench_speaking.py.

A face is drawn procedurally so that OpenCV's frontal-face Haar cascade finds it
(a light oval with shading, hair, dark eye sockets under brows, a nose shadow,
a mouth whose opening is set per frame). While the face speaks the mouth opens
and closes at a syllable rate of 3-6 Hz with random opening; otherwise it stays
closed. The head can sway (slow translation), and the old-film damage of
tests/motion_clips.py (flicker, grain, dust, jitter) is applied on writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tests.motion_clips import CLEAN, FPS, H, OLD_FILM, W, Damage, _background, _write

__all__ = ["CLEAN", "OLD_FILM", "FPS", "Damage", "FaceClip", "draw_face", "speaking_face", "silent_face", "no_face"]


@dataclass
class FaceClip:
    path: Path
    fps: float
    frames: int
    speaking: list[tuple[float, float]] = field(default_factory=list)  # true intervals, seconds

    @property
    def speaking_time(self) -> float:
        return float(sum(b - a for a, b in self.speaking))


def draw_face(img: np.ndarray, cx: float, cy: float, size: float, mouth_open: float, tone: int = 200) -> None:
    """Draw a frontal face centred at (cx, cy), ``size`` pixels high, mouth opening in [0, 1], in place."""
    s = size / 100.0
    c = (int(round(cx)), int(round(cy)))

    def pt(dx, dy):
        return int(round(cx + dx * s)), int(round(cy + dy * s))

    def ax(a, b):
        return max(1, int(round(a * s))), max(1, int(round(b * s)))

    cv2.ellipse(img, pt(0, -12), ax(44, 46), 0, 0, 360, 45, -1)  # hair behind the head
    cv2.ellipse(img, c, ax(38, 50), 0, 0, 360, tone, -1)  # the face
    cv2.ellipse(img, pt(0, -44), ax(40, 16), 0, 180, 360, 45, -1)  # hairline
    for side in (-1, 1):
        cv2.ellipse(img, pt(side * 36, 6), ax(8, 30), 0, 0, 360, tone - 45, -1)  # shaded cheek sides
        cv2.ellipse(img, pt(side * 15, -20), ax(12, 4), 0, 180, 360, 35, -1)  # brow
        cv2.ellipse(img, pt(side * 15, -12), ax(10, 6), 0, 0, 360, 60, -1)  # eye socket
        cv2.circle(img, pt(side * 15, -12), max(1, int(round(3 * s))), 20, -1)  # pupil
    cv2.ellipse(img, pt(0, 4), ax(5, 12), 0, 0, 360, tone - 35, -1)  # nose ridge shadow
    cv2.ellipse(img, pt(0, 14), ax(9, 3), 0, 0, 360, tone - 70, -1)  # nostrils
    # mouth: lips always, a dark opening whose height follows mouth_open
    cv2.ellipse(img, pt(0, 30), ax(15, 3), 0, 0, 360, tone - 80, -1)
    if mouth_open > 0.02:
        cv2.ellipse(img, pt(0, 30 + 2 * mouth_open), ax(13, 1 + 9 * mouth_open), 0, 0, 360, 25, -1)


def _syllables(rng: np.random.Generator, n: int, fps: float, intervals: list[tuple[float, float]]) -> np.ndarray:
    """Mouth opening per frame: 3-6 Hz open/close cycles inside the intervals, closed elsewhere."""
    out = np.zeros(n)
    t = np.arange(n) / fps
    for a, b in intervals:
        u = a
        while u < b:
            period = 1.0 / rng.uniform(3.0, 6.0)
            end = min(u + period, b)
            inside = (t >= u) & (t < end)
            out[inside] = rng.uniform(0.5, 1.0) * np.sin(np.pi * (t[inside] - u) / (end - u))
            u = end
    return out


def _clip(path: Path, frames: int, intervals: list[tuple[float, float]], damage: Damage, seed: int,
          size: float, sway: float, face: bool = True) -> FaceClip:
    rng = np.random.default_rng(seed)
    bg = _background(rng)
    opening = _syllables(rng, frames, FPS, intervals)
    x0, y0 = W / 2 + 8 + rng.uniform(-30, 30), H / 2 + 8 + rng.uniform(-10, 10)
    phase = rng.uniform(0, 2 * np.pi, 2)
    tone = int(rng.integers(180, 220))
    out = []
    for i in range(frames):
        img = bg.copy()
        if face:
            t = i / FPS
            cx = x0 + sway * np.sin(2 * np.pi * 0.4 * t + phase[0])
            cy = y0 + 0.4 * sway * np.sin(2 * np.pi * 0.3 * t + phase[1])
            draw_face(img, cx, cy, size, opening[i], tone)
        out.append(img)
    n = _write(path, out, damage, seed)
    return FaceClip(path=path, fps=FPS, frames=n, speaking=list(intervals))


def speaking_face(path: Path, damage: Damage = CLEAN, seed: int = 0, *, frames: int = 144, size: float = 110,
                  sway: float = 6.0) -> FaceClip:
    """A face that speaks in two or three random stretches of 0.6-1.6 s, silent between them."""
    rng = np.random.default_rng(seed + 500)
    dur = frames / FPS
    intervals, t = [], rng.uniform(0.3, 1.0)
    while True:
        length = rng.uniform(0.6, 1.6)
        if t + length > dur - 0.3:
            break
        intervals.append((round(t, 3), round(t + length, 3)))
        t += length + rng.uniform(0.7, 1.4)
    return _clip(path, frames, intervals, damage, seed, size, sway)


def silent_face(path: Path, damage: Damage = CLEAN, seed: int = 0, *, frames: int = 120, size: float = 110,
                sway: float = 6.0) -> FaceClip:
    """A face that never speaks (its head sways)."""
    return _clip(path, frames, [], damage, seed, size, sway)


def no_face(path: Path, damage: Damage = CLEAN, seed: int = 0, *, frames: int = 96) -> FaceClip:
    """Background only."""
    return _clip(path, frames, [], damage, seed, 0, 0, face=False)
