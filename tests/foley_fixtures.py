"""Shared builders for the generator tests: a tiny foley-mini trained for a few steps on the synthetic corpus."""

from __future__ import annotations

from pathlib import Path

from tests.synth_corpus import make_corpus

TINY_TRAIN = dict(preset="tiny", minutes=10.0, ae_max_steps=30, max_steps=60, eval_every=20, ae_eval_every=10,
                  batch=8, ae_batch=8, ae_crop_frames=64, eval_examples=16, warmup_steps=5, threads=1, patience=100)


def train_tiny(root: Path, **overrides) -> Path:
    """Train the tiny preset on a fresh synthetic corpus under ``root``; returns the run directory."""
    from models.foley_mini.train import TrainConfig, train

    corpus = make_corpus(root / "corpus")
    run = root / "run"
    train(corpus, run, TrainConfig(**{**TINY_TRAIN, **overrides}), echo=lambda m: None)
    return run
