"""Stitching: shot audio at its timecode, click-free cuts, exact length, EBU R128 level, no clipping."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.qc import loudness_lufs
from tasks.stitch import crossfade_windows, read_wav, stitch, true_peak, write_wav

SR = 16000
F = 220.0


def sine(seconds: float, phase: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return amp * np.sin(2 * np.pi * F * t + phase)


CUTS = [0.0, 1.3, 2.05, 3.7, 5.0]  # shot boundaries (s); film is 5 s


def shots(margin: float | None, seed: int = 0, amp: float = 0.3):
    rng = np.random.default_rng(seed)
    out = []
    for a, b in zip(CUTS[:-1], CUTS[1:]):
        m = margin or 0.0
        out.append((a, b, sine(b - a + 2 * m, rng.uniform(0, 2 * np.pi), amp)))  # a phase jump at every cut
    return out


def max_jump(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x))))


@pytest.mark.parametrize("margin", [0.05, None], ids=["with-margin", "no-margin"])
def test_cuts_have_no_clicks(margin):
    track = stitch(shots(margin), 5.0, SR, crossfade_s=0.1, target_lufs=None)
    natural = 0.3 * 2 * np.pi * F / SR  # the largest step of the sine itself
    hard = np.concatenate([w[:int(round((b - a) * SR))] for a, b, w in shots(0.0)])
    assert max_jump(hard) > 5 * natural  # without crossfades the phase jumps click
    # equal-power gains sum to at most sqrt(2) on in-phase material: the steep part of the sine, never a click
    assert max_jump(track) < 1.5 * natural


def test_crossfade_keeps_the_level_across_cuts():
    track = stitch(shots(0.05), 5.0, SR, target_lufs=None)
    # unrelated phases: equal-power keeps the RMS near the shots' own (no dip, no bump)
    for cut in CUTS[1:-1]:
        i = int(cut * SR)
        rms = np.sqrt(np.mean(track[i - 400:i + 400] ** 2))
        assert 0.3 / np.sqrt(2) * 0.6 < rms < 0.3 / np.sqrt(2) * 1.45


def test_audio_is_placed_by_timecode_and_length_is_exact():
    tone = sine(0.5, 0.0)
    track = stitch([(1.0, 1.5, tone)], 3.33, SR, target_lufs=None)
    assert track.shape == (int(round(3.33 * SR)),) and track.dtype == np.float32
    assert np.all(track[:int(0.99 * SR)] == 0) and np.all(track[int(1.51 * SR):] == 0)
    assert np.max(np.abs(track[int(1.1 * SR):int(1.4 * SR)])) == pytest.approx(0.3, abs=0.01)
    # a waveform longer than the film is cut at the film's end
    assert stitch([(0.0, 2.0, sine(2.5, 0.0))], 2.0, SR).shape == (2 * SR,)


@pytest.mark.parametrize("amp,target", [(0.3, -23.0), (0.02, -23.0), (0.9, -9.0)])
def test_loudness_hits_the_target_without_clipping(amp, target):
    rng = np.random.default_rng(1)
    # a foley-like track: knocks over a quiet bed, so a loud target needs the limiter
    items = []
    for a, b, w in shots(0.05, amp=amp * 0.1):
        w = w.copy()
        for t in rng.uniform(0, w.size - 2000, 6).astype(int):
            w[t:t + 1600] += amp * np.exp(-np.arange(1600) / 200) * rng.standard_normal(1600)
        items.append((a, b, w))
    track = stitch(items, 5.0, SR, target_lufs=target)
    assert abs(loudness_lufs(track, SR) - target) <= 0.5
    assert np.max(np.abs(track)) <= 10 ** (-1 / 20) + 1e-6
    assert true_peak(track).max() <= 10 ** (-0.9 / 20)


def test_silence_stays_silent():
    track = stitch([(0.0, 1.0, np.zeros(SR))], 1.0, SR)
    assert not np.any(track)


def test_overlapping_shots_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        stitch([(0.0, 1.0, sine(1, 0)), (0.5, 1.5, sine(1, 0))], 2.0, SR)


def test_generator_windows_join_without_clicks():
    win, hop = 4000, 3000
    rng = np.random.default_rng(2)
    windows = [sine(win / SR, rng.uniform(0, 6.28)) for _ in range(5)]
    joined = crossfade_windows(windows, hop, overlap=800)
    assert joined.shape == (hop * 4 + win,)
    assert max_jump(joined) < 1.5 * 0.3 * 2 * np.pi * F / SR
    # outside the overlaps each window comes through untouched
    assert np.allclose(joined[:hop], windows[0][:hop], atol=1e-6)


def test_wav_round_trip_is_atomic(tmp_path):
    x = sine(0.25, 0.3)
    dst = write_wav(tmp_path / "out" / "track.wav", x, SR)
    assert [p.name for p in dst.parent.iterdir()] == ["track.wav"]
    back, sr = read_wav(dst)
    assert sr == SR and back.shape == x.shape and np.max(np.abs(back - x)) < 1 / 32767 + 1e-6
