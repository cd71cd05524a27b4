"""A training run of foley-mini: its configuration, its directory and state, shared helpers.

A run lives in one output directory::

    OUT/state.json            configuration, finished stages, time spent, figures
    OUT/train-log.jsonl       one line per evaluation (stage, step, elapsed, losses)
    OUT/cache/                log-mels, encoded pools, caption embeddings (reused by a resumed run)
    OUT/checkpoints/          <stage>-last.pt (resume) and the best weights so far
    OUT/autoencoder/          the trained autoencoder (save_pretrained)
    OUT/pipeline/             the exported FoleyMiniPipeline (save_pretrained, safetensors)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from models.foley_mini.batches import DropConfig
from models.foley_mini.config import PRESETS, ModelConfig
from models.foley_mini.data import AugmentConfig, load_corpus, save_json
from models.foley_mini.timing import CurveConfig

log = logging.getLogger(__name__)

STAGES = ("autoencoder", "encode", "diffusion", "export")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (recorded in ``state.json`` and the model card)."""

    preset: str = "mini"  # a key of models.foley_mini.config.PRESETS
    seed: int = 0
    minutes: float = 120.0  # wall-clock budget of the whole run (all stages)
    ae_share: float = 0.15  # share of the budget for the autoencoder stage
    export_reserve_s: float = 120.0  # kept free at the end for encoding the bank and saving
    threads: int = 2
    ae_batch: int = 16
    ae_crop_frames: int = 128  # the autoencoder is fully convolutional: it trains on crops
    ae_lr: float = 1e-3
    batch: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    eval_every: int = 250  # steps between held-out evaluations (and checkpoints)
    ae_eval_every: int = 200
    eval_examples: int = 192  # held-out windows per evaluation
    patience: int = 4  # evaluations without improvement before early stopping
    max_steps: int | None = None  # stop the diffusion stage after this many steps (tests, smoke runs)
    ae_max_steps: int | None = None
    bank_per_category: int = 6  # reference windows shipped per category
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    curve: CurveConfig = field(default_factory=CurveConfig)
    drop: DropConfig = field(default_factory=DropConfig)

    @property
    def model(self) -> ModelConfig:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        return PRESETS[self.preset]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["augment"] = AugmentConfig(**d.get("augment", {}))
        d["curve"] = CurveConfig(**d.get("curve", {}))
        d["drop"] = DropConfig(**d.get("drop", {}))
        return cls(**d)


class RunState:
    """``OUT/state.json``: configuration, per-stage results and time spent; written atomically."""

    def __init__(self, out_dir: str | os.PathLike, config: TrainConfig | None = None, corpus: str | None = None,
                 resume: bool = False) -> None:
        self.out = Path(out_dir)
        self.path = self.out / "state.json"
        if self.path.is_file():
            data = json.loads(self.path.read_text())
            if not resume and config is not None:
                raise FileExistsError(f"{self.out} already holds a training run; pass --resume to continue it "
                                      "or choose a new --out directory")
            self.data = data
            if corpus is not None and data.get("corpus") != str(corpus):
                raise ValueError(f"{self.out} was trained on {data.get('corpus')}, not {corpus}; use a new --out")
        else:
            if config is None:
                raise FileNotFoundError(f"{self.path} not found; start the run with train() or `foleyflow train`")
            self.data = {"config": config.to_json(), "corpus": str(corpus), "stages": {}, "elapsed_s": 0.0,
                         "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
            self.save()

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_json(self.data["config"])

    @property
    def model(self) -> ModelConfig:
        """The network shapes recorded when the run started (so later edits of the presets do not matter)."""
        if "model" in self.data:
            return ModelConfig.from_json(self.data["model"])
        return self.config.model

    def done(self, stage: str) -> bool:
        return bool(self.data["stages"].get(stage, {}).get("done"))

    def stage(self, stage: str) -> dict:
        return self.data["stages"].setdefault(stage, {})

    def add_time(self, seconds: float) -> None:
        self.data["elapsed_s"] = float(self.data.get("elapsed_s", 0.0)) + float(seconds)

    def remaining_s(self) -> float:
        return self.config.minutes * 60.0 - float(self.data.get("elapsed_s", 0.0))

    def save(self) -> None:
        save_json(self.path, self.data)


class Clock:
    """Time spent in a stage, added to the run's total at every checkpoint."""

    def __init__(self, state: RunState) -> None:
        self.state, self.mark = state, time.monotonic()

    def charge(self) -> None:
        now = time.monotonic()
        self.state.add_time(now - self.mark)
        self.mark = now


def log_line(out: Path, record: dict, echo: Callable[[str], None] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train-log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    msg = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
    (echo or log.info)(msg)


def atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def lr_at(step: int, base: float, warmup: int) -> float:
    return base * min(1.0, (step + 1) / max(1, warmup))


def save_pretrained_atomic(module, target: Path) -> None:
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    module.save_pretrained(str(tmp))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)



def start_run(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike, config: TrainConfig = TrainConfig(),
              resume: bool = False) -> RunState:
    """Create (or, with ``resume``, reopen) a run directory.

    Raises:
        FileExistsError: ``out_dir`` holds a run and ``resume`` is false.
        ValueError: resuming a run of another corpus, or an unknown preset.
        CorpusError: the corpus is unusable.
    """
    config.model  # validates the preset
    load_corpus(corpus_dir)
    state = RunState(out_dir, config, corpus=str(Path(corpus_dir).resolve()), resume=resume)
    if "model" not in state.data:
        state.data["model"] = state.config.model.to_json()
        state.save()
    if "code_version" not in state.data:
        from foleyflow.provenance import code_version

        state.data["code_version"] = code_version()
        state.save()
    if resume:
        # a resumed run may get new limits (budget, step caps); everything else stays as recorded
        for key in ("minutes", "max_steps", "ae_max_steps"):
            state.data["config"][key] = getattr(config, key)
        state.save()
    return state


