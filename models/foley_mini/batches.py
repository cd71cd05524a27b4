"""Encoded training data and the batches of the diffusion stage.

After the autoencoder is trained, the augmented pool and the reference
windows are encoded once (:class:`LatentPool`, :class:`ReferenceLatents`) and
the captions embedded once (:class:`TextTable`); a training step then only
indexes tensors, perturbs onsets, re-times references and adds noise
(:func:`make_batch`). Each step's randomness is keyed by ``(seed, step)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from models.foley_mini.reference import retime_latent
from models.foley_mini.timing import CurveConfig, augment_onsets, curve_from_onsets


@dataclass(frozen=True)
class DropConfig:
    """Condition dropout in training, so every branch also works alone (and guidance has a null text)."""

    text: float = 0.1
    reference: float = 0.3
    timing: float = 0.05


@dataclass
class TextTable:
    """Embeddings of every caption; row 0 is the empty text (the null condition)."""

    captions: list[str]
    pooled: torch.Tensor  # (K, D)
    tokens: torch.Tensor  # (K, S, D) float16
    mask: torch.Tensor  # (K, S) bool

    @classmethod
    def build(cls, text_encoder, captions: list[str], batch: int = 64) -> "TextTable":
        from models.foley_mini.text_encoder import TextEmbeddings

        texts = [""] + sorted(set(captions) - {""})
        parts = [text_encoder(texts[i:i + batch]) for i in range(0, len(texts), batch)]
        e = TextEmbeddings.cat(parts)
        return cls(texts, e.pooled.float(), e.tokens.half(), e.mask)

    def ids(self, captions: list[str]) -> np.ndarray:
        """Row of each caption."""
        index = {c: i for i, c in enumerate(self.captions)}
        return np.array([index[c] for c in captions], dtype=np.int64)


@dataclass
class LatentPool:
    """Encoded examples: latents, clean onsets, sustain curves, caption rows and metadata."""

    latents: torch.Tensor  # (N, C, H, L) float16, normalised
    sustain: torch.Tensor  # (N, frames) float16
    onsets: list[np.ndarray]  # clean onset frames (audio grid)
    caption_ids: np.ndarray  # (N,) rows of the TextTable
    meta: list[dict]  # category, clip_ids, groups, is_ambience
    weights: np.ndarray  # (N,) sampling probabilities

    def __len__(self) -> int:
        return self.latents.shape[0]


@dataclass
class ReferenceLatents:
    """Encoded reference windows (un-augmented training windows)."""

    latents: torch.Tensor  # (R, C, H, L) float16
    onsets: list[np.ndarray]  # onset positions in latent frames
    valid: np.ndarray  # latent frames holding audio
    is_ambience: np.ndarray
    meta: list[dict]  # clip_id, group, category, caption, record
    silence: torch.Tensor  # (C, H) latent column of silence

    def by_category(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, m in enumerate(self.meta):
            out.setdefault(m["category"], []).append(i)
        return out

    def retimed(self, j: int, target_onsets: np.ndarray, length: int) -> torch.Tensor:
        return retime_latent(self.latents[j].float(), self.onsets[j], target_onsets, length, self.silence,
                             loop=bool(self.is_ambience[j]), valid=int(self.valid[j]))


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Tensors to safetensors and metadata to a JSON sidecar, both atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    side = p.with_suffix(".json")
    tmp_side = side.with_name(side.name + ".partial")
    tmp_side.write_text(json.dumps(meta, default=str))
    os.replace(tmp_side, side)
    os.replace(tmp, p)
    return p


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Inverse of :func:`save_tensors`."""
    p = Path(path)
    return load_file(str(p)), json.loads(p.with_suffix(".json").read_text())


def _choose_reference(meta: dict, refs: ReferenceLatents, by_cat: dict[str, list[int]],
                      rng: np.random.Generator) -> int | None:
    cands = [j for j in by_cat.get(meta["category"], [])
             if refs.meta[j]["clip_id"] not in meta["clip_ids"] and refs.meta[j]["group"] not in meta["groups"]]
    return cands[int(rng.integers(len(cands)))] if cands else None


def make_batch(pool: LatentPool, refs: ReferenceLatents | None, text: TextTable, indices: np.ndarray,
               rng: np.random.Generator, noise_gen: torch.Generator, scheduler, drop: DropConfig = DropConfig(),
               curve: CurveConfig = CurveConfig(), by_cat: dict[str, list[int]] | None = None,
               timesteps: torch.Tensor | None = None, augment_timing: bool = True) -> dict[str, torch.Tensor]:
    """One diffusion batch: noisy latents, timesteps, v-targets and every condition.

    Arguments:
        pool: encoded examples; ``indices`` the rows to use.
        refs: reference latents (``None``: no references at all).
        text: caption embeddings.
        rng: draws condition dropout, onset perturbation and reference choice.
        noise_gen: draws noise (and timesteps unless ``timesteps`` is given).
        scheduler: the training ``DDPMScheduler`` (``add_noise``, ``get_velocity``).
        drop: condition dropout probabilities (zero for evaluation).
        curve: onset perturbation settings.
        by_cat: ``refs.by_category()``, precomputed.
        timesteps: fixed timesteps ``(B,)`` (evaluation), else uniform.
        augment_timing: perturb onsets like a video curve.

    Returns:
        Tensors keyed as the denoiser's arguments plus ``noisy``, ``timesteps`` and ``target``.
    """
    b = len(indices)
    latents = pool.latents[indices].float()
    _, c, h, length = latents.shape
    frames = pool.sustain.shape[1]
    tf = frames // length
    timing = torch.zeros(b, 2, frames)
    timing_mask = torch.ones(b)
    ref = torch.zeros(b, c, h, length)
    ref_mask = torch.zeros(b)
    caption_rows = pool.caption_ids[indices].copy()
    by_cat = by_cat if by_cat is not None else (refs.by_category() if refs is not None else {})
    for k, i in enumerate(indices):
        onsets = augment_onsets(pool.onsets[i], frames, rng, curve) if augment_timing else pool.onsets[i]
        timing[k] = torch.from_numpy(curve_from_onsets(onsets, pool.sustain[i].float().numpy()))
        if rng.random() < drop.timing:
            timing_mask[k] = 0.0
            onsets = np.zeros(0)
        if rng.random() < drop.text:
            caption_rows[k] = 0
        if refs is not None and rng.random() >= drop.reference:
            j = _choose_reference(pool.meta[i], refs, by_cat, rng)
            if j is not None:
                ref[k] = refs.retimed(j, np.asarray(onsets, np.float64) // tf, length)
                ref_mask[k] = 1.0
    noise = torch.randn(latents.shape, generator=noise_gen)
    if timesteps is None:
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=noise_gen)
    rows = torch.from_numpy(caption_rows)
    return {
        "noisy": scheduler.add_noise(latents, noise, timesteps),
        "timesteps": timesteps,
        "target": scheduler.get_velocity(latents, noise, timesteps),
        "text_pooled": text.pooled[rows],
        "text_tokens": text.tokens[rows].float(),
        "text_mask": text.mask[rows],
        "timing": timing,
        "timing_mask": timing_mask,
        "reference": ref,
        "reference_mask": ref_mask,
    }
