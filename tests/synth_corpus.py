"""A tiny synthetic training corpus in the real corpus schema (clips.parquet, windows.parquet, FLACs).

Four categories that sound different and have known event times: knocks
(filtered noise bursts), bells (decaying tones), rain (an ambience bed) and a
buzzing engine. Tests of the generator's training code use it; they never need
the real corpus.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

SR = 16000
WINDOW = 65536

CATEGORIES = {
    # slug: (caption, is_ambience)
    "knock": ("door knock", False),
    "bell": ("bell ringing", False),
    "rain": ("rain, ambient", True),
    "engine": ("engine running", True),
}


def _knocks(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, list[float]]:
    n = int(seconds * SR)
    x = 0.002 * rng.standard_normal(n)
    times = sorted(rng.uniform(0.1, seconds - 0.2, int(rng.integers(1, 4))))
    for t in times:
        i = int(t * SR)
        burst = rng.standard_normal(800) * np.exp(-np.arange(800) / 120.0)
        x[i:i + 800] += 0.6 * np.convolve(burst, np.ones(4) / 4, mode="same")[: n - i]
    return x, times


def _bells(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, list[float]]:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = np.zeros(n)
    times = sorted(rng.uniform(0.05, max(0.1, seconds - 0.8), int(rng.integers(1, 3))))
    f = rng.uniform(500, 900)
    for t0 in times:
        env = np.where(t >= t0, np.exp(-(t - t0) * 4.0), 0.0)
        x += 0.3 * env * (np.sin(2 * np.pi * f * t) + 0.4 * np.sin(2 * np.pi * 2.76 * f * t))
    return x, times


def _rain(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, list[float]]:
    n = int(seconds * SR)
    return 0.1 * np.convolve(rng.standard_normal(n), [0.5, 0.5], mode="same"), []


def _engine(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, list[float]]:
    t = np.arange(int(seconds * SR)) / SR
    f = rng.uniform(60, 110)
    return 0.2 * np.sign(np.sin(2 * np.pi * f * t)) * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t)), []


_MAKERS = {"knock": _knocks, "bell": _bells, "rain": _rain, "engine": _engine}


def make_corpus(root: str | Path, clips_per_category: int = 4, seed: int = 0) -> Path:
    """Write a corpus directory (FLACs + clips.parquet + windows.parquet); the last clip of each category is eval.

    Returns:
        The corpus directory.
    """
    from models.foley_mini.audio import write_audio

    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    clips, windows = [], []
    for slug, (caption, amb) in CATEGORIES.items():
        for k in range(clips_per_category):
            seconds = float(rng.uniform(5.0, 7.0) if amb else rng.uniform(0.8, 2.5))
            audio, _ = _MAKERS[slug](rng, seconds)
            audio = np.clip(audio, -0.95, 0.95).astype(np.float32)
            digest = hashlib.sha256(audio.tobytes()).hexdigest()
            cid = digest[:16]
            path = write_audio(root / "clips" / f"{cid}.flac", audio)
            split = "eval" if k == clips_per_category - 1 else "train"
            n = audio.size
            clips.append({"clip_id": cid, "path": str(path.resolve()), "sha256": digest, "package": "synthetic-data",
                          "source_file": f"sounds/{slug}/{slug}_{k}.wav", "author": "foleyflow tests",
                          "licence": "CC0-1.0", "caption": caption, "description": f"{caption} {k}",
                          "category": slug, "duration_s": n / SR, "n_samples": n, "sample_rate": SR,
                          "is_ambience": amb, "dup_group": cid, "split": split})
            starts = [0] if n <= WINDOW else sorted(set(list(range(0, n - WINDOW, WINDOW // 2)) + [n - WINDOW]))
            for wi, s in enumerate(starts):
                windows.append({"clip_id": cid, "window_index": wi, "start_sample": s, "end_sample": s + WINDOW,
                                "n_samples": n, "padded": n < WINDOW, "split": split, "caption": caption,
                                "category": slug, "is_ambience": amb, "dup_group": cid})
    pd.DataFrame(clips).to_parquet(root / "clips.parquet", index=False)
    pd.DataFrame(windows).to_parquet(root / "windows.parquet", index=False)
    return root


def click_track(times: list[float], seconds: float, seed: int = 0) -> np.ndarray:
    """Sharp clicks (filtered noise bursts) at ``times`` over faint noise, 16 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = 0.001 * rng.standard_normal(n)
    for t in times:
        i = int(t * SR)
        burst = rng.standard_normal(400) * np.exp(-np.arange(400) / 60.0)
        x[i:i + 400] += 0.5 * burst[: n - i]
    return x.astype(np.float32)
