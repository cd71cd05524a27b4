"""Candidate checks: onsets of synthetic clicks, sync against picture onsets, loudness, selection."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.qc import (clipping_ratio, is_silent, loudness_lufs, onset_times, score_candidate, select_best,
                      sync_score)

SR = 16000


def bursts(times: list[float], seconds: float = 4.0, sr: int = SR, level: float = 0.5, seed: int = 0,
           floor: float = 0.003) -> np.ndarray:
    """Decaying noise bursts (knocks) at ``times`` over a quiet noise floor."""
    rng = np.random.default_rng(seed)
    x = floor * rng.standard_normal(int(seconds * sr))
    n = int(0.08 * sr)
    env = np.exp(-np.arange(n) / (0.012 * sr))
    for t in times:
        i = int(t * sr)
        seg = x[i:i + n]
        seg += level * env[:seg.size] * rng.standard_normal(seg.size)
    return x.astype(np.float32)


TIMES = [0.31, 0.87, 1.5, 1.72, 2.4, 3.05, 3.6]


def test_onsets_of_bursts_are_found_within_20ms():
    found = onset_times(bursts(TIMES), SR)
    assert found.size == len(TIMES)
    assert np.max(np.abs(found - np.asarray(TIMES))) <= 0.02


def test_onsets_do_not_depend_on_the_sample_rate():
    found = onset_times(bursts(TIMES, sr=48000), 48000)
    assert found.size == len(TIMES) and np.max(np.abs(found - np.asarray(TIMES))) <= 0.02


def test_no_onsets_in_silence_or_steady_noise():
    assert onset_times(np.zeros(SR * 2), SR).size == 0
    steady = 0.1 * np.random.default_rng(1).standard_normal(SR * 3)
    assert onset_times(steady, SR).size <= 1


def test_sync_score_rewards_matching_and_punishes_shifted_audio():
    audio = bursts(TIMES)
    assert sync_score(audio, SR, np.asarray(TIMES) + 0.05).f1 == pytest.approx(1.0)
    late = sync_score(audio, SR, np.asarray(TIMES) + 0.3)
    assert late.f1 <= 0.3
    half = sync_score(audio, SR, TIMES[::2])  # picture has 4 of the 7 onsets
    assert half.recall == 1.0 and half.precision == pytest.approx(4 / 7) and half.iou == pytest.approx(4 / 7)
    assert sync_score(np.zeros(SR), SR, []).f1 == 1.0  # silence on both sides agrees


def test_loudness_of_a_sine_follows_bs1770():
    t = np.arange(SR * 3) / SR
    for level_db in (-6.0, -20.0):
        sine = 10 ** (level_db / 20) * np.sin(2 * np.pi * 1000 * t)
        # a full-scale 1 kHz sine reads -3.01 LUFS (mono)
        assert loudness_lufs(sine, SR) == pytest.approx(level_db - 3.01, abs=0.1)
    assert loudness_lufs(np.zeros(SR), SR) == float("-inf")


def test_clipping_and_silence():
    x = np.linspace(-1.2, 1.2, 1000)
    assert clipping_ratio(np.clip(x, -1, 1)) == pytest.approx(np.mean(np.abs(x) >= 0.999))
    assert clipping_ratio(0.5 * x) == 0.0
    assert is_silent(np.zeros(SR), SR) and is_silent(1e-5 * np.ones(SR), SR)
    assert not is_silent(bursts(TIMES), SR)


def test_selection_rejects_silent_and_clipping_then_prefers_sync():
    timing = np.asarray(TIMES)
    good = bursts(TIMES, seed=1)
    shifted = bursts([t + 0.25 for t in TIMES], seed=2)
    clipped = np.clip(bursts(TIMES, level=8.0, seed=3), -1, 1)
    silent = np.zeros_like(good)
    broken = good.copy()
    broken[100] = np.nan
    scores = [score_candidate(a, SR, timing) for a in (shifted, clipped, silent, good, broken)]
    assert scores[1]["rejected"].startswith("clips") and scores[1]["sync"] > 0.9
    assert scores[2]["rejected"] == "silent"
    assert scores[4]["rejected"]
    assert scores[0]["rejected"] is None and scores[0]["sync"] < scores[3]["sync"]
    assert select_best(scores) == 3
    assert select_best([scores[1], scores[2]]) is None
