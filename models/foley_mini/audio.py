"""Audio front end of foley-mini: decoding, the log-mel spectrogram, and its normalisation.

Everything here follows the shared audio grid (:mod:`tasks.audio_grid`):
16 kHz mono, hop 256 (62.5 frames per second), ``1 + n // HOP`` frames for
``n`` samples. The spectrogram is a 64-bin mel of the STFT *magnitude*
(n_fft 1024, Hann window, centred frames), in natural log with a floor of
``ln(1e-5)``. The vocoder inverts exactly this transform.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torchaudio

from tasks.audio_grid import HOP, SAMPLE_RATE

N_FFT: int = 1024
N_MELS: int = 64
F_MIN: float = 0.0
F_MAX: float = SAMPLE_RATE / 2
LOG_FLOOR: float = 1e-5
LOG_MIN: float = math.log(LOG_FLOOR)  # the log-mel value of silence


class AudioReadError(ValueError):
    """An audio file that cannot be decoded."""


@dataclass(frozen=True)
class MelSpec:
    """The spectrogram parameters, one object shared by the front end and the vocoder."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop_length: int = HOP
    n_mels: int = N_MELS
    f_min: float = F_MIN
    f_max: float = F_MAX

    @property
    def n_stft(self) -> int:
        """Frequency bins of the linear STFT."""
        return self.n_fft // 2 + 1

    def frames(self, n_samples: int) -> int:
        """Frames of ``n_samples`` of audio (centred STFT): ``1 + n // hop``."""
        return 1 + n_samples // self.hop_length


def decode_mono(container, stream, sample_rate: int) -> list[np.ndarray]:
    """Every sample of ``stream`` as mono float32 chunks at ``sample_rate`` (FFmpeg's resampler, flushed).

    Raises:
        av.error.FFmpegError: the stream does not decode (callers turn it into their own error).
    """
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks = []
    for frame in container.decode(stream):
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return chunks


def read_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any audio file PyAV can read into mono float32 at ``sample_rate``.

    Arguments:
        path: an audio file (FLAC, WAV, Ogg, ...).
        sample_rate: output rate; other rates are resampled (libswresample).

    Returns:
        ``float32 (samples,)`` in [-1, 1].

    Raises:
        FileNotFoundError: the file does not exist.
        AudioReadError: the file holds no decodable audio stream.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such audio file")
    try:
        with av.open(str(p)) as container:
            if not container.streams.audio:
                raise AudioReadError(f"{p}: no audio stream; give a sound file (FLAC, WAV, Ogg)")
            chunks = decode_mono(container, container.streams.audio[0], sample_rate)
    except av.error.FFmpegError as exc:
        raise AudioReadError(f"{p}: cannot decode audio ({exc}); check the file is a complete sound file") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.clip(np.concatenate(chunks).astype(np.float32), -1.0, 1.0)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono float audio as 16-bit WAV or FLAC (by suffix), atomically (temp file, then rename).

    Arguments:
        path: destination ending in ``.wav`` or ``.flac``.
        audio: ``(samples,)`` float in [-1, 1] (clipped).
        sample_rate: the audio's rate.

    Returns:
        The written path.

    Raises:
        ValueError: the suffix is neither ``.wav`` nor ``.flac``.
    """
    p = Path(path)
    codec = {".wav": "pcm_s16le", ".flac": "flac"}.get(p.suffix.lower())
    if codec is None:
        raise ValueError(f"{p}: write .wav or .flac")
    pcm = (np.clip(np.asarray(audio, np.float32).reshape(-1), -1, 1) * 32767).round().astype(np.int16)
    tmp = p.with_name(f".{p.name}.partial{p.suffix}")
    p.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(tmp), mode="w") as c:
        s = c.add_stream(codec, rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in s.encode(frame):
            c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    os.replace(tmp, p)
    return p


class LogMel(torch.nn.Module):
    """Waveform -> natural-log magnitude mel spectrogram ``(..., n_mels, 1 + n // hop)``."""

    def __init__(self, spec: MelSpec = MelSpec()) -> None:
        super().__init__()
        self.spec = spec
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=spec.sample_rate, n_fft=spec.n_fft, hop_length=spec.hop_length, f_min=spec.f_min,
            f_max=spec.f_max, n_mels=spec.n_mels, power=1.0, center=True, pad_mode="reflect")

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel(waveform).clamp_min(LOG_FLOOR))


_LOGMEL: LogMel | None = None


def log_mel(audio: np.ndarray | torch.Tensor) -> np.ndarray:
    """Log-mel spectrogram of mono 16 kHz audio.

    Arguments:
        audio: ``(samples,)`` or ``(batch, samples)`` float waveform.

    Returns:
        ``float32 (n_mels, frames)`` (or ``(batch, n_mels, frames)``), natural log, floor ``LOG_MIN``.
    """
    global _LOGMEL
    if _LOGMEL is None:
        _LOGMEL = LogMel()
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    if x.shape[-1] < N_FFT // 2 + 1:  # reflect padding needs more samples than half a window
        x = torch.nn.functional.pad(x, (0, N_FFT // 2 + 1 - x.shape[-1]))
    with torch.no_grad():
        return _LOGMEL(x).numpy()


def mix_log_mels(a: np.ndarray, b: np.ndarray, gain_b_db: float = 0.0) -> np.ndarray:
    """Log-mel of the sum of two uncorrelated sounds, approximated in the magnitude domain.

    The magnitudes of independent sources add in power on average, so the mix is
    ``log(sqrt(exp(2a) + g^2 exp(2b)))``; exact enough for augmentation and far
    cheaper than re-running the STFT.
    """
    g = 10.0 ** (gain_b_db / 20.0)
    mixed = np.logaddexp(2.0 * a, 2.0 * b + 2.0 * math.log(g)) / 2.0
    return np.maximum(mixed, LOG_MIN).astype(np.float32)
