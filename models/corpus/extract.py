"""Audio of corpus clips: decode, mono 16 kHz, trim, check, normalise, write FLAC, fingerprint.

Decoding and resampling use PyAV (FFmpeg's decoders and ``swresample``). A
clip is refused with a reason when it is silent, shorter than the minimum
after trimming, or clipped (too many samples at full scale). Loudness is
normalised with pyloudnorm (ITU-R BS.1770) to ``target_lufs``, with the peak
held under ``peak_dbfs``. Files are written as 16-bit FLAC atomically.

The fingerprint is coarse on purpose, to group the same recording under
other encodings, trims and gains: a 32-band log-mel profile (mean over time,
mean removed) and a 10 Hz loudness envelope. :func:`same_recording` compares two.
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyloudnorm

from models.foley_mini.audio import decode_mono

SAMPLE_RATE = 16_000
_ENV_HZ = 10
_N_BANDS = 32
_ENV_FLOOR_DB = 60.0


class AudioRejected(ValueError):
    """The file is not usable as a corpus clip; the message is the reason recorded."""


@dataclass(frozen=True)
class AudioConfig:
    """How clips are prepared.

    Attributes:
        min_seconds: clips shorter than this after trimming are dropped.
        max_seconds: longer clips are cut to this length (ambience beds run for minutes).
        silence_db: frames this far under the clip's loudest 20 ms frame count as silence when trimming.
        clip_fraction: more than this fraction of samples at full scale means the file is clipped.
        target_lufs: integrated loudness after normalisation.
        peak_dbfs: the sample peak is held under this.
    """

    min_seconds: float = 0.4
    max_seconds: float = 60.0
    silence_db: float = 45.0
    clip_fraction: float = 0.005
    target_lufs: float = -23.0
    peak_dbfs: float = -1.0


def decode(data: bytes, name: str = "") -> tuple[np.ndarray, int]:
    """Decode audio bytes to mono float32 at 16 kHz.

    Returns:
        ``(samples, source_sample_rate)``.

    Raises:
        AudioRejected: the bytes hold no decodable audio stream.
    """
    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:  # Latin-1 INFO tags
            if not container.streams.audio:
                raise AudioRejected("no audio stream")
            stream = container.streams.audio[0]
            source_rate = stream.codec_context.sample_rate or stream.rate
            chunks = decode_mono(container, stream, SAMPLE_RATE)
    except av.FFmpegError as exc:
        raise AudioRejected(f"cannot decode {name or 'audio'}: {exc}") from exc
    if not chunks:
        raise AudioRejected("no audio samples")
    return np.concatenate(chunks).astype(np.float32), int(source_rate)


def _frame_db(samples: np.ndarray, hop: int) -> np.ndarray:
    n = len(samples) // hop
    frames = samples[: n * hop].reshape(n, hop) if n else samples.reshape(1, -1)
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def prepare(samples: np.ndarray, config: AudioConfig = AudioConfig()) -> np.ndarray:
    """Trim silence, check, and loudness-normalise a mono 16 kHz clip.

    Raises:
        AudioRejected: silent, clipped, or too short.
    """
    if samples.size == 0 or float(np.max(np.abs(samples))) < 1e-4:
        raise AudioRejected("silent")
    full_scale = float(np.mean(np.abs(samples) >= 0.999))
    if full_scale > config.clip_fraction:
        raise AudioRejected(f"clipped ({full_scale:.1%} of samples at full scale)")
    hop = SAMPLE_RATE // 50  # 20 ms
    db = _frame_db(samples, hop)
    loud = np.flatnonzero(db > db.max() - config.silence_db)
    start = max(0, int(loud[0]) * hop - hop)
    end = min(len(samples), (int(loud[-1]) + 2) * hop)
    trimmed = samples[start:end][: int(config.max_seconds * SAMPLE_RATE)]
    if len(trimmed) < config.min_seconds * SAMPLE_RATE:
        raise AudioRejected(f"too short ({len(trimmed) / SAMPLE_RATE:.2f} s after trimming silence)")
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    loudness = meter.integrated_loudness(trimmed.astype(np.float64))
    if not np.isfinite(loudness):
        raise AudioRejected("silent (no measurable loudness)")
    out = trimmed * np.float32(10 ** ((config.target_lufs - loudness) / 20))
    peak_limit = 10 ** (config.peak_dbfs / 20)
    peak = float(np.max(np.abs(out)))
    if peak > peak_limit:
        out = out * np.float32(peak_limit / peak)
    return out.astype(np.float32)


def write_flac(samples: np.ndarray, path: Path) -> None:
    """Write mono 16 kHz samples as 16-bit FLAC, atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype(np.int16)
    try:
        with av.open(str(tmp), "w", format="flac") as container:
            stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
            stream.format = "s16"
            for begin in range(0, len(pcm), 16384):
                frame = av.AudioFrame.from_ndarray(pcm[None, begin:begin + 16384], format="s16", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                frame.pts = begin
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_flac(path: Path) -> np.ndarray:
    """Samples of a corpus FLAC as float32 (for checks and the training loader)."""
    samples, _ = decode(Path(path).read_bytes(), str(path))
    return samples


@dataclass(frozen=True)
class Fingerprint:
    """Coarse description of a recording for near-duplicate grouping."""

    profile: np.ndarray  # (32,) mean log-mel, mean removed
    envelope: np.ndarray  # loudness in dB at 10 Hz
    duration_s: float

    def code(self) -> str:
        """A 64-bit hex code: signs of profile slopes and of envelope changes (for display and quick equality)."""
        bits = list(np.diff(self.profile) > 0)[:31] + [True]
        env = np.interp(np.linspace(0, len(self.envelope) - 1, 33), np.arange(len(self.envelope)), self.envelope)
        bits += list(np.diff(env) > 0)
        return f"{int(''.join('1' if b else '0' for b in bits[:64]), 2):016x}"


def _mel_filters(n_fft: int, n_bands: int) -> np.ndarray:
    mel = np.linspace(2595 * np.log10(1 + 50 / 700), 2595 * np.log10(1 + 7600 / 700), n_bands + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    bins = np.floor((n_fft + 1) * hz / SAMPLE_RATE).astype(int)
    filters = np.zeros((n_bands, n_fft // 2 + 1))
    for i in range(n_bands):
        lo, mid, hi = bins[i], max(bins[i + 1], bins[i] + 1), max(bins[i + 2], bins[i + 1] + 2)
        filters[i, lo:mid] = np.linspace(0, 1, mid - lo, endpoint=False)
        filters[i, mid:hi] = np.linspace(1, 0, hi - mid, endpoint=False)
    return filters


_FILTERS = _mel_filters(1024, _N_BANDS)


def fingerprint(samples: np.ndarray) -> Fingerprint:
    """The :class:`Fingerprint` of a prepared clip (mono, 16 kHz)."""
    hop = SAMPLE_RATE // _ENV_HZ
    n = max(1, (len(samples) - 1024) // hop + 1)
    padded = np.pad(samples, (0, max(0, 1024 + (n - 1) * hop - len(samples))))
    frames = np.stack([padded[i * hop:i * hop + 1024] for i in range(n)]) * np.hanning(1024)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    envelope = 10 * np.log10(power.sum(axis=1) + 1e-10)
    envelope = np.maximum(envelope - envelope.max(), -_ENV_FLOOR_DB)  # encoders differ in their noise floor
    mel = 10 * np.log10(power @ _FILTERS.T + 1e-10)
    mel = np.maximum(mel, mel.max() - 80.0)
    profile = mel[envelope > -40.0].mean(axis=0)  # the recording, not its silences
    return Fingerprint(profile - profile.mean(), envelope, len(samples) / SAMPLE_RATE)


def same_recording(a: Fingerprint, b: Fingerprint, *, profile_corr: float = 0.98, envelope_corr: float = 0.92) -> bool:
    """Whether two fingerprints are the same recording (possibly re-encoded, trimmed or re-levelled).

    Durations within 25%, spectral profiles correlated above ``profile_corr``, and loudness envelopes
    correlated above ``envelope_corr`` at the best shift of up to 1 s.
    """
    if min(a.duration_s, b.duration_s) / max(a.duration_s, b.duration_s) < 0.75:
        return False
    if float(np.corrcoef(a.profile, b.profile)[0, 1]) < profile_corr:
        return False
    x, y = (a.envelope, b.envelope) if len(a.envelope) <= len(b.envelope) else (b.envelope, a.envelope)
    if len(x) < 8:  # under 0.8 s the envelope says little: demand a near-identical spectrum and level curve
        if float(np.corrcoef(a.profile, b.profile)[0, 1]) < 0.995:
            return False
        return any(np.allclose(x, y[s:s + len(x)], atol=3.0) for s in range(0, len(y) - len(x) + 1))
    best = -1.0
    for shift in range(-_ENV_HZ, len(y) - len(x) + _ENV_HZ + 1):
        lo, hi = max(0, shift), min(len(y), shift + len(x))
        if hi - lo < max(4, int(0.8 * len(x))):
            continue
        seg_y, seg_x = y[lo:hi], x[lo - shift:hi - shift]
        if seg_x.std() < 1e-6 or seg_y.std() < 1e-6:
            corr = 1.0 if np.allclose(seg_x, seg_y, atol=1.0) else 0.0
        else:
            corr = float(np.corrcoef(seg_x, seg_y)[0, 1])
        best = max(best, corr)
    return best >= envelope_corr
