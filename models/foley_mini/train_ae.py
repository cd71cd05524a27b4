"""Stage 1 of training: the log-mel autoencoder (L1 + a small KL), best weights by held-out L1."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models.foley_mini.audio import LOG_MIN
from models.foley_mini.data import apply_gain, load_corpus, load_mels, window_mel
from models.foley_mini.run import (Clock, RunState, TrainConfig, atomic_torch_save, log_line, lr_at,
                                   save_pretrained_atomic)


def _ae_batch(train_mels: list[np.ndarray], step: int, cfg: TrainConfig) -> torch.Tensor:
    """Random crops of training clips (silence-padded when short) at a random gain, ``(B, n_mels, crop)``."""
    rng = np.random.default_rng([cfg.seed, 21, step])
    crop = cfg.ae_crop_frames
    out = []
    for _ in range(cfg.ae_batch):
        mel = train_mels[int(rng.integers(len(train_mels)))]
        x = np.full((mel.shape[0], crop), LOG_MIN, np.float32)
        if mel.shape[1] >= crop:
            s = int(rng.integers(0, mel.shape[1] - crop + 1))
            x[:] = mel[:, s:s + crop]
        else:
            o = int(rng.integers(0, crop - mel.shape[1] + 1))
            x[:, o:o + mel.shape[1]] = mel
        out.append(apply_gain(x, float(rng.uniform(-cfg.augment.gain_db, cfg.augment.gain_db))))
    return torch.from_numpy(np.stack(out))


def _ae_eval_set(corpus, mels, frames: int, limit: int) -> torch.Tensor:
    rows = corpus.windows[corpus.windows["split"] == "eval"].to_dict("records")
    pick = np.linspace(0, len(rows) - 1, min(limit, len(rows))).round().astype(int)
    return torch.from_numpy(np.stack([window_mel(mels[rows[i]["clip_id"]], rows[i]["start_sample"], frames)[0]
                                      for i in pick]))


def ae_eval_l1(ae, mels: torch.Tensor, batch: int = 32) -> float:
    """Mean absolute log-mel error (natural-log units) of encode -> decode on held-out windows."""
    ae.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(mels), batch):
            x = mels[i:i + batch]
            total += float((ae.decode_raw(ae.encode_raw(x)[0]) - x).abs().mean()) * len(x)
    ae.train()
    return total / len(mels)


def train_autoencoder(out_dir: str | os.PathLike, echo: Callable[[str], None] | None = None) -> dict:
    """Stage 1: train the log-mel autoencoder (L1 + small KL), keep the best on held-out windows.

    Arguments:
        out_dir: the run directory (created by :func:`start_run`).
        echo: where progress lines go (default: this module's logger).

    Returns:
        The stage record: steps, best held-out L1, latent statistics, seconds.
    """
    from models.foley_mini.autoencoder import MelAutoencoder

    state, out = RunState(out_dir), Path(out_dir)
    if state.done("autoencoder"):
        return state.stage("autoencoder")
    cfg, model_cfg = state.config, state.model
    torch.set_num_threads(cfg.threads)
    clock = Clock(state)
    corpus = load_corpus(state.data["corpus"])
    mels = load_mels(corpus, out / "cache")
    train_ids = corpus.clips.loc[corpus.clips["split"] == "train", "clip_id"]
    train_mels = [np.asarray(mels[c], np.float32) for c in train_ids]
    cells = np.concatenate([m.ravel() for m in train_mels])
    mel_mean, mel_std = float(cells.mean()), float(cells.std())
    torch.manual_seed(cfg.seed)
    ae = MelAutoencoder(n_mels=model_cfg.spec.n_mels, latent_channels=model_cfg.latent_channels,
                        channels=model_cfg.ae_channels, mel_mean=mel_mean, mel_std=mel_std,
                        kl_weight=model_cfg.kl_weight)
    opt = torch.optim.AdamW(ae.parameters(), lr=cfg.ae_lr, weight_decay=0.0)
    eval_mels = _ae_eval_set(corpus, mels, model_cfg.window_frames, cfg.eval_examples)
    ckpt, best_path = out / "checkpoints" / "autoencoder-last.pt", out / "checkpoints" / "autoencoder-best.pt"
    step, best, since_best = 0, math.inf, 0
    if ckpt.is_file():
        c = torch.load(ckpt, weights_only=False)
        ae.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        step, best, since_best = c["step"], c["best"], c["since_best"]
    budget_end = cfg.minutes * 60.0 * cfg.ae_share
    losses = []
    while True:
        stop_time = state.data["elapsed_s"] + (time.monotonic() - clock.mark) >= budget_end
        stop_steps = cfg.ae_max_steps is not None and step >= cfg.ae_max_steps
        if step % cfg.ae_eval_every == 0 or stop_time or stop_steps:
            if step > 0 or not ckpt.is_file():
                l1 = ae_eval_l1(ae, eval_mels)
                if l1 < best:
                    best, since_best = l1, 0
                    atomic_torch_save(ae.state_dict(), best_path)
                else:
                    since_best += 1
                clock.charge()
                log_line(out, {"stage": "autoencoder", "step": step, "elapsed_s": round(state.data["elapsed_s"], 1),
                                "train_l1": float(np.mean(losses)) if losses else float("nan"), "eval_l1": l1,
                                "best_eval_l1": best}, echo)
                losses = []
                atomic_torch_save({"model": ae.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                                    "since_best": since_best}, ckpt)
                state.save()
            if stop_time or stop_steps or since_best >= cfg.patience:
                break
        x = _ae_batch(train_mels, step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.ae_lr, cfg.warmup_steps)
        y, kl = ae(x, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + step))
        l1 = (y - x).abs().mean() / mel_std
        loss = l1 + model_cfg.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(float(l1.detach()) * mel_std)
        step += 1
    ae.load_state_dict(torch.load(best_path, weights_only=True))
    ae.eval()
    mean, std = latent_statistics(ae, corpus, mels, model_cfg.window_frames)
    ae.set_latent_stats(mean, std)
    save_pretrained_atomic(ae, out / "autoencoder")
    clock.charge()
    record = {"done": True, "steps": step, "best_eval_l1": best, "mel_mean": mel_mean, "mel_std": mel_std,
              "latent_std_raw": [float(v) for v in std], "parameters": sum(p.numel() for p in ae.parameters())}
    state.stage("autoencoder").update(record)
    state.save()
    return record


def latent_statistics(ae, corpus, mels, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the raw latent over the training windows."""
    rows = corpus.windows[corpus.windows["split"] == "train"].to_dict("records")
    sums, sq, n = 0.0, 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), 32):
            x = torch.from_numpy(np.stack([window_mel(mels[r["clip_id"]], r["start_sample"], frames)[0]
                                           for r in rows[i:i + 32]]))
            z = ae.encode_raw(x)[0]
            sums = sums + z.sum(dim=(0, 2, 3))
            sq = sq + (z ** 2).sum(dim=(0, 2, 3))
            n += z.shape[0] * z.shape[2] * z.shape[3]
    mean = sums / n
    return mean, (sq / n - mean ** 2).clamp_min(1e-8).sqrt()
