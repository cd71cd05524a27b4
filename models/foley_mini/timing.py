"""The timing curve of a sound, computed from the sound itself (training) or given by the video (inference).

A timing curve is ``float32 (2, T)`` in [0, 1] on the audio frame grid
(62.5 frames per second, :mod:`tasks.audio_grid`):

- channel 0, *onset*: one narrow Gaussian peak (``ONSET_SIGMA_FRAMES`` wide)
  per event, where something starts to sound;
- channel 1, *sustain*: how loud / active the scene is, smoothed.

At training time the onsets are peak-picked maxima of the spectral flux of
the log-mel; then, to mimic how imprecise the picture is, they are jittered
(about +-30 ms), some are dropped and a few spurious ones are added
(:func:`augment_onsets`). The sustain channel is the smoothed frame loudness
over a fixed dB range below the window's loudest frame. At inference the
same two channels come from the video (:mod:`tasks.features`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from models.foley_mini.audio import LOG_MIN
from tasks.audio_grid import FRAME_RATE, impulse_curve, pick_peaks


@dataclass(frozen=True)
class CurveConfig:
    """How onsets are found in a log-mel, and how they are perturbed for training."""

    flux_smooth_frames: float = 1.0  # Gaussian smoothing (std, frames) of the spectral flux
    min_gap_s: float = 0.1  # two onsets are at least this far apart
    threshold_window_s: float = 0.5  # adaptive threshold: median of the flux within this half-width...
    threshold_ratio: float = 1.5  # ...times this
    relative_floor: float = 0.12  # a peak must reach this fraction of the window's largest flux...
    absolute_floor: float = 0.35  # ...and this much mean log-magnitude rise per mel bin (about 3 dB)
    gate_db: float = 30.0  # onsets in frames this far below the loudest frame are ignored
    delay_frames: int = 1  # the flux peaks while a 64 ms frame is still mostly before the onset: shift it back
    sustain_range_db: float = 50.0  # sustain 0 at this many dB below the loudest frame, 1 at the loudest
    sustain_smooth_frames: float = 3.0  # Gaussian smoothing (std, frames) of the sustain channel
    jitter_s: float = 0.03  # training: onsets move by up to this much (uniform)
    drop_p: float = 0.1  # training: each onset is dropped with this probability (never all of them)
    extra_rate: float = 0.15  # training: spurious onsets per second (Poisson)


def spectral_flux(logmel: np.ndarray, smooth_frames: float = 1.0) -> np.ndarray:
    """Mean positive rise of the log-mel per frame, frame 0 measured against silence.

    Arguments:
        logmel: ``(n_mels, T)`` natural-log mel magnitudes.
        smooth_frames: Gaussian smoothing (std) in frames; 0 for none.

    Returns:
        ``float64 (T,)`` non-negative flux.
    """
    x = np.asarray(logmel, np.float64)
    prev = np.concatenate([np.full((x.shape[0], 1), LOG_MIN), x[:, :-1]], axis=1)
    flux = np.maximum(x - prev, 0.0).mean(axis=0)
    return gaussian_filter1d(flux, smooth_frames, mode="nearest") if smooth_frames > 0 else flux


def frame_db(logmel: np.ndarray) -> np.ndarray:
    """Loudness of each frame in dB (mean mel power), ``(T,)``."""
    x = np.asarray(logmel, np.float64)
    power = np.exp(2.0 * x).mean(axis=0)
    return 10.0 * np.log10(np.maximum(power, 1e-20))


def detect_onsets(logmel: np.ndarray, config: CurveConfig = CurveConfig()) -> np.ndarray:
    """Onset frames of a log-mel: peak-picked spectral flux, gated by loudness.

    Arguments:
        logmel: ``(n_mels, T)``.
        config: thresholds.

    Returns:
        Sorted ``int`` frame indices.
    """
    flux = spectral_flux(logmel, config.flux_smooth_frames)
    if flux.size == 0 or flux.max() <= 0:
        return np.zeros(0, dtype=int)
    floor = max(config.absolute_floor, config.relative_floor * float(flux.max()))
    peaks = pick_peaks(flux, FRAME_RATE, min_gap_s=config.min_gap_s, window_s=config.threshold_window_s,
                       ratio=config.threshold_ratio, floor=floor)
    db = frame_db(logmel)
    # the loudness a couple of frames after the rise is what the onset starts
    after = np.array([db[p:p + 4].max() for p in peaks]) if peaks.size else np.zeros(0)
    peaks = peaks[after >= db.max() - config.gate_db]
    return np.minimum(peaks + config.delay_frames, flux.size - 1)


def sustain_curve(logmel: np.ndarray, config: CurveConfig = CurveConfig()) -> np.ndarray:
    """The sustain channel: frame loudness mapped from ``[max - range_db, max]`` to [0, 1], smoothed.

    A window of silence (every frame at the floor) is all zeros.
    """
    db = frame_db(logmel)
    silent_db = 10.0 * np.log10(np.exp(2.0 * LOG_MIN)) + 1.0
    if db.size == 0 or db.max() <= silent_db:
        return np.zeros(db.size, np.float32)
    s = np.clip((db - (db.max() - config.sustain_range_db)) / config.sustain_range_db, 0.0, 1.0)
    if config.sustain_smooth_frames > 0:
        s = gaussian_filter1d(s, config.sustain_smooth_frames, mode="nearest")
    return np.clip(s, 0.0, 1.0).astype(np.float32)


def augment_onsets(frames: np.ndarray, n_frames: int, rng: np.random.Generator,
                   config: CurveConfig = CurveConfig()) -> np.ndarray:
    """Onset frames as the video would give them: jittered, some dropped, a few spurious ones added.

    Arguments:
        frames: clean onset frame indices.
        n_frames: curve length.
        rng: the random source (training is reproducible from its seed).
        config: jitter, drop probability, rate of extra onsets.

    Returns:
        Sorted ``float64`` onset positions in frames (sub-frame precision), inside ``[0, n_frames)``.
    """
    f = np.asarray(frames, np.float64)
    if f.size:
        keep = rng.random(f.size) >= config.drop_p
        if not keep.any():
            keep[rng.integers(f.size)] = True
        f = f[keep] + rng.uniform(-1, 1, keep.sum()) * config.jitter_s * FRAME_RATE
    n_extra = rng.poisson(config.extra_rate * n_frames / FRAME_RATE)
    f = np.concatenate([f, rng.uniform(0, n_frames - 1, n_extra)])
    return np.sort(np.clip(f, 0, n_frames - 1))


def curve_from_onsets(onset_frames: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """Stack an onset channel (Gaussian peaks at ``onset_frames``) and a sustain channel into ``(2, T)``."""
    n = int(np.asarray(sustain).shape[-1])
    onset = impulse_curve(np.asarray(onset_frames, np.float64) / FRAME_RATE, n)
    return np.stack([onset, np.asarray(sustain, np.float32)]).astype(np.float32)


def timing_curve(logmel: np.ndarray, rng: np.random.Generator | None = None,
                 config: CurveConfig = CurveConfig()) -> np.ndarray:
    """The timing curve of a sound, as used for training (and checked by the tests).

    Arguments:
        logmel: ``(n_mels, T)`` log-mel of the sound.
        rng: when given, the onsets are perturbed like a video curve (:func:`augment_onsets`);
            ``None`` gives the clean curve.
        config: detection and perturbation settings.

    Returns:
        ``float32 (2, T)`` in [0, 1]: onset peaks and sustain.
    """
    onsets = detect_onsets(logmel, config)
    sustain = sustain_curve(logmel, config)
    if rng is not None:
        onsets = augment_onsets(onsets, sustain.size, rng, config)
    return curve_from_onsets(onsets, sustain)


def curve_onsets(curve: np.ndarray, threshold: float = 0.5, min_gap_s: float = 0.1) -> np.ndarray:
    """Onset frames read back from a timing curve's onset channel (local maxima above ``threshold``)."""
    onset = np.asarray(curve, np.float64)[0]
    return pick_peaks(onset, FRAME_RATE, min_gap_s=min_gap_s, ratio=0.0, floor=threshold)
