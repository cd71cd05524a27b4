"""One soundtrack from per-shot audio: placed by timecode, crossfaded at cuts, loudness-normalised.

Each shot's audio is generated a little longer than the shot, ``margin_s``
(default half the crossfade) before its first and after its last frame, so the
equal-power crossfade across a cut (``cos``/``sin`` gains, constant power for
unrelated sounds) has material on both sides. A shot without that margin is
accepted too: the fade then uses whatever material exists on either side,
and where neither side has any, each fades over a few milliseconds at the cut
(a short dip instead of a click).

The whole track is then normalised to an EBU R128 integrated loudness
(``target_lufs``, default -23 LUFS, measured with pyloudnorm) and passed
through a look-ahead peak limiter on the 4x oversampled signal (true peak),
so that normalisation never clips: the ceiling is -1 dBTP by default.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from tasks.qc import loudness_lufs

MIN_FADE_S = 0.004  # fades where a cut has no material on either side


def _fade(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-power (out, in) gains over ``n`` samples."""
    u = (np.arange(n) + 0.5) / max(n, 1)
    return np.cos(0.5 * np.pi * u), np.sin(0.5 * np.pi * u)


def stitch(shot_audios: list[tuple[float, float, np.ndarray]], total_duration_s: float, sr: int, *,
           crossfade_s: float = 0.1, margin_s: float | None = None, target_lufs: float | None = -23.0,
           ceiling_dbtp: float = -1.0) -> np.ndarray:
    """Join per-shot audio into one film-length track.

    Arguments:
        shot_audios: ``(start_s, end_s, waveform)`` per shot, in film time; the waveform (mono,
            ``sr``) starts ``margin_s`` before ``start_s`` when it is at least ``margin_s * 2``
            longer than the shot, else at ``start_s``. Short waveforms are padded with silence.
        total_duration_s: the film's duration; the output has exactly ``round(total * sr)`` samples.
        sr: sample rate.
        crossfade_s: length of the crossfade across each cut.
        margin_s: the extra audio each side of a shot; default ``crossfade_s / 2``.
        target_lufs: integrated loudness of the result; ``None`` leaves the level alone.
        ceiling_dbtp: the limiter's true-peak ceiling.

    Returns:
        ``float32 (round(total_duration_s * sr),)``.

    Raises:
        ValueError: overlapping shots, shots outside the film, or a waveform that is not 1-D.
    """
    margin = crossfade_s / 2 if margin_s is None else margin_s
    n_total = int(round(total_duration_s * sr))
    shots = sorted(shot_audios, key=lambda s: s[0])
    placed = []  # (first sample of the shot, last+1, wave start sample, wave)
    for start_s, end_s, wave_ in shots:
        w = np.asarray(wave_, np.float64)
        if w.ndim != 1:
            raise ValueError(f"shot {start_s:.3f}-{end_s:.3f} s: waveform must be mono 1-D, got shape {w.shape}")
        if end_s <= start_s or start_s < -1e-6 or end_s > total_duration_s + 1e-3:
            raise ValueError(f"shot {start_s:.3f}-{end_s:.3f} s lies outside the film (0-{total_duration_s:.3f} s)")
        a, b = int(round(start_s * sr)), min(n_total, int(round(end_s * sr)))
        lead = int(round(margin * sr)) if w.size >= (b - a) + 2 * int(round(margin * sr)) - 1 else 0
        placed.append((a, b, a - lead, w))
    for (a0, b0, *_), (a1, *_r) in zip(placed, placed[1:]):
        if a1 < b0 - 1:
            raise ValueError(f"shots overlap at {a1 / sr:.3f} s; pass each shot's own time range")

    # each cut's fade region [cut - L, cut + R]: L from the incoming shot's lead, R from the outgoing tail
    half, full = int(round(crossfade_s * sr / 2)), int(round(crossfade_s * sr))
    fades: dict[int, tuple[int, int]] = {}  # index of the incoming shot -> (L, R)
    for i in range(1, len(placed)):
        a, _, w0, _ = placed[i]
        pb, pw0, pw = placed[i - 1][1], placed[i - 1][2], placed[i - 1][3]
        if a > pb + 1:
            continue  # a gap, not a cut: each side gets a short fade
        lead, tail = a - w0, max(0, pw0 + pw.size - pb)
        fades[i] = (min(lead, half if tail else full), min(tail, half if lead else full))
    short = max(1, int(round(MIN_FADE_S * sr)))

    out = np.zeros(n_total, np.float64)
    for i, (a, b, w0, w) in enumerate(placed):
        lo, hi = a, b
        left, right = fades.get(i), fades.get(i + 1)
        n_left = short if (left is None or sum(left) == 0) and i > 0 else (sum(left) if left else 0)
        n_right = short if (right is None or sum(right) == 0) and i + 1 < len(placed) else (
            sum(right) if right else 0)
        if left and sum(left):
            lo = a - left[0]
        if right and sum(right):
            hi = b + right[1]
        lo, hi = max(lo, 0), min(hi, n_total)
        seg = np.zeros(hi - lo)
        s0, s1 = max(lo, w0), min(hi, w0 + w.size)  # the part of the waveform inside [lo, hi)
        if s1 > s0:
            seg[s0 - lo:s1 - lo] = w[s0 - w0:s1 - w0]
        if n_left:
            k = min(n_left, seg.size)
            seg[:k] *= _fade(n_left)[1][:k]
        if n_right:
            k = min(n_right, seg.size)
            seg[seg.size - k:] *= _fade(n_right)[0][n_right - k:]
        out[lo:hi] += seg
    if target_lufs is not None:
        out = normalise(out, sr, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp)
    return out.astype(np.float32)


def true_peak(audio: np.ndarray, oversample: int = 4) -> np.ndarray:
    """Per-sample absolute peak of the ``oversample``-times oversampled signal (inter-sample peaks)."""
    x = np.asarray(audio, np.float64)
    if x.size == 0:
        return x
    up = np.abs(resample_poly(x, oversample, 1))
    return up[: x.size * oversample].reshape(x.size, oversample).max(axis=1)


def limit(audio: np.ndarray, sr: int, ceiling_dbtp: float = -1.0, lookahead_s: float = 0.005) -> np.ndarray:
    """Look-ahead peak limiter: smooth gain reduction so that the true peak stays under the ceiling."""
    x = np.asarray(audio, np.float64)
    ceiling = 10 ** (ceiling_dbtp / 20)
    peak = true_peak(x)
    if peak.size == 0 or peak.max() <= ceiling:
        return x
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    look = max(1, int(lookahead_s * sr))
    # the minimum over +-look then a mean over +-look/2: every gain is <= what each nearby peak needs
    gain = uniform_filter1d(minimum_filter1d(need, size=2 * look + 1), size=look + 1)
    y = x * gain
    return np.clip(y, -ceiling, ceiling)  # the limiter's own filter ripple never exceeds the ceiling


def normalise(audio: np.ndarray, sr: int, *, target_lufs: float = -23.0, ceiling_dbtp: float = -1.0) -> np.ndarray:
    """Gain to ``target_lufs`` integrated loudness, then the true-peak limiter; silence stays silent.

    When the limiter has to take much off (a loud target for peaky material), the gain is
    raised again up to four times; a target out of reach under the ceiling is approached.
    """
    x = np.asarray(audio, np.float64)
    lufs = loudness_lufs(x, sr)
    if not np.isfinite(lufs):
        return x
    y = limit(x * 10 ** ((target_lufs - lufs) / 20), sr, ceiling_dbtp)
    for _ in range(4):  # limiting lowers the loudness: a few correction passes
        after = loudness_lufs(y, sr)
        if not np.isfinite(after) or abs(after - target_lufs) <= 0.1:
            break
        y = limit(y * 10 ** ((target_lufs - after) / 20), sr, ceiling_dbtp)
    return y


def crossfade_windows(windows: list[np.ndarray], hop: int, overlap: int) -> np.ndarray:
    """Join overlapping generator windows (window ``k`` starts at ``k * hop``) with equal-power fades.

    Arguments:
        windows: 1-D waveforms; each must be at least ``overlap`` samples long.
        hop: samples between the starts of consecutive windows.
        overlap: samples of each overlap that are crossfaded (``<=`` the real overlap ``len - hop``).

    Returns:
        ``float32`` of ``hop * (len(windows) - 1) + len(windows[-1])`` samples.
    """
    if not windows:
        return np.zeros(0, np.float32)
    n = hop * (len(windows) - 1) + len(windows[-1])
    out = np.zeros(n, np.float64)
    f_out, f_in = _fade(overlap)
    for k, w in enumerate(windows):
        w = np.asarray(w, np.float64).copy()
        start = k * hop
        if k + 1 < len(windows):
            real = w.size - hop  # samples shared with the next window
            if real < overlap:
                raise ValueError(f"window {k} overlaps the next by {real} samples, less than overlap={overlap}")
            # keep this window up to the middle of the shared part, fading out across `overlap`
            end = hop + (real - overlap) // 2 + overlap
            w[end - overlap:end] *= f_out
            w[end:] = 0.0
        if k > 0:
            real = len(windows[k - 1]) - hop
            begin = (real - overlap) // 2
            w[:begin] = 0.0
            w[begin:begin + overlap] *= f_in
        out[start:start + w.size] += w
    return out.astype(np.float32)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sr: int) -> Path:
    """Write mono 16-bit PCM WAV atomically (a hidden partial file, then rename); values are clipped to [-1, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(np.asarray(audio, np.float64), -1.0, 1.0) * 32767.0).round().astype("<i2")
    partial = path.with_name(f".{path.name}.partial")
    try:
        with wave.open(str(partial), "wb") as fh:
            fh.setnchannels(1)
            fh.setsampwidth(2)
            fh.setframerate(int(sr))
            fh.writeframes(pcm.tobytes())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV written by :func:`write_wav`: ``(float32 mono, sample rate)``."""
    with wave.open(str(path), "rb") as fh:
        if fh.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported here; convert it first")
        data = np.frombuffer(fh.readframes(fh.getnframes()), "<i2").reshape(-1, fh.getnchannels())
        return (data.mean(axis=1) / 32767.0).astype(np.float32), fh.getframerate()
