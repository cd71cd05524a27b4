"""Shared helpers of the benchmarks: locating ../shared, image quality measures, tables."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FOOTAGE = SHARED / "footage"
DAMAGE = SHARED / "damage"
OUT = Path(__file__).resolve().parent / "out"


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = float(np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b)]))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def ssim(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian window 11, sigma 1.5) over frames, on luma."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for x, y in zip(a, b):
        x, y = x.astype(np.float64), y.astype(np.float64)
        blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        values.append(float(np.mean(((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2)))))
    return float(np.mean(values))


def luma(path: Path) -> list[np.ndarray]:
    from foleyflow.video import iter_frames

    return [f for _, f in iter_frames(path, fmt="gray")]


def write_json(name: str, data: dict) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(data, indent=2, default=str))
    return path
