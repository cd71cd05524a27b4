"""The keyed watermark on real generator output: it reads back, survives what a delivery meets, stays
inaudible, is not found where it was not put, and its key never shows."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from scipy.signal import resample_poly

from tasks import watermark as W

KEY = W.Key(bytes(range(32)))
OTHER = W.Key(bytes(range(100, 132)))


@pytest.fixture(scope="module")
def clips() -> tuple[list[np.ndarray], int]:
    """Three 10 s soundtracks from the shipped generator (what the pipeline marks)."""
    from models.registry import get_generator

    gen = get_generator()
    out = [gen.generate(timing=None, prompt=p, negative_prompt=None, seeds=[i], duration_s=10.0)[0]
           for i, p in enumerate(["footsteps on gravel", "rain on a roof", "hammer on anvil"])]
    return [np.asarray(g.waveform, np.float64) for g in out], int(out[0].sr)


def _bits(payload: int) -> np.ndarray:
    return np.array([(payload >> (31 - i)) & 1 for i in range(32)], np.int8)


def _aac(x: np.ndarray, sr: int, bitrate: int) -> np.ndarray:
    """Through ffmpeg's AAC encoder at ``bitrate`` (48 kHz mono, in memory) and back to ``sr``."""
    from bench._wm_attacks import aac, at_rate

    return at_rate(x, sr, 48000, lambda v, rate: aac(v, rate, bitrate // 1000))


def test_the_payload_reads_back_and_the_mark_is_inaudible(clips):
    audio, sr = clips
    for i, x in enumerate(audio):
        payload = 0x9E3779B9 ^ i
        y = W.embed(x, sr, payload, KEY)
        assert y.dtype == np.float32 and y.shape == x.shape and np.max(np.abs(y)) <= max(1.0, np.max(np.abs(x)))
        assert W.snr_db(x, y) >= 30.0
        assert W.nmr(x, y, sr)["nmr_db"] < 0.0  # under the masking threshold on average
        d = W.detect(y, sr, KEY)
        assert d.present and d.crc_ok and d.payload == payload and np.array_equal(d.bits, _bits(payload))
        assert d.to_json() == {"present": True, "payload": str(payload), "score": round(d.score, 3)}


def test_it_survives_gain_shift_resampling_and_stereo(clips):
    audio, sr = clips
    x = audio[0]
    y = W.embed(x, sr, 123456789, KEY).astype(np.float64)
    rng = np.random.default_rng(3)
    shifted = np.concatenate([np.zeros(int(rng.integers(100, sr))), y])[: y.size]
    variants = {"-6 dB": 0.5 * y, "+6 dB": np.clip(2.0 * y, -1, 1), "shifted": shifted,
                "44.1 kHz": resample_poly(resample_poly(y, 441, sr // 100), sr // 100, 441),
                "cut start": y[int(1.37 * sr):]}
    for name, v in variants.items():
        d = W.detect(v, sr, KEY)
        assert d.present and d.payload == 123456789, name
    stereo = np.stack([x, 0.6 * x])
    ys = W.embed(stereo, sr, 42, KEY)
    assert ys.shape == stereo.shape and W.detect(ys, sr, KEY).payload == 42


def test_it_survives_aac(clips):
    audio, sr = clips
    for i, x in enumerate(audio):
        y = W.embed(x, sr, 1000 + i, KEY)
        d = W.detect(_aac(y, sr, 128_000), sr, KEY)
        assert d.present, f"clip {i}: score {d.score:.1f}"


def test_unmarked_audio_and_wrong_keys_are_not_marked(clips):
    audio, sr = clips
    rng = np.random.default_rng(0)
    t = np.arange(10 * sr) / sr
    others = [*audio, 0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * rng.standard_normal(10 * sr),
              np.zeros(10 * sr), 0.5 * np.sign(np.sin(2 * np.pi * 2 * t)) * rng.standard_normal(10 * sr)]
    for i, x in enumerate(others):
        d = W.detect(x, sr, KEY)
        assert not d.present and d.payload is None and d.score < W.THRESHOLD, i
    marked = W.embed(audio[1], sr, 7, KEY)
    for k in range(5):
        wrong = W.Key(bytes(rng.integers(0, 256, 32, dtype=np.uint8)))
        assert not W.detect(marked, sr, wrong).present
    assert not W.detect(marked, sr, OTHER).present


def test_a_long_track_is_searched_in_segments(clips):
    audio, sr = clips
    track = np.concatenate([audio[0], audio[1], audio[2], audio[0][::-1], audio[1][::-1], audio[2]])  # 60 s
    y = W.embed(track, sr, 2**32 - 1, KEY)
    d = W.detect(y, sr, KEY)
    assert d.present and d.payload == 2**32 - 1 and d.segments > 1


def test_bad_input_is_refused_with_a_reason():
    x = np.zeros(16000)
    with pytest.raises(ValueError, match="payload"):
        W.embed(x, 16000, 2**32, KEY)
    with pytest.raises(ValueError, match="NaN"):
        W.embed(np.full(16000, np.nan), 16000, 1, KEY)
    with pytest.raises(ValueError, match="shape"):
        W.embed(np.zeros((1, 2, 3)), 16000, 1, KEY)
    assert not W.detect(np.zeros(100), 16000, KEY).present  # too short to hold a mark


def test_the_key_comes_from_the_environment_or_a_demo_file_and_never_shows(tmp_path, monkeypatch):
    monkeypatch.delenv(W.KEY_ENV, raising=False)
    monkeypatch.delenv(W.KEY_FILE_ENV, raising=False)
    demo = W.load_key(tmp_path)
    path = tmp_path / "keys" / W.DEMO_KEY_NAME
    assert demo.demo and path.is_file() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert W.load_key(tmp_path).secret == demo.secret  # made once, then reused
    secret = "ab" * 32
    monkeypatch.setenv(W.KEY_ENV, secret)
    key = W.load_key(tmp_path)
    assert not key.demo and key.secret == bytes.fromhex(secret)
    assert secret not in repr(key) and secret not in str(key) and key.fingerprint in repr(key)
    monkeypatch.setenv(W.KEY_ENV, "not-a-key-" + secret)
    with pytest.raises(ValueError) as err:
        W.load_key(tmp_path)
    assert secret not in str(err.value) and "hex" in str(err.value)
    monkeypatch.delenv(W.KEY_ENV)
    (tmp_path / "k.hex").write_text(secret[:10])
    monkeypatch.setenv(W.KEY_FILE_ENV, str(tmp_path / "k.hex"))
    with pytest.raises(ValueError, match="at least 16"):
        W.load_key(tmp_path)
