"""The training timing curve (models/foley_mini/timing.py): onsets where the sound starts, sustain where it lasts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.synth_corpus import click_track
from tasks.audio_grid import FRAME_RATE


@pytest.mark.parametrize("times", [[0.5, 1.3, 2.0, 3.4], [0.05, 0.9], [1.0, 1.2, 1.4, 1.6, 1.8]],
                         ids=["four-clicks", "click-at-start", "fast-clicks"])
def test_clean_curve_finds_synthetic_clicks_at_their_times(times):
    from models.foley_mini.audio import log_mel
    from models.foley_mini.timing import curve_onsets, timing_curve
    from tasks.audio_grid import match_events

    curve = timing_curve(log_mel(click_track(times, 4.0)))
    assert curve.shape == (2, 1 + 64000 // 256) and curve.dtype == np.float32
    assert curve.min() >= 0 and curve.max() <= 1
    found = curve_onsets(curve) / FRAME_RATE
    hits, precision, recall, _ = match_events(times, found, tolerance_s=0.035)
    assert (precision, recall) == (1.0, 1.0), f"clicks at {times}, onsets found at {found.round(3)}"


def test_augmented_curve_moves_onsets_by_at_most_the_jitter():
    from models.foley_mini.audio import log_mel
    from models.foley_mini.timing import CurveConfig, curve_onsets, timing_curve

    times = [0.5, 1.5, 2.5, 3.5]
    cfg = CurveConfig(drop_p=0.0, extra_rate=0.0, jitter_s=0.03)
    mel = log_mel(click_track(times, 4.0))
    moved = []
    for seed in range(5):
        found = curve_onsets(timing_curve(mel, np.random.default_rng(seed), cfg)) / FRAME_RATE
        assert len(found) == len(times)
        moved.append(np.abs(found - times))
    moved = np.concatenate(moved)
    assert moved.max() <= 0.03 + 1.5 / FRAME_RATE
    assert moved.max() > 0.5 / FRAME_RATE  # it does move them


def test_augmentation_drops_and_adds_onsets_reproducibly():
    from models.foley_mini.timing import CurveConfig, augment_onsets

    clean = np.arange(10, 250, 24)
    cfg = CurveConfig(drop_p=0.3, extra_rate=2.0)
    a = augment_onsets(clean, 256, np.random.default_rng(1), cfg)
    b = augment_onsets(clean, 256, np.random.default_rng(1), cfg)
    assert np.array_equal(a, b)
    near = [np.abs(a - c).min() <= 2.5 for c in clean]
    assert not all(near)  # some were dropped
    assert any(np.abs(clean - x).min() > 3 for x in a)  # some were added
    assert augment_onsets(clean[:1], 256, np.random.default_rng(2), CurveConfig(drop_p=1.0, extra_rate=0)).size == 1


def test_sustain_follows_loudness_and_silence_is_zero():
    from models.foley_mini.audio import log_mel
    from models.foley_mini.timing import sustain_curve

    rng = np.random.default_rng(0)
    audio = np.zeros(64000, np.float32)
    audio[16000:48000] = 0.2 * rng.standard_normal(32000)
    s = sustain_curve(log_mel(audio))
    assert s[90:160].min() > 0.8  # during the noise
    assert s[:40].max() < 0.05 and s[-40:].max() < 0.05
    assert not sustain_curve(log_mel(np.zeros(32000, np.float32))).any()
