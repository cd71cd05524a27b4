"""Generation of one shot's sound: N candidates from the generator, checked, the best one picked.

The shot's timing curve (from its cleaned frames, :mod:`tasks.features`) says
when things happen; the prompt (the archivist's description of the film, or
the shot's own override) says what they are, and the negative prompt what
must not sound. Each candidate has its own seed, derived from the film, the
shot and the run's base seed, so a run can be repeated sample for sample.

Every candidate is generated ``margin_s`` longer on both sides of the shot
(the timing curve padded with silence there), so that stitching has material
to crossfade across the cuts (:func:`tasks.stitch.stitch`). The checks of
:mod:`tasks.qc` (sync against the picture's onsets, loudness, clipping,
silence) look only at the part inside the shot. A shot whose every candidate
is rejected fails with the reasons; nothing is selected by default.

WAV files are written atomically and named by candidate and seed; the
caller records them (with their sha256) in the catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tasks.audio_grid import FRAME_RATE, num_frames
from tasks.features import TimingCurve
from tasks.qc import score_candidate, select_best
from tasks.stitch import write_wav

DEFAULT_GENERATOR = "builtin:foley-mini"


class GenerationRejected(RuntimeError):
    """Every candidate failed the automatic checks; the message lists why."""


@dataclass(frozen=True)
class GenerateConfig:
    """How a shot's sound is generated (part of every generation's recorded parameters)."""

    generator: str = DEFAULT_GENERATOR  # builtin:foley-mini, local:<dir> or a directory
    candidates: int = 2  # seeds tried per shot; the checks pick one
    steps: int | None = None  # denoising steps (None: the generator's default)
    guidance: float | None = None  # classifier-free guidance scale (None: the generator's default)
    seed: int = 0  # base seed of the run; candidate seeds derive from it
    margin_s: float = 0.05  # extra sound each side of the shot, for the crossfade at cuts
    speech_check: bool = True  # look for speech in every candidate (pyannote.audio, tasks.speech)
    speech_model: str | None = None  # a local pyannote segmentation checkpoint (None: the shipped speech-vad)

    def __post_init__(self) -> None:
        if not 1 <= self.candidates <= 16:
            raise ValueError(f"candidates must be between 1 and 16, not {self.candidates}")
        if self.steps is not None and not 1 <= self.steps <= 200:
            raise ValueError(f"steps must be between 1 and 200, not {self.steps}")
        if self.guidance is not None and not 0 <= self.guidance <= 20:
            raise ValueError(f"guidance must be between 0 and 20, not {self.guidance}")
        if not 0 <= self.margin_s <= 1:
            raise ValueError(f"margin_s must be between 0 and 1 s, not {self.margin_s}")


@dataclass
class Candidate:
    """One generated candidate: its file, seed, checks and what it was conditioned on."""

    index: int
    seed: int
    path: Path
    sha256: str
    scores: dict
    attributions: list[dict] = field(default_factory=list)
    selected: bool = False

    def to_json(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass
class ShotSound:
    """The outcome of one shot's generation (what the catalog records)."""

    candidates: list[Candidate]
    selected: int
    prompt: str
    negative_prompt: str
    model_id: str
    weights_sha256: str
    scheduler: str
    steps: int
    guidance: float
    duration_s: float  # of each waveform, margins included
    margin_s: float
    sample_rate: int
    params_hash: str

    @property
    def best(self) -> Candidate:
        return self.candidates[self.selected]

    def to_json(self) -> dict:
        data = asdict(self)
        data["candidates"] = [c.to_json() for c in self.candidates]
        return data


def candidate_seeds(film_sha256: str, shot_index: int, base_seed: int, n: int, reroll: int = 0) -> list[int]:
    """``n`` seeds for a shot, stable for (film, shot, base seed) and different between shots.

    ``reroll`` (how many times an archivist rejected the shot) gives a fresh set: a rejected
    shot is not generated again with the seeds that were rejected.
    """
    if reroll < 0:
        raise ValueError(f"reroll must be >= 0, got {reroll}")
    seeds = []
    for k in range(n):
        key = f"{film_sha256}:{shot_index}:{base_seed}:{k}" + (f":reroll{reroll}" if reroll else "")
        digest = hashlib.sha256(key.encode()).digest()
        seeds.append(int.from_bytes(digest[:6], "big"))  # < 2**48: exact in JSON and in every database
    return seeds


def pad_timing(curve: np.ndarray, margin_s: float) -> np.ndarray:
    """The ``(2, T)`` timing curve with ``margin_s`` of silence (zeros) before and after."""
    pad = int(round(margin_s * FRAME_RATE))
    return np.pad(np.asarray(curve, np.float32), ((0, 0), (pad, pad)))


def _fit_frames(curve: np.ndarray, n: int) -> np.ndarray:
    """``curve`` cut or zero-padded at the end to exactly ``n`` frames."""
    if curve.shape[1] >= n:
        return curve[:, :n]
    return np.pad(curve, ((0, 0), (0, n - curve.shape[1])))


def params_hash(**params) -> str:
    """The 32-hex digest of everything that decides a generation's audio."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _steps_guidance(config: GenerateConfig) -> tuple[int, float]:
    from models.registry import DEFAULT_GUIDANCE, DEFAULT_STEPS

    return (config.steps if config.steps is not None else DEFAULT_STEPS,
            config.guidance if config.guidance is not None else DEFAULT_GUIDANCE)


def _shot_duration(timing: TimingCurve) -> float:
    return float(timing.duration) or (timing.onset.size - 1) / FRAME_RATE


def expected_params_hash(generator, timing: TimingCurve, *, prompt: str, negative_prompt: str, seeds: list[int],
                         config: GenerateConfig, timing_sha256: str = "") -> str:
    """The parameters hash a generation of this shot would be recorded with (see :func:`generate_shot`)."""
    steps, guidance = _steps_guidance(config)
    total = _shot_duration(timing) + 2 * config.margin_s
    return params_hash(model=generator.model_id, weights=generator.weights_sha256, prompt=prompt,
                       negative=negative_prompt, seeds=[int(x) for x in seeds], steps=steps, guidance=guidance,
                       duration=round(total, 6), margin=config.margin_s, timing=timing_sha256)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def generate_shot(generator, timing: TimingCurve, *, prompt: str, negative_prompt: str, seeds: list[int],
                  out_dir: str | os.PathLike, config: GenerateConfig = GenerateConfig(),
                  timing_sha256: str = "", transcript: bool = False) -> ShotSound:
    """Generate, check and select the sound of one shot.

    Arguments:
        generator: a :class:`models.registry.Generator` (``generate``, ``model_id``, ``weights_sha256``).
        timing: the shot's timing curve (its ``duration`` is the shot's length).
        prompt: what should sound ("" lets the picture's timing alone decide).
        negative_prompt: what must not ("" for nothing).
        seeds: one candidate per seed.
        out_dir: where the candidate WAVs go (created).
        config: steps, guidance, margin.
        timing_sha256: the timing file's sha256, part of the parameters hash.
        transcript: the shot has dialogue lines. Without them, or when the negative prompt excludes
            speech ("no voices"), a candidate in which the speech check hears speech is marked
            ``unwanted_speech`` and loses against every candidate without (``tasks.qc.select_best``).

    Returns:
        A :class:`ShotSound` with every candidate and the selected one.

    Raises:
        ValueError: no seeds or an empty timing curve.
        GenerationRejected: every candidate failed the checks (the files are removed).
    """
    if not seeds:
        raise ValueError("give at least one seed")
    duration = _shot_duration(timing)
    if duration <= 0:
        raise ValueError("the shot's timing curve is empty; recompute it from the cleaned shot")
    margin = config.margin_s
    total = duration + 2 * margin
    curve = _fit_frames(pad_timing(timing.stacked(), margin), num_frames(total))
    results = generator.generate(timing=curve, prompt=prompt, negative_prompt=negative_prompt or None,
                                 seeds=list(seeds), duration_s=total, steps=config.steps, guidance=config.guidance)
    steps, guidance = _steps_guidance(config)
    digest = expected_params_hash(generator, timing, prompt=prompt, negative_prompt=negative_prompt, seeds=seeds,
                                  config=config, timing_sha256=timing_sha256)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    candidates = []
    wanted = None
    if config.speech_check:
        from tasks.speech import speech_excluded

        wanted = bool(transcript) and not speech_excluded(negative_prompt)
    for k, res in enumerate(results):
        wave = np.asarray(res.waveform, np.float32).reshape(-1)
        inner = wave[int(round(margin * res.sr)):int(round((margin + duration) * res.sr))]
        path = write_wav(out / f"candidate-{k}-seed-{res.seed}-{digest[:8]}.wav", wave, res.sr)
        scores = score_candidate(inner, res.sr, timing)
        if wanted is not None:
            scores.update(_speech_scores(inner, res.sr, wanted, config.speech_model))
        candidates.append(Candidate(index=k, seed=int(res.seed), path=path, sha256=_sha256(path),
                                    scores=_plain(scores),
                                    attributions=list(res.attributions)))
    best = select_best([c.scores for c in candidates])
    if best is None:
        for c in candidates:
            c.path.unlink(missing_ok=True)
        reasons = "; ".join(f"seed {c.seed}: {c.scores.get('rejected')}" for c in candidates)
        raise GenerationRejected(f"every candidate was rejected by the checks ({reasons}); "
                                 "try other seeds, another prompt or more candidates")
    candidates[best].selected = True
    return ShotSound(candidates=candidates, selected=best, prompt=prompt, negative_prompt=negative_prompt,
                     model_id=generator.model_id, weights_sha256=generator.weights_sha256,
                     scheduler=getattr(generator, "scheduler_name", "unknown"), steps=int(steps),
                     guidance=float(guidance), duration_s=total, margin_s=margin, sample_rate=int(results[0].sr),
                     params_hash=digest)


def _speech_scores(wave: np.ndarray, sr: int, wanted: bool, model: str | None) -> dict:
    """The speech check's figures of one candidate: seconds of speech heard, and whether it is unwanted."""
    from tasks.speech import speech_check

    chk = speech_check(wave, sr, speech_wanted=wanted, model_path=model)
    return {"speech_s": round(float(chk["speech_s"]), 3), "unwanted_speech": bool(chk["unwanted_speech"])}


def _plain(scores: dict) -> dict:
    """JSON-safe scores: numpy scalars to Python, non-finite floats to None."""
    out = {}
    for k, v in scores.items():
        if isinstance(v, (np.floating, float)):
            v = float(v)
            out[k] = v if np.isfinite(v) else None
        elif isinstance(v, (np.integer, np.bool_)):
            out[k] = v.item()
        else:
            out[k] = v
    return out
