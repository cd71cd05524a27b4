"""The audio frame grid shared by the generator, the timing features and the checks.

The generator works on 16 kHz mono audio and a log-mel spectrogram with a hop
of 256 samples, so one audio frame is 16 ms and there are 62.5 frames per
second. Frame ``j`` is centred on sample ``j * HOP`` (the ``center=True``
convention of torchaudio and librosa), so ``n`` samples have
``1 + n // HOP`` frames. Everything that builds or reads a timing curve uses
the helpers here, so training curves (from audio) and inference curves (from
the picture) have the same shape and the same peak width.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE: int = 16_000  # Hz, mono
HOP: int = 256  # samples per audio frame (log-mel hop)
FRAME_RATE: float = SAMPLE_RATE / HOP  # 62.5 audio frames per second
ONSET_SIGMA_FRAMES: float = 1.5  # width (std) of one onset peak on the grid, in audio frames (24 ms)


def num_samples(seconds: float, sr: int = SAMPLE_RATE) -> int:
    """Samples in ``seconds`` of audio at ``sr`` (rounded to the nearest sample)."""
    if seconds < 0:
        raise ValueError(f"negative duration {seconds} s")
    return int(round(seconds * sr))


def num_frames(seconds: float) -> int:
    """Audio frames for ``seconds`` of 16 kHz audio: ``1 + num_samples // HOP``."""
    return 1 + num_samples(seconds) // HOP


def frame_times(n_frames: int) -> np.ndarray:
    """Centre time in seconds of each of ``n_frames`` audio frames."""
    return np.arange(n_frames, dtype=np.float64) / FRAME_RATE


def impulse_curve(times: np.ndarray | list[float], n_frames: int, heights: np.ndarray | list[float] | None = None,
                  sigma_frames: float = ONSET_SIGMA_FRAMES) -> np.ndarray:
    """An onset curve on the grid: one narrow Gaussian per event, its top at the event time.

    Arguments:
        times: event times in seconds from the start of the clip.
        n_frames: length of the curve (see :func:`num_frames`).
        heights: peak height of each event in (0, 1]; default 1.
        sigma_frames: peak width (standard deviation) in audio frames.

    Returns:
        ``float32 (n_frames,)`` in [0, 1]; overlapping peaks take the maximum, not the sum.
    """
    times = np.asarray(times, dtype=np.float64).ravel()
    heights = np.ones_like(times) if heights is None else np.clip(np.asarray(heights, np.float64).ravel(), 0, 1)
    if heights.shape != times.shape:
        raise ValueError(f"{times.size} event times but {heights.size} heights")
    curve = np.zeros(n_frames, dtype=np.float64)
    grid = np.arange(n_frames, dtype=np.float64)
    for t, h in zip(times, heights):
        centre = t * FRAME_RATE
        lo, hi = max(0, int(centre - 5 * sigma_frames)), min(n_frames, int(centre + 5 * sigma_frames) + 2)
        if hi > lo:
            bump = h * np.exp(-0.5 * ((grid[lo:hi] - centre) / sigma_frames) ** 2)
            curve[lo:hi] = np.maximum(curve[lo:hi], bump)
    return curve.astype(np.float32)


def sound_sustain(onset_times: np.ndarray, activity: np.ndarray, decay_s: float = 0.2, bed: float = 0.5) -> np.ndarray:
    """The sustain channel from the picture: 1 at each onset decaying by ``decay_s``, over ``bed`` x activity.

    Arguments:
        onset_times: seconds from the curve's start.
        activity: ``(T,)`` motion activity in [0, 1] on the audio grid.
        decay_s: time constant of the decay after an onset.
        bed: fraction of the activity kept as a floor (continuous motion, continuous sound).

    Returns:
        ``float32 (T,)`` in [0, 1].
    """
    n = int(np.asarray(activity).size)
    t = np.arange(n) / FRAME_RATE
    out = bed * np.clip(np.asarray(activity, np.float64), 0, 1)
    for x in np.asarray(onset_times, np.float64).ravel():
        after = t >= x - 0.5 / FRAME_RATE  # from the grid frame nearest the onset, where its peak is
        out[after] = np.maximum(out[after], np.exp(-np.maximum(t[after] - x, 0.0) / max(decay_s, 1e-3)))
    return np.clip(out, 0, 1).astype(np.float32)


def resample_to_grid(times: np.ndarray, values: np.ndarray, n_frames: int) -> np.ndarray:
    """Linear interpolation of a curve sampled at ``times`` (seconds) onto the audio grid.

    Outside the sampled span the end values are held.
    """
    times, values = np.asarray(times, np.float64), np.asarray(values, np.float64)
    if times.size == 0:
        return np.zeros(n_frames, np.float32)
    return np.interp(frame_times(n_frames), times, values).astype(np.float32)


def pick_peaks(strength: np.ndarray, rate: float, *, min_gap_s: float = 0.12, window_s: float = 0.5,
               ratio: float = 1.5, delta: float = 0.0, floor: float = 0.0, relative: float = 0.0,
               relative_window_s: float = 1.0) -> np.ndarray:
    """Indices of onset peaks in a strength signal, with an adaptive threshold.

    A sample is a peak when it is the maximum within ``min_gap_s`` either side,
    and exceeds ``ratio`` times the median of the signal within ``window_s``
    either side plus ``delta``, and exceeds ``floor``. Of peaks closer than
    ``min_gap_s``, the stronger wins. With ``relative > 0`` a peak must also reach
    that fraction of the strongest value within ``relative_window_s`` either side
    (weak echoes next to strong events are dropped).

    Arguments:
        strength: non-negative onset strength, one value per step.
        rate: steps per second of ``strength``.

    Returns:
        Sorted ``int`` indices.
    """
    x = np.asarray(strength, np.float64)
    n = x.size
    if n == 0:
        return np.zeros(0, dtype=int)
    gap = max(1, int(round(min_gap_s * rate)))
    win = max(gap, int(round(window_s * rate)))
    rel = max(gap, int(round(relative_window_s * rate)))
    picked: list[int] = []
    for i in range(n):
        lo, hi = max(0, i - gap), min(n, i + gap + 1)
        if x[i] <= floor or x[i] < x[lo:hi].max():
            continue
        if x[i] < ratio * float(np.median(x[max(0, i - win):min(n, i + win + 1)])) + delta:
            continue
        if relative > 0 and x[i] < relative * x[max(0, i - rel):min(n, i + rel + 1)].max():
            continue
        if picked and i - picked[-1] <= gap:  # a plateau: keep the first
            continue
        picked.append(i)
    return np.asarray(picked, dtype=int)


def match_events(reference: np.ndarray, estimate: np.ndarray, tolerance_s: float = 0.1) -> tuple[int, float, float, float]:
    """Greedy one-to-one matching of event times within ``tolerance_s`` (nearest pairs first).

    Returns:
        ``(hits, precision, recall, f1)``; with no events on either side all three are 1.0,
        with events on one side only they are 0.0.
    """
    ref, est = np.sort(np.asarray(reference, np.float64)), np.sort(np.asarray(estimate, np.float64))
    if ref.size == 0 and est.size == 0:
        return 0, 1.0, 1.0, 1.0
    if ref.size == 0 or est.size == 0:
        return 0, 0.0, 0.0, 0.0
    d = np.abs(ref[:, None] - est[None, :])
    pairs = sorted(zip(*np.nonzero(d <= tolerance_s)), key=lambda ij: d[ij])
    used_r, used_e = set(), set()
    for i, j in pairs:
        if i not in used_r and j not in used_e:
            used_r.add(i)
            used_e.add(j)
    hits = len(used_r)
    precision, recall = hits / est.size, hits / ref.size
    f1 = 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
    return hits, precision, recall, f1
