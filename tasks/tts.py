"""Offline text-to-speech for dialogue lines: espeak-ng (default) or festival, via subprocess.

Nothing here touches the network: each engine is a local Debian program that writes a WAV
file, which is read back, made mono float32 and resampled to the requested rate.

    wave = synthesize("Where have you been all night?")            # default voice, 16 kHz
    wave = synthesize("Get out of my shop!", "espeak-ng:en-us+m3", rate_wpm=200)

Voices are named ``engine:voice`` (see ``VOICES``). The default voice was chosen by measured
intelligibility (word error rate of an offline recogniser, ``bench/bench_tts.py``): festival's
HTS voice, with espeak-ng as the fallback where festival is not installed.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave as wavelib
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly


class TTSError(RuntimeError):
    """Speech cannot be synthesized; the message says what is missing and what to install."""


@dataclass(frozen=True)
class Voice:
    engine: str           # "espeak-ng" or "festival"
    ident: str            # the engine's own voice name
    description: str
    nominal_wpm: int      # the engine's speaking rate at its default setting (words per minute)


# Named presets. espeak-ng's variants ("+m3", "+f3") change the formant set of the same English
# phonemes; festival's voices are separate Debian packages (festvox-*).
VOICES: dict[str, Voice] = {
    "espeak-ng:en-us": Voice("espeak-ng", "en-us", "espeak-ng American English, default male", 175),
    "espeak-ng:en": Voice("espeak-ng", "en", "espeak-ng British English, default male", 175),
    "espeak-ng:en-gb-x-rp": Voice("espeak-ng", "en-gb-x-rp", "espeak-ng Received Pronunciation", 175),
    "espeak-ng:en-us+m3": Voice("espeak-ng", "en-us+m3", "espeak-ng American English, male variant 3", 175),
    "espeak-ng:en-us+f3": Voice("espeak-ng", "en-us+f3", "espeak-ng American English, female variant 3", 175),
    "festival:kal_diphone": Voice("festival", "kal_diphone", "festival, American male diphone (festvox-kallpc16k)", 165),
    "festival:cmu_us_slt_arctic_hts": Voice(
        "festival", "cmu_us_slt_arctic_hts", "festival, American female HTS (festvox-us-slt-hts)", 175),
}

# Chosen by measured intelligibility (bench/bench_tts.py: 40 held film-dialogue sentences, word
# error rate of pocketsphinx's offline en-us recogniser, 2026-12-07): festival's HTS voice 0.067,
# festival kal_diphone 0.089, espeak-ng en-us+m3 0.457, en-us 0.461 (the other espeak-ng voices
# 0.59-0.64). The default falls back to the best espeak-ng voice where festival is not installed.
DEFAULT_VOICE = "festival:cmu_us_slt_arctic_hts"
FALLBACK_VOICE = "espeak-ng:en-us+m3"

_INSTALL = {
    "espeak-ng": "install the Debian package espeak-ng (apt-get install espeak-ng; infra/bootstrap.sh does it)",
    "festival": "install the Debian packages festival and the voice's festvox-* package "
                "(apt-get install festival festvox-kallpc16k festvox-us-slt-hts)",
}
_FESTIVAL_VOICE_DIRS = (Path("/usr/share/festival/voices"),)
_TIMEOUT_S = 120


def engine_available(engine: str) -> bool:
    """Whether the engine's program is on PATH (``espeak-ng`` or ``text2wave``)."""
    return shutil.which("espeak-ng" if engine == "espeak-ng" else "text2wave") is not None


def _festival_voice_installed(ident: str) -> bool:
    return any(d.is_dir() and any(d.glob(f"*/{ident}")) for d in _FESTIVAL_VOICE_DIRS)


def available_voices() -> list[str]:
    """Names from ``VOICES`` whose engine (and, for festival, voice package) is installed here."""
    out = []
    for name, voice in VOICES.items():
        if not engine_available(voice.engine):
            continue
        if voice.engine == "festival" and not _festival_voice_installed(voice.ident):
            continue
        out.append(name)
    return out


def default_voice() -> str:
    """``DEFAULT_VOICE`` when its engine and voice are installed, else ``FALLBACK_VOICE``."""
    return DEFAULT_VOICE if DEFAULT_VOICE in available_voices() else FALLBACK_VOICE


def resolve_voice(voice: str | None) -> Voice:
    """The ``Voice`` for a name; ``None`` is ``default_voice()``; a bare espeak-ng name such as
    ``"en-gb-scotland"`` or ``"en-us+f2"`` is accepted too.

    Raises:
        TTSError: an ``engine:voice`` name with an unknown engine.
    """
    name = voice or default_voice()
    if name in VOICES:
        return VOICES[name]
    engine, sep, ident = name.partition(":")
    if not sep:
        return Voice("espeak-ng", name, f"espeak-ng voice {name}", 175)
    if engine not in _INSTALL or not ident:
        raise TTSError(f"unknown voice {name!r}; use one of {', '.join(VOICES)} or 'espeak-ng:<espeak voice>'")
    return Voice(engine, ident, f"{engine} voice {ident}", 175 if engine == "espeak-ng" else 165)


def synthesize(text: str, voice: str | None = None, *, rate_wpm: int | None = None, sr: int = 16000) -> np.ndarray:
    """Speak ``text`` offline.

    Arguments:
        text: what to say (plain text; one line of dialogue).
        voice: a name from ``VOICES`` (default ``default_voice()``) or a bare espeak-ng voice name.
        rate_wpm: speaking rate in words per minute (default the engine's own, about 175).
        sr: sample rate of the result.

    Returns:
        float32 mono samples in [-1, 1] at ``sr``; the same input gives the same samples.

    Raises:
        TTSError: the engine or voice is not installed (says what to install), the engine failed,
            or ``text`` is empty.
    """
    text = " ".join(text.split())
    if not text:
        raise TTSError("nothing to say: the text is empty")
    if rate_wpm is not None and not 40 <= rate_wpm <= 500:
        raise TTSError(f"rate_wpm must be between 40 and 500 words per minute, got {rate_wpm}")
    v = resolve_voice(voice)
    if not engine_available(v.engine):
        raise TTSError(f"{v.engine} is not installed; {_INSTALL[v.engine]}")
    if v.engine == "espeak-ng":
        data = _espeak(text, v, rate_wpm)
    else:
        data = _festival(text, v, rate_wpm)
    samples, native_sr = _read_wav(data, v)
    if native_sr != sr:
        g = gcd(native_sr, sr)
        samples = resample_poly(samples, sr // g, native_sr // g).astype(np.float32)
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def _run(cmd: list[str], stdin: bytes, voice: Voice) -> bytes:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise TTSError(f"{cmd[0]} is not installed; {_INSTALL[voice.engine]}") from None
    except subprocess.TimeoutExpired:
        raise TTSError(f"{cmd[0]} took longer than {_TIMEOUT_S} s; is the line very long?") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise TTSError(f"{cmd[0]} failed for voice {voice.ident!r} (exit {proc.returncode}): "
                       f"{err[-1] if err else 'no message'}; {_INSTALL[voice.engine]}")
    return proc.stdout


def _espeak(text: str, voice: Voice, rate_wpm: int | None) -> bytes:
    cmd = ["espeak-ng", "--stdin", "--stdout", "-v", voice.ident]
    if rate_wpm is not None:
        cmd += ["-s", str(int(rate_wpm))]
    out = _run(cmd, text.encode("utf-8"), voice)
    if not out:
        raise TTSError(f"espeak-ng wrote no audio for voice {voice.ident!r}; check the voice name (espeak-ng --voices=en)")
    return out


def _festival(text: str, voice: Voice, rate_wpm: int | None) -> bytes:
    if not _festival_voice_installed(voice.ident):
        raise TTSError(f"festival voice {voice.ident!r} is not installed; {_INSTALL['festival']}")
    evals = [f"(voice_{voice.ident})"]
    if rate_wpm is not None:
        if voice.ident.endswith("_hts"):  # HTS voices ignore Duration_Stretch; hts_engine's -r is the speed
            evals.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate_wpm / voice.nominal_wpm:.4f}))))')
        else:
            evals.append(f"(Parameter.set 'Duration_Stretch {voice.nominal_wpm / rate_wpm:.4f})")
    with tempfile.TemporaryDirectory(prefix="foleyflow-tts-") as tmp:
        src, dst = Path(tmp, "line.txt"), Path(tmp, "line.wav")
        src.write_text(text + "\n", encoding="utf-8")
        cmd = ["text2wave"]
        for e in evals:
            cmd += ["-eval", e]
        _run(cmd + [str(src), "-o", str(dst)], b"", voice)
        if not dst.exists() or dst.stat().st_size <= 44:
            raise TTSError(f"festival wrote no audio for voice {voice.ident!r}; {_INSTALL['festival']}")
        return dst.read_bytes()


def _read_wav(data: bytes, voice: Voice) -> tuple[np.ndarray, int]:
    # espeak-ng writing to a pipe leaves the RIFF sizes at 0x7fffffff; read the frames that are there.
    try:
        with wavelib.open(io.BytesIO(data)) as w:
            sr, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except (wavelib.Error, EOFError) as exc:
        raise TTSError(f"{voice.engine} wrote an unreadable WAV ({exc}); reinstall it ({_INSTALL[voice.engine]})") from None
    if width != 2:
        raise TTSError(f"{voice.engine} wrote {8 * width}-bit audio; expected 16-bit PCM")
    usable = len(raw) - len(raw) % (2 * ch)
    x = np.frombuffer(raw[:usable], dtype="<i2").astype(np.float32) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, sr
