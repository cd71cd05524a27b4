"""The baselines of bench/bench_generation.py, behind the same ``generate`` interface as a generator.

- :class:`ShapedNoise`: pink noise shaped by the timing curve: a sharp burst (2 ms attack, 60 ms
  decay) at each onset of the curve over a bed that follows the sustain channel. It ignores the
  prompt, so it is the "timing without content" floor of every measure.
- :class:`Retrieval`: the training clip whose caption is nearest the prompt (MiniLM sentence
  embeddings, the generator's own text encoder), its events pasted at the curve's onsets
  (ambiences looped). With a negative prompt the caption maximising
  ``sim(prompt) - sim(negative)`` is taken. The clip is named in the attributions, as a
  retrieval-conditioned generator must. It is the "real timbre, no generation" ceiling-like
  baseline, and by construction a copy of training data.
"""

from __future__ import annotations

import numpy as np

from models.foley_mini.audio import read_audio
from models.foley_mini.reference import ATTRIBUTION_KEYS
from models.foley_mini.timing import curve_onsets
from models.registry import GeneratedAudio
from tasks.audio_grid import FRAME_RATE, SAMPLE_RATE, num_frames, num_samples
from tasks.qc import onset_times

BURST_DECAY_S = 0.06
BURST_ATTACK_S = 0.002
FADE_S = 0.005


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of pink (1/f power) noise, unit RMS."""
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size, dtype=np.float64)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)


def _duration(timing: np.ndarray | None, duration_s: float | None) -> float:
    if duration_s is not None:
        return float(duration_s)
    if timing is None:
        raise ValueError("give duration_s or a timing curve")
    return (np.asarray(timing).shape[1] - 1) / FRAME_RATE


def _onsets_s(timing: np.ndarray | None) -> np.ndarray:
    return np.zeros(0) if timing is None else curve_onsets(np.asarray(timing, np.float32)) / FRAME_RATE


def _peak_normalise(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (peak / m)).astype(np.float32) if m > 0 else x.astype(np.float32)


class ShapedNoise:
    """Pink noise shaped by the timing curve (see module doc). Prompts are ignored."""

    model_id = "baseline:shaped-noise"
    weights_sha256 = ""

    def __init__(self, sr: int = SAMPLE_RATE, bed_level: float = 0.25) -> None:
        self.sr, self.bed_level = int(sr), float(bed_level)

    def envelope(self, timing: np.ndarray | None, n: int) -> np.ndarray:
        """The gain per sample: sustain bed plus onset bursts, peak 1."""
        t = np.arange(n) / self.sr
        env = np.zeros(n)
        if timing is not None:
            sustain = np.asarray(timing, np.float64)[1]
            env = self.bed_level * np.interp(t, np.arange(sustain.size) / FRAME_RATE, sustain)
        for x in _onsets_s(timing):
            d = t - x
            burst = np.where(d >= 0, np.exp(-np.maximum(d, 0) / BURST_DECAY_S), 0.0)
            burst *= np.clip((d + BURST_ATTACK_S) / BURST_ATTACK_S, 0, 1)
            env = np.maximum(env, burst)
        if timing is None or not env.any():
            env = np.full(n, self.bed_level)
        return env

    def generate(self, *, timing: np.ndarray | None, prompt: str, negative_prompt: str | None, seeds: list[int],
                 duration_s: float | None, steps: int | None = None,
                 guidance: float | None = None) -> list[GeneratedAudio]:
        """One shaped-noise waveform per seed (the :class:`models.registry.Generator` interface)."""
        n = num_samples(_duration(timing, duration_s), self.sr)
        env = self.envelope(timing, n)
        return [GeneratedAudio(_peak_normalise(pink_noise(n, np.random.default_rng(int(s))) * env), self.sr, int(s), [])
                for s in seeds]


class Retrieval:
    """The nearest training clip by caption, re-timed to the curve's onsets (see module doc).

    Arguments:
        clips: training clips (dicts with ``clip_id, path, caption, category, is_ambience`` and the
            attribution keys ``package, source_file, author, licence``).
        encode: texts -> ``(n, d)`` L2-normalised embeddings (the MiniLM pooled output).
        candidates: a seed picks among this many clips of the best caption.

    Raises:
        ValueError: no clips.
    """

    model_id = "baseline:retrieval"
    weights_sha256 = ""

    def __init__(self, clips: list[dict], encode, candidates: int = 4) -> None:
        if not clips:
            raise ValueError("the retrieval baseline needs at least one training clip")
        self.clips = clips
        self.encode = encode
        self.candidates = int(candidates)
        self.captions = sorted({str(c["caption"]) for c in clips})
        self.caption_emb = np.asarray(encode(self.captions), np.float64)
        self._audio: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def choose(self, prompt: str, negative_prompt: str | None, seed: int) -> dict:
        """The clip retrieved for a prompt (a seed picks among the best caption's clips)."""
        texts = [prompt] + ([negative_prompt] if negative_prompt else [])
        emb = np.asarray(self.encode(texts), np.float64)
        score = self.caption_emb @ emb[0]
        if negative_prompt:
            score = score - self.caption_emb @ emb[1]
        caption = self.captions[int(np.argmax(score))]
        pool = sorted((c for c in self.clips if str(c["caption"]) == caption), key=lambda c: str(c["clip_id"]))
        rng = np.random.default_rng(int(seed))
        return pool[int(rng.integers(len(pool)))] if len(pool) > 1 else pool[0]

    def _clip_audio(self, clip: dict) -> tuple[np.ndarray, np.ndarray]:
        key = str(clip["clip_id"])
        if key not in self._audio:
            x = read_audio(clip["path"])
            self._audio[key] = (x, onset_times(x, SAMPLE_RATE))
        return self._audio[key]

    def render(self, clip: dict, timing: np.ndarray | None, n: int) -> np.ndarray:
        """The clip's events placed at the curve's onsets (looped for ambiences or a curve without onsets)."""
        x, own = self._clip_audio(clip)
        targets = _onsets_s(timing)
        if bool(clip.get("is_ambience")) or targets.size == 0 or x.size == 0:
            reps = -(-n // max(x.size, 1))
            return np.tile(x, reps)[:n] if x.size else np.zeros(n, np.float32)
        starts = [max(0, int(round((o - 0.01) * SAMPLE_RATE))) for o in own] or [0]
        bounds = starts + [x.size]
        events = [(bounds[k], bounds[k + 1]) for k in range(len(starts)) if bounds[k + 1] > bounds[k]] or [(0, x.size)]
        out = np.zeros(n, np.float64)
        fade = max(1, int(FADE_S * SAMPLE_RATE))
        for j, t in enumerate(targets):
            a = int(round(t * SAMPLE_RATE))
            stop = int(round(targets[j + 1] * SAMPLE_RATE)) if j + 1 < targets.size else n
            s0, s1 = events[j % len(events)]
            m = min(s1 - s0, stop - a, n - a)
            if m <= 0:
                continue
            seg = x[s0:s0 + m].astype(np.float64)
            k = min(fade, m)
            seg[m - k:] *= np.linspace(1.0, 0.0, k)
            out[a:a + m] += seg
        return out

    def generate(self, *, timing: np.ndarray | None, prompt: str, negative_prompt: str | None, seeds: list[int],
                 duration_s: float | None, steps: int | None = None,
                 guidance: float | None = None) -> list[GeneratedAudio]:
        """One re-timed retrieved clip per seed, attributed (the :class:`models.registry.Generator` interface)."""
        duration = _duration(timing, duration_s)
        n = num_samples(duration)
        if timing is not None and abs(np.asarray(timing).shape[1] - num_frames(duration)) > 2:
            raise ValueError("timing curve and duration_s disagree; pass a curve of num_frames(duration_s) frames")
        out = []
        for s in seeds:
            clip = self.choose(prompt, negative_prompt, int(s))
            wave = _peak_normalise(self.render(clip, timing, n))
            att = [{**{k: clip.get(k) for k in ATTRIBUTION_KEYS}, "caption": clip.get("caption"),
                    "category": clip.get("category")}]
            out.append(GeneratedAudio(wave, SAMPLE_RATE, int(s), att))
        return out
