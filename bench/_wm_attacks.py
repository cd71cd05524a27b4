"""Transformations a delivered soundtrack meets, for the watermark robustness benchmark (and tests).

Every function takes float audio, mono ``(n,)`` or ``(channels, n)``, and returns float32 of the same
number of channels (``(n,)`` stays ``(n,)``); the length may change where the transformation changes
it (crop, time shift, a codec's priming delay). Levels are clipped to [-1, 1] wherever a real file
would clip (gain, noise, mixing, codecs' decoded output). Random choices come from the ``rng`` given.

Codecs are real encoders run in memory through PyAV (``io.BytesIO``): FFmpeg's native AAC-LC encoder
(ADTS or MP4/"ipod" container) and libmp3lame, then decoded back as a player would, without
compensating the encoder's delay (a watermark has to find its own alignment).
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly


def _as2d(x: np.ndarray) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, np.float64)
    if a.ndim not in (1, 2):
        raise ValueError(f"audio must be (n,) or (channels, n), got shape {a.shape}")
    return np.atleast_2d(a), a.ndim == 1


def _out(y: np.ndarray, mono: bool) -> np.ndarray:
    y = np.asarray(y, np.float32)
    return y[0] if mono else y


def clip(x: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1], as writing a fixed-point file would."""
    return np.clip(np.asarray(x, np.float32), -1.0, 1.0)


def identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).copy()


# --- codecs ---------------------------------------------------------------------------------------
def codec_available(name: str) -> bool:
    """True when PyAV's FFmpeg has the encoder ``name`` (e.g. ``"aac"``, ``"libmp3lame"``)."""
    try:
        import av

        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001 (any failure means: not available)
        return False


def _layout(channels: int) -> str:
    if channels == 1:
        return "mono"
    if channels == 2:
        return "stereo"
    raise ValueError(f"codec round trips support 1 or 2 channels, got {channels}")


def codec_roundtrip(x: np.ndarray, sr: int, *, codec: str, container: str, bitrate: int) -> np.ndarray:
    """Encode with ``codec`` into ``container`` (both FFmpeg names) at ``bitrate`` bit/s, in memory, and
    decode back at ``sr``. The decoded length is kept up to the input's length (a codec's leading delay
    stays in, the tail is trimmed or zero-padded to the input's length)."""
    import av

    a, mono = _as2d(x)
    channels, n = a.shape
    layout = _layout(channels)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        st = out.add_stream(codec, rate=int(sr))
        st.layout = layout
        st.bit_rate = int(bitrate)
        cc = st.codec_context
        cc.open()  # fixes frame_size
        step = cc.frame_size or 1024
        fmt = "fltp" if "fltp" in [f.name for f in cc.codec.audio_formats] else cc.codec.audio_formats[0].name
        src = np.clip(a, -1.0, 1.0).astype(np.float32)
        for pos in range(0, n, step):
            chunk = np.ascontiguousarray(src[:, pos:pos + step])
            if fmt == "fltp":
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T.reshape(1, -1)), format="flt",
                                                   layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = int(sr), pos, Fraction(1, int(sr))
            for packet in st.encode(frame):
                out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf, mode="r", format=container) as inp:
        ist = inp.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=int(sr))
        for frame in inp.decode(ist):
            for f in resampler.resample(frame):
                chunks.append(f.to_ndarray().reshape(channels, -1))
        for f in resampler.resample(None):
            chunks.append(f.to_ndarray().reshape(channels, -1))
    y = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    y = y[:, :n] if y.shape[1] >= n else np.pad(y, ((0, 0), (0, n - y.shape[1])))
    return _out(np.clip(y, -1.0, 1.0), mono)


def aac(x: np.ndarray, sr: int, kbps: int = 128, container: str = "adts") -> np.ndarray:
    """AAC-LC (FFmpeg's native encoder, the one tasks/deliver.py uses) at ``kbps`` kbit/s."""
    return codec_roundtrip(x, sr, codec="aac", container=container, bitrate=int(kbps) * 1000)


def at_rate(x: np.ndarray, sr: int, rate: int, edit) -> np.ndarray:
    """``edit(audio, rate)`` applied at ``rate`` (e.g. 48 kHz, as a delivery is encoded) and resampled back to ``sr``."""
    if int(rate) == int(sr):
        return edit(x, int(sr))
    g = np.gcd(int(sr), int(rate))
    up = resample_poly(np.asarray(x, np.float64), int(rate) // g, int(sr) // g, axis=-1)
    return resample_poly(edit(up, int(rate)), int(sr) // g, int(rate) // g, axis=-1)


def mp3(x: np.ndarray, sr: int, kbps: int = 128) -> np.ndarray:
    """MP3 through libmp3lame at ``kbps`` kbit/s (check :func:`codec_available` ("libmp3lame") first)."""
    return codec_roundtrip(x, sr, codec="libmp3lame", container="mp3", bitrate=int(kbps) * 1000)


# --- rate, level, noise ---------------------------------------------------------------------------
def resample_roundtrip(x: np.ndarray, sr: int, mid_sr: int) -> np.ndarray:
    """Resample to ``mid_sr`` and back to ``sr`` (polyphase, scipy), same length as the input."""
    a, mono = _as2d(x)
    n = a.shape[1]
    g = np.gcd(int(sr), int(mid_sr))
    down = resample_poly(a, int(mid_sr) // g, int(sr) // g, axis=1)
    back = resample_poly(down, int(sr) // g, int(mid_sr) // g, axis=1)
    back = back[:, :n] if back.shape[1] >= n else np.pad(back, ((0, 0), (0, n - back.shape[1])))
    return _out(np.clip(back, -1.0, 1.0), mono)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    """Gain by ``db`` dB, clipped to [-1, 1] (a louder copy written to a file clips)."""
    return clip(np.asarray(x, np.float64) * 10 ** (db / 20))


def white_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise at ``snr_db`` below the clip's mean power, clipped to [-1, 1]."""
    a = np.asarray(x, np.float64)
    power = float(np.mean(a ** 2))
    noise = rng.standard_normal(a.shape) * np.sqrt(power * 10 ** (-snr_db / 10))
    return clip(a + noise)


# --- time -----------------------------------------------------------------------------------------
def crop(x: np.ndarray, sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``seconds``-long excerpt (the whole clip when it is shorter)."""
    a, mono = _as2d(x)
    n = int(round(seconds * sr))
    if a.shape[1] <= n:
        return _out(a, mono)
    start = int(rng.integers(0, a.shape[1] - n + 1))
    return _out(a[:, start:start + n], mono)


def time_shift(x: np.ndarray, sr: int, rng: np.random.Generator, lo_s: float = 0.1, hi_s: float = 1.0,
               mode: str | None = None) -> np.ndarray:
    """Drop a random ``lo_s``-``hi_s`` s from the start (``mode="drop"``) or prepend that much silence
    (``"pad"``); ``mode=None`` picks one at random."""
    a, mono = _as2d(x)
    k = int(round(rng.uniform(lo_s, hi_s) * sr))
    mode = mode or ("drop" if rng.random() < 0.5 else "pad")
    if mode == "drop":
        y = a[:, k:]
    elif mode == "pad":
        y = np.concatenate([np.zeros((a.shape[0], k)), a], axis=1)
    else:
        raise ValueError(f"mode must be 'drop', 'pad' or None, got {mode!r}")
    return _out(y, mono)


def mix(x: np.ndarray, other: np.ndarray, db: float = -6.0) -> np.ndarray:
    """``x`` plus ``other`` scaled to ``db`` dB of ``x``'s RMS (``other`` is looped or cut to ``x``'s length
    and channel count), clipped to [-1, 1]."""
    a, mono = _as2d(x)
    b, _ = _as2d(other)
    if b.shape[0] != a.shape[0]:
        b = np.repeat(b.mean(axis=0, keepdims=True), a.shape[0], axis=0)
    n = a.shape[1]
    if b.shape[1] < n:
        b = np.tile(b, (1, int(np.ceil(n / max(b.shape[1], 1)))))
    b = b[:, :n]
    ra, rb = np.sqrt(np.mean(a ** 2)), np.sqrt(np.mean(b ** 2))
    if rb > 0:
        b = b * (ra / rb) * 10 ** (db / 20)
    return _out(np.clip(a + b, -1.0, 1.0), mono)
