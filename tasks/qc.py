"""Checks of generated audio candidates, and the rule that picks one per shot.

Synchronisation is scored the AV-Align way (Yariv et al., "Diverse and
Aligned Audio-to-Video Generation via Text-to-Video Model Adaptation", 2024):
onsets are detected in the audio (peaks of the spectral flux, i.e. the
half-wave rectified frame-to-frame increase of the log-magnitude spectrum)
and in the picture (the timing curve's onset peaks, see
:mod:`tasks.features`); each audio onset may match one visual onset within a
tolerance window (default +-100 ms, nearest pairs first). The score is the F1
of that matching; its IoU (matches over the union of both sets) is reported
too. Two silent sides (no onset in picture nor sound) agree perfectly (1.0);
onsets on one side only score 0.

Loudness is EBU R128 / ITU-R BS.1770-4 integrated loudness (pyloudnorm).

Selection rule (:func:`select_best`): a candidate is rejected when it is
silent (integrated loudness below -60 LUFS or peak below -80 dBFS), clips
(more than 0.1% of samples at full scale) or holds non-finite samples; of the
rest a candidate without unwanted speech (``unwanted_speech``, the pyannote.audio speech check of
:mod:`tasks.speech`, set when the shot has no transcript or its negative prompt excludes speech)
beats every candidate with it; then the highest sync F1 wins, ties broken by fewer clipped samples, then
loudness nearer -23 LUFS, then the earlier candidate (lower seed index).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyloudnorm
from scipy.signal import stft

from tasks.audio_grid import FRAME_RATE, match_events, pick_peaks

SILENCE_LUFS = -60.0
SILENCE_PEAK = 1e-4  # -80 dBFS
MAX_CLIPPING = 1e-3
CLIP_LEVEL = 0.999
TARGET_LUFS = -23.0


def _mono(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:  # (channels, samples) or (samples, channels): the longer axis is time
        x = x.mean(axis=0 if x.shape[0] < x.shape[1] else 1)
    if x.ndim != 1:
        raise ValueError(f"audio must be 1-D (samples) or 2-D (channels x samples), got shape {x.shape}")
    return x


def onset_strength(audio: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Spectral flux of ``audio``: ``(strength per frame, frames per second)``.

    Frames are 16 ms apart (the generator's audio grid) with 64 ms windows; the
    flux at frame ``t`` is the mean over frequency of the positive increase of
    ``log(1 + 100 |X|)`` from frame ``t-1`` to ``t``.
    """
    x = _mono(audio)
    hop = max(1, int(round(sr / FRAME_RATE)))
    n_fft = 4 * hop
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    _, _, spec = stft(x, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary="zeros",
                      padded=True)
    mag = np.log1p(100.0 * np.abs(spec))
    flux = np.maximum(np.diff(mag, axis=1, prepend=mag[:, :1]), 0.0).mean(axis=0)
    return flux, sr / hop


def onset_times(audio: np.ndarray, sr: int, *, min_gap_s: float = 0.12, relative: float = 0.1) -> np.ndarray:
    """Times (seconds) of the sound onsets in ``audio``: peaks of :func:`onset_strength`.

    A peak must be the largest within ``min_gap_s``, 1.5 times the median within
    0.5 s plus a small delta, and at least ``relative`` times the clip's strongest
    peak; nothing is found in silence.
    """
    flux, rate = onset_strength(audio, sr)
    if flux.size == 0 or flux.max() <= 1e-6:
        return np.zeros(0)
    peaks = pick_peaks(flux, rate, min_gap_s=min_gap_s, window_s=0.5, ratio=1.5, delta=0.02 * flux.max(),
                       floor=relative * flux.max())
    return peaks / rate


@dataclass
class SyncScore:
    f1: float
    iou: float
    precision: float
    recall: float
    audio_onsets: int
    video_onsets: int


def sync_score(audio: np.ndarray, sr: int, timing_curve, *, tolerance_s: float = 0.1) -> SyncScore:
    """How well the sound onsets of ``audio`` match the picture's onsets (AV-Align style, see module doc).

    Arguments:
        audio: the candidate waveform (starting at the shot's first frame).
        sr: its sample rate.
        timing_curve: a :class:`tasks.features.TimingCurve`, or the visual onset times in seconds.
        tolerance_s: the matching window either side.
    """
    video = np.asarray(getattr(timing_curve, "onset_times", timing_curve), np.float64).ravel()
    audio_t = onset_times(audio, sr)
    hits, precision, recall, f1 = match_events(video, audio_t, tolerance_s)
    union = video.size + audio_t.size - hits
    iou = 1.0 if union == 0 else hits / union
    return SyncScore(f1=f1, iou=iou, precision=precision, recall=recall, audio_onsets=int(audio_t.size),
                     video_onsets=int(video.size))


def loudness_lufs(audio: np.ndarray, sr: int) -> float:
    """EBU R128 integrated loudness in LUFS (``-inf`` for silence); clips shorter than 0.4 s are zero-padded."""
    x = _mono(audio)
    if x.size < int(0.4 * sr) + 1:
        x = np.pad(x, (0, int(0.4 * sr) + 1 - x.size))
    if not np.any(x):
        return float("-inf")
    return float(pyloudnorm.Meter(sr).integrated_loudness(x))


def clipping_ratio(audio: np.ndarray, level: float = CLIP_LEVEL) -> float:
    """Fraction of samples at or beyond ``level`` of full scale."""
    x = np.asarray(audio)
    return float(np.mean(np.abs(x) >= level)) if x.size else 0.0


def is_silent(audio: np.ndarray, sr: int) -> bool:
    """True when the peak is under -80 dBFS or the integrated loudness under -60 LUFS."""
    x = _mono(audio)
    return bool(x.size == 0 or np.max(np.abs(x)) < SILENCE_PEAK or loudness_lufs(x, sr) < SILENCE_LUFS)


def score_candidate(audio: np.ndarray, sr: int, timing_curve, *, tolerance_s: float = 0.1) -> dict:
    """All checks of one candidate: ``{"sync", "iou", "precision", "recall", "audio_onsets",
    "video_onsets", "lufs", "peak", "clipping", "silent", "rejected"}``; ``rejected`` is
    ``None`` or the reason, in words."""
    x = np.asarray(audio)
    if not np.all(np.isfinite(x)):
        return {"sync": 0.0, "iou": 0.0, "precision": 0.0, "recall": 0.0, "audio_onsets": 0, "video_onsets": 0,
                "lufs": float("nan"), "peak": float("nan"), "clipping": 0.0, "silent": False,
                "rejected": "holds NaN or infinite samples"}
    s = sync_score(x, sr, timing_curve, tolerance_s=tolerance_s)
    out = {"sync": s.f1, **{k: v for k, v in asdict(s).items() if k != "f1"}}
    out.update(lufs=loudness_lufs(x, sr), peak=float(np.max(np.abs(x))) if x.size else 0.0,
               clipping=clipping_ratio(x), silent=is_silent(x, sr))
    out["rejected"] = ("silent" if out["silent"] else
                       f"clips ({out['clipping']:.2%} of samples at full scale)" if out["clipping"] > MAX_CLIPPING
                       else None)
    return out


def select_best(candidates: list[dict]) -> int | None:
    """Index of the candidate to keep (rule in the module doc), or ``None`` when every one is rejected."""
    usable = [i for i, c in enumerate(candidates) if not c.get("rejected")]
    if not usable:
        return None

    def key(i: int) -> tuple:
        c = candidates[i]
        lufs = c.get("lufs", TARGET_LUFS)
        return (bool(c.get("unwanted_speech")), -round(c["sync"], 6), c.get("clipping", 0.0), abs(lufs - TARGET_LUFS) if np.isfinite(lufs) else 1e9, i)

    return min(usable, key=key)
