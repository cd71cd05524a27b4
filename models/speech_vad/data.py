"""Training and held-out material for the speech check: espeak-ng and festival speech over real and generated foley.

Every file is 10 s of 16 kHz mono: a mixture (1-3 utterances at a random SNR of -5..+15 dB over an
effect bed), plain effects, or plain speech. Effect beds are licensed corpus recordings
(:mod:`models.corpus`, packages :data:`PACKAGES`) and foley from the shipped generator. The
``train``/``development`` sets use the corpus ``train`` split, :data:`TRAIN_VOICES` and
:data:`TRAIN_WORDS` (the development set with espeak-ng variants of its own, :data:`DEV_VARIANTS`, that
training never hears); the ``test`` set (the bench's) uses the corpus ``eval`` split, other espeak-ng
voices and variants, other words and other generator prompts and seeds. Each file's speech comes
from one voice family: espeak-ng or, where it is installed, festival (:data:`FESTIVAL_VOICES`, the
project's default dialogue voice among them). There are only two festival voices and both must be
learnt, so festival speech is held out by sentence (other words) and by speaking rate
(:data:`TRAIN_FESTIVAL_RATES` against :data:`TEST_FESTIVAL_RATES`), not by voice. Reference speech is where the clean
utterance is within 35 dB of its peak, gaps under 0.25 s bridged.

:func:`write_protocol` writes wav + RTTM + UEM + ``database.yml`` (pyannote.database protocol
``FoleyVAD.SpeakerDiarization.mix``) to a folder; nothing here is committed.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SR = 16000
FILE_S = 10.0
PACKAGES = ("openttd-opensfx", "minetest-data", "lincity-ng-data", "openclonk-data")
EXCLUDED_CATEGORIES = ("crowd",)  # murmur of voices: neither clean speech nor clean non-speech
# "en", not "en-gb": named "en-gb", espeak-ng 1.51 ignores a +variant ("en" is the same voice and takes one)
TRAIN_VOICES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029")
TRAIN_VARIANTS = ("", "+m1", "+m3", "+m4", "+m7", "+m8", "+f1", "+f2", "+f4", "+klatt", "+klatt4", "+klatt5",
                  "+klatt6", "+croak", "+adam", "+john", "+steph", "+grandpa", "+aunty", "+grandma", "+shelby",
                  "+travis", "+victor", "+zac")
DEV_VARIANTS = ("+m2", "+m6", "+klatt3", "+whisperf", "+linda", "+belinda")  # development only: voices
# training never heard, so the thresholds are tuned where the bench's unseen voices are (not its own)
TEST_VOICES = ("en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us")
TEST_VARIANTS = ("+m5", "+f3", "+f5", "+whisper", "+klatt2")
FESTIVAL_VOICES = ("festival:kal_diphone", "festival:cmu_us_slt_arctic_hts")
FESTIVAL_SHARE = {"train": 0.45, "development": 0.45, "test": 0.5}  # of the files with speech, when installed
TRAIN_FESTIVAL_RATES = (135, 150, 165, 175, 190)  # words per minute; None (engine default) is drawn too
TEST_FESTIVAL_RATES = (130, 145, 160, 170, 185, 200)
TRAIN_WORDS = ("the old mill stood by the river and the wheel turned slowly in the cold water while "
               "men carried sacks of grain up the narrow stairs a horse waited in the yard the miller "
               "called out to his son bring the cart around before the rain comes we have to reach the "
               "market by noon tomorrow the station master rang the bell and the train pulled away "
               "children ran along the platform waving their caps").split()
TEST_WORDS = ("ladies and gentlemen please take your seats the performance will begin in five minutes "
              "my dear friend I have not seen you since the summer of the great flood tell me how is "
              "your mother these days the captain looked at the sky and said we sail at dawn nobody "
              "believed him the letter arrived on a tuesday morning sealed with red wax").split()
TRAIN_PROMPTS = ("footsteps on gravel", "a door creaks open and shuts", "rain on a tin roof", "wind in the trees",
                 "a steam train passing", "hammer on an anvil", "horse hooves on cobblestones",
                 "a crackling fire", "waves on a beach", "a saw cutting wood", "thunder in the distance",
                 "a busy harbour", "birds in the morning", "a car engine starting", "glass breaking",
                 "a mill wheel turning")
EXTRA_TRAIN_PROMPTS = ("a bell rings on a bicycle", "chains rattling", "pigeons flapping their wings",
                       "wooden cart wheels creaking", "boots marching on a road", "a typewriter clattering",
                       "a kettle boiling", "a tram on rails", "coins dropped on a table", "a whip cracking",
                       "a heavy sack dropped on a floor", "paper being torn", "a ship's horn in fog",
                       "a gate latch clicking", "sizzling in a pan", "rowing a boat")  # training only, never in the bench
TEST_PROMPTS = ("a clock ticking", "pouring water into a bucket", "a dog barking far away", "a church bell",
                "a carriage on a dirt road", "an explosion and falling debris", "a river flowing",
                "a factory machine")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def festival_voices() -> tuple[str, ...]:
    """The :data:`FESTIVAL_VOICES` installed here (none when festival or a voice package is missing)."""
    try:
        from tasks.tts import available_voices
    except ImportError:
        return ()
    have = set(available_voices())
    return tuple(v for v in FESTIVAL_VOICES if v in have)


def speak(text: str, voice: str, rate_wpm: int | None = 160, pitch: int = 50) -> np.ndarray:
    """``float32`` 16 kHz speech: ``festival:<voice>`` through tasks.tts.synthesize, else espeak-ng
    (tasks.tts.synthesize when it is there)."""
    if voice.startswith("festival:"):
        from tasks.tts import synthesize
        return np.asarray(synthesize(text, voice, rate_wpm=rate_wpm, sr=SR), dtype=np.float32)
    rate_wpm = 160 if rate_wpm is None else rate_wpm
    try:
        from tasks.tts import synthesize  # the project TTS (espeak-ng); pitch is then the engine default
        return np.asarray(synthesize(text, voice, rate_wpm=rate_wpm, sr=SR), dtype=np.float32)
    except (ImportError, TypeError):
        pass
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "--stdout", text],
                         capture_output=True, check=True, timeout=60).stdout
    import warnings
    with warnings.catch_warnings():  # espeak-ng's --stdout header carries no length
        warnings.simplefilter("ignore")
        rate, pcm = wavfile.read(io.BytesIO(out))
    x = pcm.astype(np.float32) / 32768.0
    if x.ndim > 1:
        x = x.mean(axis=1)
    g = np.gcd(SR, rate)
    return resample_poly(x, SR // g, rate // g).astype(np.float32)


def active_intervals(x: np.ndarray, sr: int = SR, *, floor_db: float = 35.0, bridge_s: float = 0.25,
                     min_s: float = 0.05) -> list[tuple[float, float]]:
    """Where a clean utterance sounds (10 ms frames within ``floor_db`` of its peak, short gaps bridged)."""
    hop = sr // 100
    n = len(x) // hop
    if n == 0:
        return []
    e = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    on = e > e.max() - floor_db
    segs: list[list[float]] = []
    for i in np.flatnonzero(on):
        t = i * hop / sr
        if segs and t - segs[-1][1] <= bridge_s:
            segs[-1][1] = t + hop / sr
        else:
            segs.append([t, t + hop / sr])
    return [(float(a), float(b)) for a, b in segs if b - a >= min_s]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2) + 1e-12))


def _bed(sources: list[np.ndarray], rng: np.random.Generator, n: int) -> np.ndarray:
    """An effect bed of ``n`` samples: random sources concatenated (short crossfades), random start."""
    parts, total = [], 0
    while total < n + SR:
        s = sources[rng.integers(len(sources))]
        parts.append(s)
        total += len(s)
    bed = np.concatenate(parts)
    start = rng.integers(0, len(bed) - n + 1)
    return bed[start:start + n].astype(np.float32)


@dataclass
class Item:
    uri: str
    audio: np.ndarray
    speech: list[tuple[float, float]] = field(default_factory=list)
    kind: str = "mix"  # mix | effects | speech
    snr_db: float | None = None
    family: str = ""  # voice family of the speech: espeak-ng | festival ("" for effects only)
    voices: list[str] = field(default_factory=list)


def make_items(split: str, effects: list[np.ndarray], count: int, seed: int,
               kinds: tuple[float, float, float] = (0.5, 0.3, 0.2)) -> list[Item]:
    """``count`` 10-s files for ``split`` (train/development: train voices and words; test: the others)."""
    rng = np.random.default_rng(seed)
    voices, variants, words = {"test": (TEST_VOICES, TEST_VARIANTS, TEST_WORDS),
                               "development": (TRAIN_VOICES, DEV_VARIANTS, TRAIN_WORDS)}.get(
                                   split, (TRAIN_VOICES, TRAIN_VARIANTS, TRAIN_WORDS))
    fest = festival_voices()
    fest_rates = TEST_FESTIVAL_RATES if split == "test" else TRAIN_FESTIVAL_RATES + (None,)
    frng = np.random.default_rng([seed, 7])  # a separate stream: the espeak-ng draws stay as they were
    n = int(FILE_S * SR)
    items = []
    for k in range(count):
        kind = rng.choice(["mix", "effects", "speech"], p=list(kinds))
        speech = np.zeros(n, np.float32)
        segs: list[tuple[float, float]] = []
        used: list[str] = []
        family = ""
        if kind != "effects":
            family = "festival" if fest and frng.random() < FESTIVAL_SHARE.get(split, 0.5) else "espeak-ng"
            t = float(rng.uniform(0.0, 2.5))
            for _ in range(int(rng.integers(1, 4))):
                text = " ".join(rng.choice(words, size=int(rng.integers(3, 10))))
                voice = str(rng.choice(voices)) + str(rng.choice(variants))
                rate, pitch = int(rng.integers(130, 200)), int(rng.integers(30, 70))
                if family == "festival":
                    voice = str(fest[frng.integers(len(fest))])
                    r = fest_rates[frng.integers(len(fest_rates))]
                    rate = None if r is None else int(r)
                utt = speak(text, voice, rate_wpm=rate, pitch=pitch)
                used.append(voice)
                utt = utt / (np.abs(utt).max() + 1e-9) * float(rng.uniform(0.3, 0.9))
                a = int(t * SR)
                if a >= n - SR // 2:
                    break
                utt = utt[: n - a]
                speech[a:a + len(utt)] += utt
                segs += [(t + s, t + e) for s, e in active_intervals(utt)]
                t += len(utt) / SR + float(rng.uniform(0.3, 3.0))
        if kind == "speech":
            audio = speech + rng.normal(0, 1e-4, n).astype(np.float32)
            snr = None
        else:
            bed = _bed(effects, rng, n)
            bed = bed / (np.abs(bed).max() + 1e-9) * float(rng.uniform(0.2, 0.9))
            snr = None
            if kind == "mix" and segs:
                snr = float(rng.uniform(-5.0, 15.0))
                mask = np.zeros(n, bool)
                for s, e in segs:
                    mask[int(s * SR):int(e * SR)] = True
                gain = _rms(speech[mask]) / (_rms(bed[mask]) * 10 ** (snr / 20))
                bed = bed * gain
            audio = speech + bed
        audio = audio / max(1.0, float(np.abs(audio).max()) / 0.99)
        items.append(Item(f"{split}{k:04d}", audio.astype(np.float32), segs, str(kind), snr, family, used))
    return items


def corpus_clips(split: str, home: Path | None = None) -> tuple[list[np.ndarray], "object"]:
    """Decoded corpus clips of one split (``train`` or ``eval``) and their table; builds the small corpus if needed."""
    import pandas as pd

    from models.foley_mini.audio import read_audio

    home = Path(home or os.environ.get("FOLEYFLOW_HOME") or Path.home() / ".foleyflow")
    table = home / "corpus" / "clips.parquet"
    if not table.is_file():
        from models.corpus.build import CorpusConfig, build_corpus
        build_corpus(CorpusConfig(packages=PACKAGES), home)
    clips = pd.read_parquet(table)
    clips = clips[clips["package"].isin(PACKAGES) & ~clips["category"].isin(EXCLUDED_CATEGORIES)
                  & (clips["split"] == split)]
    return [read_audio(p) for p in clips["path"]], clips


def generated_foley(prompts: tuple[str, ...], seeds: list[int], cache: Path) -> list[np.ndarray]:
    """10-s tracks from the shipped generator (cached as .npy under ``cache``)."""
    out, gen = [], None
    cache.mkdir(parents=True, exist_ok=True)
    for p in prompts:
        for s in seeds:
            f = cache / f"{p.replace(' ', '_')[:40]}-{s}.npy"
            if not f.is_file():
                if gen is None:
                    from models.registry import get_generator
                    gen = get_generator()
                w = gen.generate(timing=None, prompt=p, negative_prompt=None, seeds=[s], duration_s=FILE_S)[0]
                np.save(f, np.asarray(w.waveform, np.float32))
            out.append(np.load(f))
    return out


def write_protocol(root: Path, splits: dict[str, list[Item]]) -> Path:
    """wav + RTTM + UEM + list per split and ``database.yml``; returns the yml path."""
    from scipy.io import wavfile

    root.mkdir(parents=True, exist_ok=True)
    (root / "wav").mkdir(exist_ok=True)
    names = {"train": "train", "development": "development", "test": "test"}
    lines = ["Databases:", f"  FoleyVAD: {root / 'wav'}/{{uri}}.wav", "Protocols:", "  FoleyVAD:",
             "    SpeakerDiarization:", "      mix:", "        scope: file"]
    for split, items in splits.items():
        rttm, uem, lst = [], [], []
        for it in items:
            pad = np.zeros(64, np.float32)  # no chunk ends exactly at the last sample
            wavfile.write(root / "wav" / f"{it.uri}.wav", SR, (np.concatenate([it.audio, pad]) * 32767).astype(np.int16))
            lst.append(it.uri)
            uem.append(f"{it.uri} 1 0.000 {FILE_S:.3f}")
            rttm += [f"SPEAKER {it.uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> speech <NA> <NA>" for s, e in it.speech]
        for ext, rows in (("lst", lst), ("uem", uem), ("rttm", rttm)):
            (root / f"{split}.{ext}").write_text("\n".join(rows) + "\n")
        lines += [f"        {names[split]}:", f"          uri: {root / (split + '.lst')}",
                  f"          annotation: {root / (split + '.rttm')}", f"          annotated: {root / (split + '.uem')}"]
    yml = root / "database.yml"
    yml.write_text("\n".join(lines) + "\n")
    return yml
