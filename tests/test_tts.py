"""Offline speech synthesis: what a user hears from tasks.tts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tasks import tts

SR = 16000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


def voiced_seconds(wave: np.ndarray, sr: int = SR) -> float:
    frames = wave[: len(wave) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return float((rms > rms.max() * 0.02).sum() * 160 / sr)


@needs_espeak
def test_speech_is_audible_deterministic_and_about_as_long_as_its_words():
    text = "I told you to wait by the door."  # 8 words
    a = tts.synthesize(text)
    b = tts.synthesize(text)
    assert a.dtype == np.float32 and a.ndim == 1
    assert np.array_equal(a, b), "the same line must sound the same every run"
    assert 0.1 < np.abs(a).max() <= 1.0
    expected = 8 / 175 * 60  # words at espeak-ng's default rate, seconds
    assert 0.6 * expected < len(a) / SR < 1.8 * expected
    assert voiced_seconds(a) > 0.4 * expected


@needs_espeak
@pytest.mark.parametrize("voice", [v for v in ("espeak-ng:en-us", tts.DEFAULT_VOICE) if v in tts.available_voices()])
def test_rate_and_sample_rate_are_honoured(voice):  # festival's voices where installed (infra/bootstrap.sh does)
    text = "Hurry up or we will miss the boat."
    slow, fast = tts.synthesize(text, voice, rate_wpm=140), tts.synthesize(text, voice, rate_wpm=280)
    assert 1.5 < len(slow) / len(fast) < 2.5
    at48 = tts.synthesize(text, voice, sr=48000)
    assert abs(len(at48) / 48000 - len(tts.synthesize(text, voice)) / SR) < 0.01


@needs_espeak
def test_every_installed_voice_speaks_and_voices_differ():
    voices = tts.available_voices()
    assert tts.default_voice() in voices and tts.FALLBACK_VOICE in voices
    waves = {v: tts.synthesize("Thank you for the lovely dinner.", v) for v in voices}
    for v, w in waves.items():
        assert np.abs(w).max() > 0.05, v
    assert not np.array_equal(waves["espeak-ng:en-us"], waves["espeak-ng:en-us+f3"])


def test_missing_engine_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert tts.available_voices() == []
    with pytest.raises(tts.TTSError, match="espeak-ng is not installed.*apt-get install espeak-ng"):
        tts.synthesize("Hello.")
    with pytest.raises(tts.TTSError, match="festival is not installed.*festvox"):
        tts.synthesize("Hello.", "festival:kal_diphone")


@needs_espeak
def test_bad_input_is_refused_clearly():
    with pytest.raises(tts.TTSError, match="text is empty"):
        tts.synthesize("   ")
    with pytest.raises(tts.TTSError, match="rate_wpm"):
        tts.synthesize("Hello.", rate_wpm=5)
    with pytest.raises(tts.TTSError, match="unknown voice"):
        tts.synthesize("Hello.", "marytts:cmu-slt")
