"""Synthetic shots with contacts at known frames, for the timing tests and bench/bench_timing.py.

Each clip is drawn with NumPy/OpenCV and written with foleyflow's VideoWriter:
a ball bouncing on a floor (decaying bounces, contacts at chosen frames), a
hammer striking an anvil (slow lift, fast strike, rest on the anvil), a
static scene, and a door swinging shut. Optional damage: global flicker
(a per-frame gain of up to +-20%), film grain, dust specks and camera shake
(a random shift of up to 2 px per frame), which must not create events.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from foleyflow.video import VideoWriter

W, H, FPS = 320, 240, 24


@dataclass(frozen=True)
class Damage:
    flicker: float = 0.0  # max relative gain change per frame (0.2 = +-20%)
    grain: float = 0.0  # std of per-pixel noise, 8-bit levels
    shake: float = 0.0  # max camera shift per frame in pixels
    dust: float = 0.0  # mean number of dust specks per frame


CLEAN = Damage()
OLD_FILM = Damage(flicker=0.2, grain=8.0, shake=2.0, dust=3.0)


@dataclass
class Clip:
    path: Path
    fps: float
    frames: int
    contacts: list[int]  # frames where a contact happens

    @property
    def contact_times(self) -> list[float]:
        return [c / self.fps for c in self.contacts]


def _background(rng: np.random.Generator, h: int = H + 16, w: int = W + 16) -> np.ndarray:
    small = rng.integers(60, 190, (h // 10 + 2, w // 10 + 2)).astype(np.uint8)
    img = cv2.resize(small, (w + 20, h + 20), interpolation=cv2.INTER_CUBIC)[:h, :w]
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def _damage(frame: np.ndarray, damage: Damage, rng: np.random.Generator) -> np.ndarray:
    """Crop the 8-px camera margin (shaken), then flicker, grain and dust."""
    if damage.shake:
        dx, dy = rng.uniform(-damage.shake, damage.shake, 2)
    else:
        dx = dy = 0.0
    m = np.float32([[1, 0, dx - 8], [0, 1, dy - 8]])
    img = cv2.warpAffine(frame.astype(np.float32), m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if damage.flicker:
        img = img * rng.uniform(1 - damage.flicker, 1 + damage.flicker) + rng.uniform(-10, 10) * damage.flicker / 0.2
    if damage.grain:
        img += rng.normal(0, damage.grain, img.shape).astype(np.float32)
    for _ in range(rng.poisson(damage.dust) if damage.dust else 0):
        cv2.circle(img, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.integers(1, 4)),
                   float(rng.choice([15.0, 245.0])), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write(path: Path, frames: list[np.ndarray], damage: Damage, seed: int) -> int:
    rng = np.random.default_rng(seed + 1000)
    with VideoWriter(path, fps=FPS, width=W, height=H) as writer:  # lossless FFV1: reproducible bytes
        for f in frames:
            writer.write(np.repeat(_damage(f, damage, rng)[:, :, None], 3, axis=2))
    return len(frames)


def bouncing_ball(path: Path, damage: Damage = CLEAN, seed: int = 0, *, frames: int = 110,
                  head: list[np.ndarray] | None = None) -> Clip:
    """A ball dropped onto a floor, bouncing lower and faster each time; contacts at known frames.

    ``head``: frames put before the clip (e.g. the last frame of the previous shot),
    which shift the contact frames.
    """
    rng = np.random.default_rng(seed)
    bg = _background(rng)
    floor = 200
    bg[floor + 8:] = (bg[floor + 8:] * 0.55).astype(np.uint8)
    periods = [22, 19, 16, 14, 12, 11, 10, 9]
    contacts, c = [], 10  # the drop lasts 10 frames
    for p in periods:
        if c >= frames - 2:
            break
        contacts.append(c)
        c += p
    r = 14
    out = [] if head is None else list(head)
    for i in range(frames):
        img = bg.copy()
        if i < contacts[0]:
            u = i / contacts[0]
            lift = 150 * (1 - u * u)  # dropped from rest
        else:
            k = max(j for j, cj in enumerate(contacts) if cj <= i)
            p = periods[k] if k + 1 >= len(contacts) else contacts[k + 1] - contacts[k]
            u = (i - contacts[k]) / p
            lift = 4 * 150 * (p / 22) ** 2 * u * (1 - u)
        cx = int(60 + 1.6 * i) + 8
        cy = int(round(floor - r - lift)) + 8
        cv2.circle(img, (cx, cy), r, 235, -1)
        cv2.circle(img, (cx - 4, cy - 4), 4, 255, -1)
        cv2.line(img, (cx - r + 3, cy), (cx + r - 3, cy), 120, 2)
        out.append(img)
    offset = 0 if head is None else len(head)
    n = _write(path, out, damage, seed)
    return Clip(path=path, fps=FPS, frames=n, contacts=[c + offset for c in contacts])


def hammer(path: Path, damage: Damage = CLEAN, seed: int = 0, *, frames: int = 110) -> Clip:
    """A hammer lifted slowly (ease in/out), struck down fast onto an anvil, resting there a moment."""
    rng = np.random.default_rng(seed)
    bg = _background(rng)
    cv2.rectangle(bg, (110, 168), (250, 190), 40, -1)
    cv2.rectangle(bg, (150, 190), (210, 240), 35, -1)
    lift, hold, strike, rest = 18, 2, 3, 3  # frames per phase: slow lift, fast strike
    period = lift + hold + strike + rest
    contacts = [p + lift + hold + strike for p in range(0, frames - period, period)]
    pivot = (300, 181)  # the head rests on the anvil (top at y=168) at the lowest angle
    top, bottom = np.radians(75), np.radians(10)  # hammer angle above the horizontal
    out = []
    for i in range(frames):
        t = i % period
        if t < lift:
            x = t / lift
            s = x * x * x * (10 - 15 * x + 6 * x * x)  # smooth lift (smootherstep: eases in and out)
            angle = bottom + (top - bottom) * s
        elif t < lift + hold:
            angle = top
        elif t < lift + hold + strike:
            s = ((t - lift - hold) / strike) ** 2  # accelerating strike
            angle = top + (bottom - top) * s
        else:
            angle = bottom
        head = (int(pivot[0] - 130 * np.cos(angle)) + 8, int(pivot[1] - 130 * np.sin(angle)) + 8)
        img = bg.copy()
        cv2.line(img, (pivot[0] + 8, pivot[1] + 8), head, 200, 5)
        cv2.rectangle(img, (head[0] - 16, head[1] - 10), (head[0] + 16, head[1] + 10), 230, -1)
        out.append(img)
    n = _write(path, out, damage, seed)
    return Clip(path=path, fps=FPS, frames=n, contacts=contacts)


def static(path: Path, damage: Damage = OLD_FILM, seed: int = 0, *, frames: int = 96) -> Clip:
    """Nothing moves: only the damage changes from frame to frame."""
    rng = np.random.default_rng(seed)
    bg = _background(rng)
    cv2.rectangle(bg, (100, 80), (220, 200), 210, -1)
    n = _write(path, [bg] * frames, damage, seed)
    return Clip(path=path, fps=FPS, frames=n, contacts=[])


def first_frame_of(kind: str, seed: int = 99) -> np.ndarray:
    """One frame of an unrelated scene, to put a cut right at the start of a clip."""
    rng = np.random.default_rng(seed)
    img = _background(rng)
    cv2.rectangle(img, (40, 40), (200, 120), 20 if kind == "dark" else 240, -1)
    return img
