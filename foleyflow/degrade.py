"""Synthetic old-film damage, for the demo film, the tests and the cleaning benchmark.

Damage is applied in the order it happens to real film: gate weave (jitter)
when the frame is projected or scanned, flicker from uneven exposure, grain of
the emulsion, then dirt, dust, hair and scratches on the print. Everything is
deterministic for a seed and works frame by frame (constant memory).

Scanned damage overlays (RGBA PNGs, e.g. the FilmDamageSimulator set) can be
mixed in through ``damage_dir``; otherwise all damage is procedural.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class DegradeConfig:
    grain: float = 6.0  # std of film grain in 8-bit levels (spatially correlated)
    flicker: float = 0.06  # relative std of per-frame brightness (correlated, with occasional jumps)
    dust_per_frame: float = 4.0  # mean number of dust/dirt specks, each on one frame only
    hair_prob: float = 0.03  # chance of a hair on a frame
    scratches: int = 1  # persistent thin vertical line scratches, drifting slowly
    jitter: float = 1.2  # std of gate weave in pixels
    monochrome: bool = True  # render as black-and-white film
    damage_dir: Path | None = None  # folder of scanned RGBA overlays (subfolders dirt, dots, hair, ...)
    overlays_per_frame: float = 2.0  # mean number of scanned overlays when damage_dir is given


PRESETS: dict[str, DegradeConfig] = {
    "none": DegradeConfig(grain=0, flicker=0, dust_per_frame=0, hair_prob=0, scratches=0, jitter=0,
                          monochrome=False),
    "light": DegradeConfig(grain=3.0, flicker=0.03, dust_per_frame=1.5, hair_prob=0.01, scratches=0, jitter=0.5),
    "archival": DegradeConfig(),
    "heavy": DegradeConfig(grain=10.0, flicker=0.12, dust_per_frame=10.0, hair_prob=0.08, scratches=2, jitter=2.5),
}


@lru_cache(maxsize=4)
def _load_overlays(folder: str) -> tuple[np.ndarray, ...]:
    """Small scanned damage elements (alpha masks), scaled to at most 96 px."""
    out = []
    for sub in ("dirt", "dots", "hair", "hair-short", "lint", "smut", "spots", "sprinkles"):
        for path in sorted((Path(folder) / sub).glob("*.png"))[:40]:
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if img is None or img.ndim != 3 or img.shape[2] != 4:
                continue
            alpha = img[:, :, 3]
            ys, xs = np.nonzero(alpha > 16)
            if ys.size == 0:
                continue
            crop = alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            scale = min(1.0, 96.0 / max(crop.shape))
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            if crop.size and crop.max() > 32:
                out.append(crop.astype(np.float32) / 255.0)
    return tuple(out)


class Degrader:
    """Apply :class:`DegradeConfig` damage to frames of one film."""

    def __init__(self, config: DegradeConfig, seed: int, width: int, height: int) -> None:
        self.c = config
        self.seed = seed
        self.w, self.h = width, height
        rng = np.random.default_rng(seed)
        self._grain_tiles = [
            cv2.GaussianBlur(rng.normal(0, 1, (height + 32, width + 32)).astype(np.float32), (0, 0), 0.7)
            for _ in range(3)
        ]
        for tile in self._grain_tiles:
            tile /= tile.std()
        self._scratch_x = rng.uniform(0.1, 0.9, max(config.scratches, 0)) * width
        self._scratch_sign = rng.choice([-1.0, 1.0], max(config.scratches, 0))
        self._overlays = _load_overlays(str(config.damage_dir)) if config.damage_dir else ()

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index])

    def apply(self, frame: np.ndarray, index: int, *, return_mask: bool = False):
        """Damage one RGB uint8 frame; with ``return_mask`` also the bool mask of dust/hair/scratch pixels."""
        c = self.c
        rng = self._rng(index)
        x = frame.astype(np.float32)
        if c.monochrome:
            g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
            x = np.repeat(g[:, :, None], 3, axis=2)
        if c.jitter > 0:
            dx, dy = rng.normal(0, c.jitter, 2)
            x = cv2.warpAffine(x, np.float32([[1, 0, dx], [0, 1, dy]]), (self.w, self.h),
                               borderMode=cv2.BORDER_REPLICATE)
        if c.flicker > 0:
            # slow drift (a sum of sines) plus per-frame noise and occasional jumps
            drift = 0.5 * np.sin(index * 0.37 + self.seed) + 0.3 * np.sin(index * 1.3 + 2 * self.seed)
            gain = 1.0 + c.flicker * (drift + rng.normal(0, 0.7) + (rng.random() < 0.04) * rng.choice([-2, 2]))
            x = x * gain + rng.normal(0, c.flicker * 30)
        if c.grain > 0:
            tile = self._grain_tiles[index % len(self._grain_tiles)]
            oy, ox = rng.integers(0, 32, 2)
            g = tile[oy:oy + self.h, ox:ox + self.w]
            # grain is strongest in the mid-tones
            lum = x[:, :, 0] / 255.0
            x += (c.grain * (0.6 + 1.6 * lum * (1 - lum)) * g)[:, :, None]
        mask = np.zeros((self.h, self.w), np.uint8)
        for _ in range(rng.poisson(c.dust_per_frame) if c.dust_per_frame > 0 else 0):
            self._speck(x, mask, rng)
        if c.hair_prob > 0 and rng.random() < c.hair_prob:
            self._hair(x, mask, rng)
        if self._overlays:
            for _ in range(rng.poisson(c.overlays_per_frame)):
                self._overlay(x, mask, rng)
        for k in range(len(self._scratch_x)):
            self._scratch_x[k] = np.clip(self._scratch_x[k] + rng.normal(0, 0.6), 4, self.w - 5)
            col = int(self._scratch_x[k])
            width = 1 + int(rng.random() < 0.4)
            strength = rng.uniform(0.4, 0.8)
            target = 255.0 if self._scratch_sign[k] > 0 else 10.0
            x[:, col:col + width] = x[:, col:col + width] * (1 - strength) + target * strength
            mask[:, col:col + width] = 1
        out = np.clip(x, 0, 255).astype(np.uint8)
        return (out, mask.astype(bool)) if return_mask else out

    def _speck(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
        cx, cy = int(rng.integers(0, self.w)), int(rng.integers(0, self.h))
        axes = (int(rng.integers(1, 7)), int(rng.integers(1, 7)))
        value = 250.0 if rng.random() < 0.35 else 12.0  # dirt is dark on a print, dust on the negative bright
        blob = np.zeros((self.h, self.w), np.uint8)
        cv2.ellipse(blob, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        sel = blob.astype(bool)
        x[sel] = value
        mask |= blob

    def _hair(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
        pts = [(int(rng.integers(0, self.w)), int(rng.integers(0, self.h)))]
        for _ in range(5):
            px, py = pts[-1]
            pts.append((int(px + rng.normal(0, 18)), int(py + rng.normal(0, 18))))
        line = np.zeros((self.h, self.w), np.uint8)
        cv2.polylines(line, [np.array(pts, np.int32)], False, 1, 1, cv2.LINE_8)
        x[line.astype(bool)] = 20.0
        mask |= line

    def _overlay(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
        alpha = self._overlays[int(rng.integers(len(self._overlays)))]
        scale = rng.uniform(0.3, 1.0)
        alpha = cv2.resize(alpha, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = alpha.shape
        if h < 1 or w < 1 or h >= self.h or w >= self.w:
            return
        y0, x0 = int(rng.integers(0, self.h - h)), int(rng.integers(0, self.w - w))
        value = 15.0 if rng.random() < 0.7 else 245.0
        region = x[y0:y0 + h, x0:x0 + w]
        region[:] = region * (1 - alpha[:, :, None]) + value * alpha[:, :, None]
        mask[y0:y0 + h, x0:x0 + w] |= (alpha > 0.25).astype(np.uint8)


def degrade_video(src: str | os.PathLike, dst: str | os.PathLike, config: DegradeConfig | str = "archival",
                  seed: int = 0, *, width: int | None = None, height: int | None = None,
                  max_frames: int | None = None) -> Path:
    """Damage a whole video (lossless FFV1 output)."""
    from foleyflow.video import VideoWriter, frame_index, iter_frames

    cfg = PRESETS[config] if isinstance(config, str) else config
    index = frame_index(src)
    writer = None
    degrader = None
    try:
        for n, frame in iter_frames(src, 0, max_frames, fmt="rgb24", width=width, height=height):
            if writer is None:
                h, w = frame.shape[:2]
                degrader = Degrader(cfg, seed, w, h)
                writer = VideoWriter(dst, fps=index.avg_fps, width=w, height=h)
            writer.write(degrader.apply(frame, n))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise ValueError(f"{src}: no frames to degrade")
    return writer.close()


def with_damage_dir(config: DegradeConfig, folder: str | os.PathLike | None) -> DegradeConfig:
    return replace(config, damage_dir=Path(folder) if folder else None)
