"""Keyed audio watermark (docstring with the design and measured figures: written after the bench)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter, uniform_filter1d
from scipy.signal import resample_poly

# --- layout -------------------------------------------------------------------------------------
WORK_RATE = 16000  # the mark lives in 300 Hz - 7 kHz at this rate
N_FFT = 512
HOP = 128
BAND_LO_HZ = 300.0
BAND_HI_HZ = 7000.0
PERIOD = 16000  # samples at WORK_RATE: the carrier repeats every second
PILOT_FRACTION = 0.3

PAYLOAD_BITS = 32
CRC_BITS = 16
K = 7
GENERATORS = (0o133, 0o145, 0o175)  # rate 1/3, constraint length 7

TARGET_SNR_DB = 30.5
THRESHOLD = 6.0  # pilot z-score that alone declares a mark (null: max over PERIOD lags)
CRC_THRESHOLD = 4.0  # the lower pilot score that suffices when the payload's CRC checks
MIN_KEY_BYTES = 16

KEY_ENV = "FOLEYFLOW_WATERMARK_KEY"
KEY_FILE_ENV = "FOLEYFLOW_WATERMARK_KEY_FILE"
DEMO_KEY_NAME = "watermark-demo.key"


# --- keys ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """A watermark key. ``repr``/``str`` show the fingerprint, never the secret."""

    secret: bytes = field(repr=False)
    source: str = "explicit"
    demo: bool = False

    def __post_init__(self):
        if not isinstance(self.secret, (bytes, bytearray)):
            raise TypeError("Key.secret must be bytes")
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"watermark key from {self.source} is {len(self.secret)} bytes; at least "
                             f"{MIN_KEY_BYTES} are needed (make one with: python -c 'import secrets; "
                             f"print(secrets.token_hex(32))')")
        object.__setattr__(self, "secret", bytes(self.secret))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(b"foleyflow-watermark-fingerprint/" + self.secret).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"Key(fingerprint={self.fingerprint!r}, source={self.source!r}, demo={self.demo})"

    __str__ = __repr__

    def derive(self, label: str) -> bytes:
        return hmac.new(self.secret, b"foleyflow-watermark-v2/" + label.encode(), hashlib.sha256).digest()

    def rng(self, label: str) -> np.random.Generator:
        return np.random.default_rng(int.from_bytes(self.derive(label), "big"))


def parse_key(text: str | bytes, source: str = "explicit") -> Key:
    """A key from its hex text (whitespace ignored). Errors never echo the text."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"watermark key from {source} is not hex text") from None
    s = re.sub(r"\s+", "", text)
    if s.lower().startswith("0x"):
        s = s[2:]
    if not s or len(s) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", s):
        raise ValueError(f"watermark key from {source} is malformed: expected an even number of hex digits "
                         f"({2 * MIN_KEY_BYTES} or more), got {len(s)} characters")
    return Key(bytes.fromhex(s), source=source)


def _home(home: Path | None) -> Path:
    if home is not None:
        return Path(home).expanduser()
    return Path(os.environ.get("FOLEYFLOW_HOME", "foleyflow-data")).expanduser()


def load_key(home: Path | None = None) -> Key:
    """The watermark key: ``$FOLEYFLOW_WATERMARK_KEY`` (hex), else the file named by
    ``$FOLEYFLOW_WATERMARK_KEY_FILE`` (hex), else a demo key made on first use in
    ``<home>/keys/watermark-demo.key`` (mode 0600, ``demo=True``). ``home`` defaults to
    ``$FOLEYFLOW_HOME``."""
    text = os.environ.get(KEY_ENV)
    if text is not None and text.strip():
        return parse_key(text, source=f"${KEY_ENV}")
    name = os.environ.get(KEY_FILE_ENV)
    if name is not None and name.strip():
        path = Path(name).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"watermark key file {path} (${KEY_FILE_ENV}) cannot be read: {exc.strerror}") from None
        return parse_key(data, source=f"file {path}")
    path = _home(home) / "keys" / DEMO_KEY_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    else:
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
    key = parse_key(path.read_bytes(), source=f"demo file {path}")
    return Key(key.secret, source=key.source, demo=True)


def _as_key(key) -> Key:
    if isinstance(key, Key):
        return key
    if isinstance(key, (bytes, bytearray)):
        return Key(bytes(key))
    if isinstance(key, str):
        return parse_key(key)
    raise TypeError(f"key must be a tasks.watermark.Key, bytes or hex str, not {type(key).__name__}")


# --- payload coding -----------------------------------------------------------------------------
def crc16(bits: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT (poly 0x1021, init 0xFFFF) of a bit array, as 16 bits."""
    reg = 0xFFFF
    for b in bits:
        top = ((reg >> 15) & 1) ^ int(b)
        reg = (reg << 1) & 0xFFFF
        if top:
            reg ^= 0x1021
    return np.array([(reg >> (15 - i)) & 1 for i in range(16)], np.int8)


def _int_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], np.int8)


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


def conv_encode(bits: np.ndarray) -> np.ndarray:
    state = 0
    out = []
    for b in list(bits) + [0] * (K - 1):
        reg = (int(b) << (K - 1)) | state
        out.extend(_parity(reg & g) for g in GENERATORS)
        state = reg >> 1
    return np.array(out, np.int8)


def _trellis():
    n_states = 1 << (K - 1)
    nxt = np.zeros((n_states, 2), np.int64)
    outs = np.zeros((n_states, 2, len(GENERATORS)), np.int8)
    for s in range(n_states):
        for b in (0, 1):
            reg = (b << (K - 1)) | s
            nxt[s, b] = reg >> 1
            outs[s, b] = [_parity(reg & g) for g in GENERATORS]
    return nxt, outs


_NEXT, _OUTS = _trellis()


def viterbi(soft: np.ndarray, n_bits: int) -> np.ndarray:
    """Soft Viterbi decoding; ``soft`` > 0 means coded bit 1. Zero-terminated trellis."""
    n_out = len(GENERATORS)
    steps = soft.size // n_out
    y = soft.reshape(steps, n_out)
    n_states = 1 << (K - 1)
    metric = np.full(n_states, -np.inf)
    metric[0] = 0.0
    signs = (2.0 * _OUTS - 1.0).reshape(-1, n_out)  # (states*2, n_out)
    src = np.repeat(np.arange(n_states), 2)
    bits = np.tile([0, 1], n_states).astype(np.int8)
    dst = _NEXT.reshape(-1)
    # each destination state has exactly two predecessors: gather them once
    pred = np.argsort(dst, kind="stable").reshape(n_states, 2)
    back = np.zeros((steps, n_states), np.int64)
    for t in range(steps):
        cand = metric[src] + signs @ y[t]
        c2 = cand[pred]
        pick = np.argmax(c2, axis=1)
        chosen = pred[np.arange(n_states), pick]
        metric = c2[np.arange(n_states), pick]
        back[t] = chosen
    state = 0
    out = np.zeros(steps, np.int8)
    for t in range(steps - 1, -1, -1):
        e = back[t, state]
        out[t] = bits[e]
        state = src[e]
    return out[:n_bits]


def n_coded_bits() -> int:
    return (PAYLOAD_BITS + CRC_BITS + K - 1) * len(GENERATORS)


def encode_payload(payload: int) -> np.ndarray:
    if isinstance(payload, bool) or not isinstance(payload, (int, np.integer)):
        raise TypeError(f"payload must be an int, not {type(payload).__name__}")
    if not 0 <= int(payload) < (1 << PAYLOAD_BITS):
        raise ValueError(f"payload must be an integer in [0, 2**{PAYLOAD_BITS}), got {payload}")
    bits = _int_bits(int(payload), PAYLOAD_BITS)
    return conv_encode(np.concatenate([bits, crc16(bits)]))


# --- keyed pattern ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    bins: np.ndarray  # in-band bins of the PERIOD-point FFT
    phase: np.ndarray  # unit phasors of those bins
    bit: np.ndarray  # coded bit carried by each bin, -1 for the pilot
    n_coded: int


@lru_cache(maxsize=16)
def _pattern(secret: bytes) -> Pattern:
    key = Key(secret)
    lo = int(np.ceil(BAND_LO_HZ * PERIOD / WORK_RATE))
    hi = int(np.floor(BAND_HI_HZ * PERIOD / WORK_RATE))
    bins = np.arange(lo, hi + 1)
    n = bins.size
    order = key.rng("bins").permutation(n)
    n_pilot = int(round(PILOT_FRACTION * n))
    n_coded = n_coded_bits()
    bit = -np.ones(n, np.int64)
    bit[order[n_pilot:]] = np.arange(n - n_pilot) % n_coded
    phase = np.exp(2j * np.pi * key.rng("phases").random(n))
    return Pattern(bins, phase, bit, n_coded)


def pattern(key) -> Pattern:
    return _pattern(_as_key(key).secret)


def _bin_signs(pat: Pattern, payload: int) -> np.ndarray:
    """+1 on pilot bins, the coded bit's sign on payload bins."""
    coded = encode_payload(payload)
    sign = np.ones(pat.bins.size)
    pay = pat.bit >= 0
    sign[pay] = 2.0 * coded[pat.bit[pay]] - 1.0
    return sign


# --- signal helpers -----------------------------------------------------------------------------
def _ratio(sr: int) -> tuple[int, int]:
    f = Fraction(WORK_RATE, int(sr))
    return f.numerator, f.denominator


def _to_work(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == WORK_RATE:
        return x
    up, down = _ratio(sr)
    return resample_poly(x, up, down)


def _from_work(m: np.ndarray, sr: int, n: int) -> np.ndarray:
    if sr != WORK_RATE:
        up, down = _ratio(sr)
        m = resample_poly(m, down, up)
    m = m[:n]
    return np.pad(m, (0, n - m.size))


_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
_PAD = N_FFT  # leading pad so every sample is covered by N_FFT // HOP frames


def _n_frames(n: int) -> int:
    return (n + 2 * _PAD - N_FFT) // HOP + 1


def _stft(x: np.ndarray) -> np.ndarray:
    """Hann-windowed frames, (frames, bins) complex."""
    pad = np.pad(x, (_PAD, _PAD + HOP))
    nf = _n_frames(x.size)
    frames = np.lib.stride_tricks.sliding_window_view(pad, N_FFT)[::HOP][:nf]
    return np.fft.rfft(frames * _WINDOW, axis=1)


def _overlap_add(spec: np.ndarray, n: int) -> np.ndarray:
    """Windowed overlap-add of the frames of ``spec`` (the adjoint of :func:`_stft`)."""
    frames = np.fft.irfft(spec, n=N_FFT, axis=1) * _WINDOW
    nf = frames.shape[0]
    r = N_FFT // HOP
    out = np.zeros((nf + r) * HOP)
    for k in range(r):
        out[k * HOP:(k + nf) * HOP] += frames[:, k * HOP:(k + 1) * HOP].reshape(-1)
    return out[_PAD:_PAD + n]


def _istft(spec: np.ndarray, n: int) -> np.ndarray:
    return _overlap_add(spec, n) / (np.sum(_WINDOW ** 2) / HOP)


def _bark(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, np.float64)
    return 13.0 * np.arctan(0.00076 * f) + 3.5 * np.arctan((f / 7500.0) ** 2)


def _schroeder_db(dz: np.ndarray) -> np.ndarray:
    """Schroeder's spreading function (dB) at bark distance ``dz`` = maskee - masker, 0 dB peak."""
    return 15.81 + 7.5 * (dz + 0.474) - 17.5 * np.sqrt(1.0 + (dz + 0.474) ** 2)


@lru_cache(maxsize=4)
def _spread_matrix(n_bins: int, sr: int) -> np.ndarray:
    """(masker bin, maskee bin) power spreading, columns normalised so a flat spectrum stays flat."""
    z = _bark(np.arange(n_bins) * sr / (2.0 * (n_bins - 1)))
    s = 10 ** (_schroeder_db(z[None, :] - z[:, None]) / 10)
    s[s < 1e-4] = 0.0
    return s / s.sum(axis=0, keepdims=True)


def _band_bins() -> slice:
    lo = int(np.ceil(BAND_LO_HZ * N_FFT / WORK_RATE))
    hi = int(np.floor(BAND_HI_HZ * N_FFT / WORK_RATE))
    return slice(lo, hi + 1)


FORWARD_DB_PER_HOP = 3.0  # forward (post-) masking: the pattern decays with a ~12 ms time constant
PRE_DB = (10.0,)  # backward (pre-) masking from the next frame, 8 ms ahead
TONAL = True


@lru_cache(maxsize=4)
def _bin_bark(n_bins: int, sr: int) -> np.ndarray:
    return _bark(np.arange(n_bins) * sr / (2.0 * (n_bins - 1)))


def _tonality_offset_db(power: np.ndarray) -> np.ndarray:
    """Johnston's masking offset per frame and bin: alpha*(14.5 + z) + (1 - alpha)*5.5 dB, where
    alpha = SFM_dB / -60 (clipped to [0, 1]) is the frame's tonality from its spectral flatness."""
    gm = np.exp(np.mean(np.log(power[:, 1:] + 1e-30), axis=1))
    am = np.mean(power[:, 1:], axis=1) + 1e-30
    alpha = np.clip(10 * np.log10(gm / am + 1e-30) / -60.0, 0, 1)[:, None]
    z = _bin_bark(power.shape[1], WORK_RATE)[None, :]
    return alpha * (14.5 + z) + (1 - alpha) * 5.5


def _mask(power: np.ndarray) -> np.ndarray:
    """A masking-threshold estimate per STFT cell: power spread over bark (Schroeder), lowered by
    Johnston's tonality-dependent offset, and carried forward in time (post-masking)."""
    spread = power @ _spread_matrix(power.shape[1], WORK_RATE)
    if TONAL:
        spread *= 10 ** (-_tonality_offset_db(power) / 10)
    out = spread.copy()
    decay = 10 ** (-FORWARD_DB_PER_HOP / 10)
    for t in range(1, out.shape[0]):
        np.maximum(out[t], out[t - 1] * decay, out=out[t])
    for lag, db in enumerate(PRE_DB, start=1):
        np.maximum(out[:-lag], spread[lag:] * 10 ** (-db / 10), out=out[:-lag])
    return out


# --- embedding ----------------------------------------------------------------------------------
ISS_LAMBDA = 0.7  # share of the host's own correlation with each bit that the embedder cancels
ISS_RANGE = (0.25, 3.0)  # per-bit, per-period amplitude limits of that cancellation


def _band_vector(n_bins: int) -> np.ndarray:
    band = np.zeros(n_bins)
    band[_band_bins()] = 1.0
    return band


def _weights(P: np.ndarray) -> np.ndarray:
    """Matched-filter weight per STFT cell: expected mark amplitude over host power."""
    fine = uniform_filter(P, size=(3, 3), mode="nearest")
    return np.sqrt(_mask(P)) / (fine + 1e-20 + 1e-9 * float(np.mean(fine))) * _band_vector(P.shape[1])


def _periodic(cbins: np.ndarray, pat: Pattern, n: int) -> np.ndarray:
    """The carrier in time: per period p the bins ``cbins[p]`` (or one row for all), n samples."""
    cb = np.atleast_2d(cbins)
    spec = np.zeros((cb.shape[0], PERIOD // 2 + 1), complex)
    spec[:, pat.bins] = cb
    per = np.fft.irfft(spec, PERIOD, axis=1) * np.sqrt(PERIOD / (2.0 * pat.bins.size))
    n_per = -(-n // PERIOD)
    if per.shape[0] == 1:
        per = np.repeat(per, n_per, axis=0)
    return per[:n_per].reshape(-1)[:n]


def _period_stats(z: np.ndarray, pat: Pattern) -> np.ndarray:
    """Per period, each bin group's (coded bits, then the pilot) derotated correlation with ``z``."""
    n = -(-z.size // PERIOD) * PERIOD
    U = np.fft.rfft(np.pad(z, (0, n - z.size)).reshape(-1, PERIOD), axis=1)[:, pat.bins]
    U = (U * np.conj(pat.phase)).real
    group = np.where(pat.bit >= 0, pat.bit, pat.n_coded)
    out = np.zeros((U.shape[0], pat.n_coded + 1))
    for p in range(U.shape[0]):
        out[p] = np.bincount(group, weights=U[p], minlength=pat.n_coded + 1)
    return out


def mark_signal(x16: np.ndarray, pat: Pattern, sign: np.ndarray, iss: float | None = None) -> np.ndarray:
    """The unscaled mark at WORK_RATE: the periodic carrier filtered to the host's masking pattern,
    its per-bit, per-period amplitudes set to cancel part of the host's own correlation with the bits
    (improved spread spectrum, Malvar & Florencio 2003)."""
    iss = ISS_LAMBDA if iss is None else iss
    n = x16.size
    X = _stft(x16)
    P = X.real ** 2 + X.imag ** 2
    shape = np.sqrt(_mask(P)) * _band_vector(P.shape[1])
    cbins = sign * pat.phase
    m = _istft(_stft(_periodic(cbins, pat, n)) * shape, n)
    if iss <= 0:
        return m
    W = _weights(P)
    h = _period_stats(_overlap_add(X * W, n), pat)
    r = _period_stats(_overlap_add(_stft(m) * W, n), pat)
    group = np.where(pat.bit >= 0, pat.bit, pat.n_coded)
    s = np.ones(pat.n_coded + 1)
    s[group] = sign  # every bin of a group carries the group's sign
    R = r * s
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(R > 0, 1.0 - iss * s * h / R, 1.0)
    a = np.clip(a, *ISS_RANGE)
    return _istft(_stft(_periodic(a[:, group] * cbins, pat, n)) * shape, n)


def _limit_gain(x: np.ndarray, m: np.ndarray, width: int = 64) -> np.ndarray:
    """A smooth gain <= 1 on the mark so that x + g*m stays within max(1, |x|)."""
    ceil = np.maximum(1.0, np.abs(x))
    y = x + m
    over = np.abs(y) > ceil
    if not over.any():
        return np.ones_like(x)
    room = np.clip(ceil - np.abs(x), 0, None)
    r = np.ones_like(x)
    bad = over & (np.sign(m) == np.sign(x))
    r[bad] = room[bad] / np.maximum(np.abs(m[bad]), 1e-30)
    g = minimum_filter1d(r, 2 * width + 1)
    g = uniform_filter1d(g, width)
    return np.minimum(g, 1.0)


def _embed_mono(x64: np.ndarray, sr: int, pat: Pattern, sign: np.ndarray, snr_db: float) -> np.ndarray:
    m = _from_work(mark_signal(_to_work(x64, sr), pat, sign), sr, x64.size)
    ex, em = float(np.sum(x64 ** 2)), float(np.sum(m ** 2))
    if em <= 0 or ex <= 0:
        return x64.copy()
    m *= np.sqrt(ex / (em * 10 ** (snr_db / 10)))
    y = x64 + _limit_gain(x64, m) * m
    ceil = np.maximum(1.0, np.abs(x64))
    return np.clip(y, -ceil, ceil)


def embed(audio: np.ndarray, sr: int, payload: int, key, *, snr_db: float = TARGET_SNR_DB) -> np.ndarray:
    """``audio`` (float mono ``(n,)`` or ``(channels, n)``) with the keyed mark of ``payload`` added:
    float32, same shape and rate; the mark never pushes a sample past 1.0 in magnitude."""
    x = np.asarray(audio)
    if x.ndim not in (1, 2):
        raise ValueError(f"audio must be (n,) or (channels, n), got shape {x.shape}")
    if int(sr) <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    key = _as_key(key)
    pat = pattern(key)
    sign = _bin_signs(pat, payload)
    x64 = x.astype(np.float64)
    if not np.all(np.isfinite(x64)):
        raise ValueError("audio holds NaN or infinite samples")
    if x.ndim == 1:
        return _embed_mono(x64, int(sr), pat, sign, snr_db).astype(np.float32)
    return np.stack([_embed_mono(ch, int(sr), pat, sign, snr_db) for ch in x64]).astype(np.float32)


# --- detection ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Detection:
    present: bool
    payload: int | None
    score: float  # pilot correlation z-score at the best lag (null: max of PERIOD ~N(0,1))
    crc_ok: bool = False
    bit_confidence: float = 0.0  # mean |z| of the coded-bit correlations (0 for noise ~0.8)
    bit_errors: int | None = None  # coded-bit hard decisions that disagree with the decoded word
    offset_samples: float | None = None  # carrier phase at the first sample, in input samples
    soft: np.ndarray | None = field(default=None, repr=False)


def whitened(y16: np.ndarray) -> np.ndarray:
    """The received signal at WORK_RATE, each STFT cell weighted by mark-to-host-power (matched filter)."""
    Y = _stft(y16)
    return _overlap_add(Y * _weights(Y.real ** 2 + Y.imag ** 2), y16.size)


def _fold_spectrum(z: np.ndarray, pat: Pattern) -> np.ndarray:
    n = -(-z.size // PERIOD) * PERIOD
    fold = np.pad(z, (0, n - z.size)).reshape(-1, PERIOD).sum(axis=0)
    F = np.fft.rfft(fold)[pat.bins]
    p = np.abs(F) ** 2
    norm = uniform_filter1d(p, 101, mode="nearest")
    return F / np.sqrt(norm + 1e-30)


def detect(audio: np.ndarray, sr: int, key) -> Detection:
    x = np.asarray(audio, np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (channels, n), got shape {x.shape}")
    key = _as_key(key)
    pat = pattern(key)
    y16 = _to_work(np.nan_to_num(x), int(sr))
    if y16.size < N_FFT or not np.any(y16):
        return Detection(False, None, 0.0)
    Fw = _fold_spectrum(whitened(y16), pat)
    q = Fw * np.conj(pat.phase)  # derotated by the keyed phases
    pilot = pat.bit < 0
    n_pilot = int(pilot.sum())
    spec = np.zeros(PERIOD // 2 + 1, complex)
    spec[pat.bins[pilot]] = np.conj(q[pilot])
    corr = np.fft.irfft(spec, PERIOD) * (PERIOD / 2) / np.sqrt(n_pilot / 2)
    d0 = int(np.argmax(corr))
    # fractional refinement around the best integer lag
    kp = pat.bins[pilot]
    deltas = np.linspace(-0.5, 0.5, 9)
    rot = np.exp(-2j * np.pi * np.outer(d0 + deltas, kp) / PERIOD)
    zs = (rot @ q[pilot]).real / np.sqrt(n_pilot / 2)
    j = int(np.argmax(zs))
    score, d = float(zs[j]), d0 + float(deltas[j])
    # payload: the coded bits' correlations at that lag
    derot = (q * np.exp(-2j * np.pi * pat.bins * d / PERIOD)).real
    pay = ~pilot
    soft = np.bincount(pat.bit[pay], weights=derot[pay], minlength=pat.n_coded)
    counts = np.bincount(pat.bit[pay], minlength=pat.n_coded)
    soft = soft / np.sqrt(counts / 2)
    bits = viterbi(soft, PAYLOAD_BITS + CRC_BITS)
    ok = bool(np.array_equal(crc16(bits[:PAYLOAD_BITS]), bits[PAYLOAD_BITS:]))
    value = int("".join(map(str, bits[:PAYLOAD_BITS])), 2)
    errors = int(np.sum((soft > 0) != (conv_encode(bits) > 0)))
    present = bool(score >= THRESHOLD or (ok and score >= CRC_THRESHOLD))
    offset = (-d % PERIOD) * sr / WORK_RATE
    return Detection(present, value if (ok and present) else None, score, ok,
                     float(np.mean(np.abs(soft))), errors, offset, soft)


# --- measures -----------------------------------------------------------------------------------
def snr_db(reference: np.ndarray, marked: np.ndarray) -> float:
    r = np.asarray(reference, np.float64)
    e = np.asarray(marked, np.float64) - r
    return float(10 * np.log10(np.sum(r ** 2) / max(np.sum(e ** 2), 1e-30)))


@lru_cache(maxsize=4)
def _bark_bands(n_bins: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin -> 1-bark band index, and the band centres in bark."""
    z = _bark(np.arange(n_bins) * sr / (2.0 * (n_bins - 1)))
    band = np.floor(z).astype(np.int64)
    return band, np.arange(band.max() + 1) + 0.5


def nmr(reference: np.ndarray, marked: np.ndarray, sr: int) -> dict:
    """Noise-to-mask ratio of ``marked - reference`` under a simple Johnston (1988) model.

    Per 32 ms frame (at WORK_RATE, i.e. the 0-8 kHz the mark lives in): host energy in 1-bark bands,
    spread by Schroeder's function, lowered by the masking offset alpha*(14.5 + z) + (1-alpha)*5.5 dB
    where alpha is the frame's tonality from its spectral flatness (SFM_dB / -60, clipped to 1); the
    mark's energy in the same bands over that threshold is the NMR. No temporal masking and no
    threshold in quiet (both would only lower it). Frames more than 60 dB below the loudest are left
    out. Returns ``nmr_db`` (10 log10 of the mean ratio over frames and bands), ``nmr_max_db`` (95th
    percentile over frames of the worst band) and ``disturbed`` (fraction of frames whose worst band
    exceeds 1.5 dB, PEAQ's criterion for a disturbed frame).
    """
    r = _to_work(np.asarray(reference, np.float64), sr)
    e = _to_work(np.asarray(marked, np.float64) - np.asarray(reference, np.float64), sr)
    R, E = _stft(r), _stft(e)
    pr, pe = np.abs(R) ** 2, np.abs(E) ** 2
    band, centres = _bark_bands(pr.shape[1], WORK_RATE)
    nb = centres.size
    Br = np.stack([pr[:, band == b].sum(axis=1) for b in range(nb)], axis=1)
    Be = np.stack([pe[:, band == b].sum(axis=1) for b in range(nb)], axis=1)
    spread = 10 ** (_schroeder_db(centres[None, :] - centres[:, None]) / 10)
    S = Br @ spread
    gm = np.exp(np.mean(np.log(pr[:, 1:] + 1e-30), axis=1))
    am = np.mean(pr[:, 1:], axis=1) + 1e-30
    sfm_db = 10 * np.log10(gm / am + 1e-30)
    alpha = np.clip(sfm_db / -60.0, 0, 1)[:, None]
    offset = alpha * (14.5 + centres[None, :]) + (1 - alpha) * 5.5
    T = S * 10 ** (-offset / 10)
    energy = Br.sum(axis=1)
    keep = energy > max(float(energy.max()) * 1e-6, 1e-30)
    if not keep.any():
        return {"nmr_db": float("-inf"), "nmr_max_db": float("-inf"), "disturbed": 0.0}
    ratio = Be[keep] / np.maximum(T[keep], 1e-30)
    worst = 10 * np.log10(np.max(ratio, axis=1) + 1e-30)
    return {"nmr_db": float(10 * np.log10(np.mean(ratio) + 1e-30)),
            "nmr_max_db": float(np.percentile(worst, 95)),
            "disturbed": float(np.mean(worst > 1.5))}
