"""The generator registry: one small interface over the built-in model and pipelines from local directories.

- ``builtin:foley-mini``: the trained foley-mini pipeline shipped in ``models/foley-mini``.
- ``local:<dir>`` or a plain directory path: a diffusers pipeline saved with
  ``save_pretrained`` (foley-mini or another audio pipeline such as AudioLDM or
  Stable Audio Open, if its classes are installed); loaded from disk only, never
  from a hub.

Every backend is a :class:`Generator`: ``generate(...)`` returns one
:class:`GeneratedAudio` per seed, and ``model_id`` / ``weights_sha256`` go into
the catalog with every generation.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

import foleyflow  # noqa: F401  (offline defaults before diffusers is imported)

BUILTIN_DIR = Path(__file__).resolve().parent / "foley-mini"
BUILTIN_NAME = "builtin:foley-mini"
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 3.0
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".pt", ".ckpt")


@dataclass
class GeneratedAudio:
    """One generated waveform.

    Attributes:
        waveform: ``float32 (samples,)`` in [-1, 1].
        sr: sample rate in Hz.
        seed: the seed it was generated with (the same seed gives the same waveform).
        attributions: real clips the generation was conditioned on (clip_id, package, source_file,
            author, licence, ...); empty when none was used.
    """

    waveform: np.ndarray
    sr: int
    seed: int
    attributions: list[dict] = field(default_factory=list)


@runtime_checkable
class Generator(Protocol):
    """What the generation task needs from a backend."""

    @property
    def model_id(self) -> str: ...

    @property
    def weights_sha256(self) -> str: ...

    def generate(self, *, timing: np.ndarray | None, prompt: str, negative_prompt: str | None, seeds: list[int],
                 duration_s: float | None, steps: int | None = None,
                 guidance: float | None = None) -> list[GeneratedAudio]: ...


def directory_sha256(path: str | os.PathLike) -> str:
    """One sha256 over every weight and config file under ``path`` (relative names and contents, sorted)."""
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class DiffusersGenerator:
    """A diffusers pipeline loaded from a local directory, behind the :class:`Generator` interface.

    foley-mini pipelines get the timing curve and return attributions; other audio pipelines get
    prompt, negative prompt, steps, guidance and length (the timing curve is not used by them).
    """

    def __init__(self, directory: str | os.PathLike, model_id: str) -> None:
        self.directory = Path(directory).resolve()
        index = self.directory / "model_index.json"
        if not index.is_file():
            raise FileNotFoundError(f"{self.directory}: no model_index.json; give a directory written by a "
                                    "diffusers pipeline's save_pretrained")
        self._model_id = model_id
        self._sha: str | None = None
        self._lock = threading.Lock()
        cls = _pipeline_class(json.loads(index.read_text()).get("_class_name", ""))
        self.pipeline = cls.from_pretrained(str(self.directory), local_files_only=True, low_cpu_mem_usage=False)
        self.pipeline.set_progress_bar_config(disable=True)

    @property
    def model_id(self) -> str:
        """``builtin:foley-mini`` or ``local:<absolute dir>``."""
        return self._model_id

    @property
    def weights_sha256(self) -> str:
        """sha256 over the directory's weights and configs (computed once)."""
        if self._sha is None:
            self._sha = directory_sha256(self.directory)
        return self._sha

    @property
    def scheduler_name(self) -> str:
        """Class name of the pipeline's scheduler."""
        return type(self.pipeline.scheduler).__name__

    @property
    def is_foley_mini(self) -> bool:
        from models.foley_mini.pipeline import FoleyMiniPipeline

        return isinstance(self.pipeline, FoleyMiniPipeline)

    def generate(self, *, timing: np.ndarray | None, prompt: str, negative_prompt: str | None, seeds: list[int],
                 duration_s: float | None, steps: int | None = None,
                 guidance: float | None = None) -> list[GeneratedAudio]:
        """Generate one waveform per seed.

        Arguments:
            timing: ``(2, T)`` onset/sustain curve on the 62.5 Hz audio grid, or ``None``.
            prompt: what should sound (``""``: timing alone).
            negative_prompt: what should not, or ``None``.
            seeds: one waveform per seed.
            duration_s: length in seconds (default: from the timing curve).
            steps: denoising steps (default 20).
            guidance: classifier-free guidance scale (default 3).

        Returns:
            A :class:`GeneratedAudio` per seed, in order.

        Raises:
            ValueError: unusable inputs (the message says what to pass).
        """
        import torch

        if not seeds:
            raise ValueError("give at least one seed")
        steps = DEFAULT_STEPS if steps is None else int(steps)
        guidance = DEFAULT_GUIDANCE if guidance is None else float(guidance)
        results = []
        with self._lock:  # a pipeline's scheduler holds per-call state
            for seed in seeds:
                gen = torch.Generator("cpu").manual_seed(int(seed))
                if self.is_foley_mini:
                    out = self.pipeline(prompt=prompt, negative_prompt=negative_prompt or None, timing=timing,
                                        duration_s=duration_s, num_inference_steps=steps, guidance_scale=guidance,
                                        generator=gen)
                    results.append(GeneratedAudio(out.audios[0], out.sample_rate, int(seed), out.attributions[0]))
                else:
                    audio, sr = self._generic(prompt, negative_prompt, timing, duration_s, steps, guidance, gen)
                    results.append(GeneratedAudio(audio, sr, int(seed), []))
        return results

    def _generic(self, prompt, negative_prompt, timing, duration_s, steps, guidance, gen) -> tuple[np.ndarray, int]:
        pipe = self.pipeline
        if duration_s is None:
            if timing is None:
                raise ValueError("give duration_s or a timing curve")
            duration_s = (np.asarray(timing).shape[1] - 1) / 62.5
        params = set(inspect.signature(pipe.__call__).parameters)
        kwargs = {"prompt": prompt, "num_inference_steps": steps, "guidance_scale": guidance, "generator": gen}
        if negative_prompt and "negative_prompt" in params:
            kwargs["negative_prompt"] = negative_prompt
        for name in ("audio_length_in_s", "audio_end_in_s"):
            if name in params:
                kwargs[name] = float(duration_s)
        audio = np.asarray(pipe(**kwargs).audios[0], np.float32)
        audio = audio.mean(axis=0) if audio.ndim == 2 else audio.reshape(-1)
        sr = _sample_rate(pipe)
        return np.clip(audio[:int(round(duration_s * sr))], -1, 1), sr


#: Pipeline classes of this project, by the ``_class_name`` in ``model_index.json`` (others come from diffusers).
PROJECT_PIPELINES = {"FoleyMiniPipeline": ("models.foley_mini.pipeline", "FoleyMiniPipeline")}


def _pipeline_class(class_name: str):
    import importlib

    from diffusers import DiffusionPipeline

    if class_name in PROJECT_PIPELINES:
        module, name = PROJECT_PIPELINES[class_name]
        return getattr(importlib.import_module(module), name)
    return DiffusionPipeline


def _sample_rate(pipe) -> int:
    for owner, attr in (("vocoder", "sampling_rate"), ("vae", "sampling_rate"), ("vocoder", "sample_rate")):
        module = getattr(pipe, owner, None)
        value = getattr(getattr(module, "config", None), attr, None) or getattr(module, attr, None)
        if value:
            return int(value)
    raise ValueError(f"cannot tell the sample rate of {type(pipe).__name__}; it is not a known audio pipeline")


_CACHE: dict[str, DiffusersGenerator] = {}
_CACHE_LOCK = threading.Lock()


def resolve(name: str) -> tuple[Path, str]:
    """The directory and model id a generator name stands for.

    Raises:
        LookupError: an unknown ``builtin:`` name, or an empty name.
        FileNotFoundError: the directory (or the built-in weights) does not exist.
    """
    name = (name or "").strip()
    if not name:
        raise LookupError(f"no generator name; use {BUILTIN_NAME} or local:<directory>")
    if name.startswith("builtin:"):
        if name != BUILTIN_NAME:
            raise LookupError(f"unknown generator {name!r}; the built-in one is {BUILTIN_NAME}")
        if not (BUILTIN_DIR / "model_index.json").is_file():
            raise FileNotFoundError(f"{BUILTIN_DIR} holds no trained weights; train them with "
                                    "`foleyflow train --corpus DIR --out DIR` and copy the pipeline there")
        return BUILTIN_DIR, BUILTIN_NAME
    path = Path(name[len("local:"):] if name.startswith("local:") else name).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"generator directory {path} does not exist; give local:<directory of a "
                                "save_pretrained pipeline> or builtin:foley-mini")
    return path, f"local:{path}"


def get_generator(name: str = BUILTIN_NAME) -> DiffusersGenerator:
    """The generator for ``name`` (loaded once per process and shared).

    Arguments:
        name: ``builtin:foley-mini``, ``local:<dir>`` or a directory path.

    Returns:
        A :class:`Generator`.

    Raises:
        LookupError: unknown name.
        FileNotFoundError: missing directory or weights.
    """
    path, model_id = resolve(name)
    with _CACHE_LOCK:
        if model_id not in _CACHE:
            _CACHE[model_id] = DiffusersGenerator(path, model_id)
        return _CACHE[model_id]
