"""Stages 2-4 of training: encode the data, train the denoiser (early stopping), export the pipeline."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models.foley_mini.audio import LOG_MIN
from models.foley_mini.batches import (DropConfig, LatentPool, ReferenceLatents, TextTable, load_tensors, make_batch,
                                       save_tensors)
from models.foley_mini.data import build_pool, load_corpus, load_mels, reference_pool, sampling_weights
from models.foley_mini.run import Clock, RunState, atomic_torch_save, log_line, lr_at
from models.foley_mini.schedulers import training_scheduler


# -- stage 2: encode ----------------------------------------------------------------------------------------------
def _encode_mels(ae, mels: list[np.ndarray], batch: int = 64) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for i in range(0, len(mels), batch):
            x = torch.from_numpy(np.stack([np.asarray(m, np.float32) for m in mels[i:i + batch]]))
            out.append(ae.encode(x).half())
    return torch.cat(out)


def _pool_tensors(examples, latents: torch.Tensor, text: TextTable) -> tuple[dict, dict]:
    onsets = [np.asarray(e.onsets, np.int64) for e in examples]
    flat = np.concatenate(onsets) if onsets else np.zeros(0, np.int64)
    offsets = np.cumsum([0] + [len(o) for o in onsets])
    tensors = {"latents": latents, "sustain": torch.from_numpy(np.stack([e.sustain for e in examples])).half(),
               "onsets": torch.from_numpy(flat), "onset_offsets": torch.from_numpy(offsets),
               "caption_ids": torch.from_numpy(text.ids([e.caption for e in examples])),
               "weights": torch.from_numpy(sampling_weights(examples))}
    meta = {"examples": [{"category": e.category, "clip_ids": list(e.clip_ids), "groups": list(e.groups),
                          "is_ambience": e.is_ambience, "caption": e.caption} for e in examples]}
    return tensors, meta


def load_pool(path: Path) -> LatentPool:
    """An encoded pool written by :func:`encode_data`."""
    t, meta = load_tensors(path)
    off = t["onset_offsets"].numpy()
    flat = t["onsets"].numpy()
    return LatentPool(latents=t["latents"], sustain=t["sustain"],
                      onsets=[flat[off[i]:off[i + 1]] for i in range(len(off) - 1)],
                      caption_ids=t["caption_ids"].numpy(), meta=meta["examples"],
                      weights=t["weights"].numpy().astype(np.float64))


def load_references(path: Path) -> ReferenceLatents:
    """Encoded references written by :func:`encode_data`."""
    t, meta = load_tensors(path)
    off, flat = t["onset_offsets"].numpy(), t["onsets"].numpy()
    return ReferenceLatents(latents=t["latents"], onsets=[flat[off[i]:off[i + 1]] for i in range(len(off) - 1)],
                            valid=t["valid"].numpy(), is_ambience=t["is_ambience"].numpy().astype(bool),
                            meta=meta["entries"], silence=t["silence"].float())


def load_text(path: Path) -> TextTable:
    t, meta = load_tensors(path)
    return TextTable(meta["captions"], t["pooled"], t["tokens"], t["mask"].bool())


def encode_data(out_dir: str | os.PathLike, echo: Callable[[str], None] | None = None) -> dict:
    """Stage 2: build the augmented pool, encode it and the references, embed every caption (cached)."""
    from models.foley_mini.autoencoder import MelAutoencoder
    from models.foley_mini.text_encoder import MiniLMTextEncoder

    state, out = RunState(out_dir), Path(out_dir)
    if state.done("encode"):
        return state.stage("encode")
    cfg, model_cfg = state.config, state.model
    torch.set_num_threads(cfg.threads)
    clock = Clock(state)
    corpus = load_corpus(state.data["corpus"])
    mels = load_mels(corpus, out / "cache")
    ae = MelAutoencoder.from_pretrained(str(out / "autoencoder"), low_cpu_mem_usage=False).eval()
    frames = model_cfg.window_frames
    train_ex = build_pool(corpus, mels, frames, cfg.seed, cfg.augment, cfg.curve, "train")
    eval_ex = build_pool(corpus, mels, frames, cfg.seed, cfg.augment, cfg.curve, "eval")
    refs = reference_pool(corpus, mels, frames, cfg.curve)
    text = TextTable.build(MiniLMTextEncoder(max_tokens=model_cfg.text_max_tokens),
                           [e.caption for e in train_ex + eval_ex] + [r.caption for r in refs])
    (echo or print)(f"encoding {len(train_ex)} training examples, {len(eval_ex)} held-out, {len(refs)} references")
    cache = out / "cache"
    for name, examples in (("pool-train", train_ex), ("pool-eval", eval_ex)):
        tensors, meta = _pool_tensors(examples, _encode_mels(ae, [e.mel for e in examples]), text)
        save_tensors(cache / f"{name}.safetensors", tensors, meta)
    tf = 4
    silence = ae.encode(torch.full((1, model_cfg.spec.n_mels, frames), LOG_MIN))[0].mean(dim=-1)
    ref_onsets = [np.unique(np.asarray(r.onsets, np.int64) // tf) for r in refs]
    offsets = np.cumsum([0] + [len(o) for o in ref_onsets])
    save_tensors(cache / "refs.safetensors", {
        "latents": _encode_mels(ae, [r.mel for r in refs]),
        "onsets": torch.from_numpy(np.concatenate(ref_onsets) if ref_onsets else np.zeros(0, np.int64)),
        "onset_offsets": torch.from_numpy(offsets),
        "valid": torch.tensor([max(1, -(-r.valid // tf)) for r in refs]),
        "is_ambience": torch.tensor([r.is_ambience for r in refs], dtype=torch.uint8),
        "silence": silence.detach().float(),
        "embeddings": text.pooled[torch.from_numpy(text.ids([r.caption for r in refs]))],
    }, {"entries": [{"clip_id": r.clip_id, "group": r.group, "category": r.category, "caption": r.caption,
                     "record": r.record, "valid_frames": r.valid} for r in refs]})
    save_tensors(cache / "text.safetensors", {"pooled": text.pooled, "tokens": text.tokens,
                                              "mask": text.mask.to(torch.uint8)}, {"captions": text.captions})
    clock.charge()
    record = {"done": True, "train_examples": len(train_ex), "eval_examples": len(eval_ex), "references": len(refs),
              "captions": len(text.captions),
              "mixtures": sum(" and " in e.caption for e in train_ex)}
    state.stage("encode").update(record)
    state.save()
    return record


# -- stage 3: diffusion --------------------------------------------------------------------------------------------
def build_denoiser(model_cfg, text_dim: int):
    """An untrained denoiser of the preset."""
    from models.foley_mini.denoiser import FoleyDenoiser

    return FoleyDenoiser(latent_channels=model_cfg.latent_channels, latent_height=model_cfg.spec.n_mels // 4,
                         time_factor=4, text_dim=text_dim, architecture=model_cfg.architecture,
                         block_out_channels=model_cfg.block_out_channels, layers_per_block=model_cfg.layers_per_block,
                         attention_levels=model_cfg.attention_levels, head_dim=model_cfg.head_dim,
                         ff_mult=model_cfg.ff_mult, emb_dim=model_cfg.emb_dim,
                         max_frames=max(256, model_cfg.latent_frames), sample_frames=model_cfg.latent_frames,
                         dropout=model_cfg.dropout)


def _eval_indices(n: int, limit: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int))


def diffusion_eval_loss(denoiser, pool: LatentPool, refs: ReferenceLatents | None, text: TextTable, scheduler,
                        seed: int, limit: int = 192, with_reference: bool = True, batch: int = 32) -> float:
    """Held-out v-prediction MSE with fixed noise, timesteps and onset jitter (comparable across evaluations).

    Arguments:
        denoiser: the model (its current weights are used; put EMA weights in first).
        pool: held-out examples; refs: training references (never the held-out clips).
        text: caption embeddings.
        scheduler: the training scheduler.
        seed: the run's seed (fixes noise and jitter).
        limit: held-out examples used (evenly spaced).
        with_reference: condition on a retrieved reference where the category has one.

    Returns:
        The mean squared error.
    """
    idx = _eval_indices(len(pool), limit)
    t_all = torch.linspace(0, scheduler.config.num_train_timesteps - 1, len(idx)).round().long()
    t_all = t_all[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed + 41))]
    drop = DropConfig(text=0.0, reference=0.0 if with_reference else 1.0, timing=0.0)
    rng, gen = np.random.default_rng([seed, 41]), torch.Generator().manual_seed(seed * 7919 + 41)
    by_cat = refs.by_category() if refs is not None else None
    was_training = denoiser.training
    denoiser.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            b = make_batch(pool, refs, text, idx[i:i + batch], rng, gen, scheduler, drop, by_cat=by_cat,
                           timesteps=t_all[i:i + batch])
            pred = denoiser(b["noisy"], b["timesteps"], b["text_pooled"], b["text_tokens"], b["text_mask"],
                            timing=b["timing"], timing_mask=b["timing_mask"], reference=b["reference"],
                            reference_mask=b["reference_mask"])
            total += float(torch.nn.functional.mse_loss(pred, b["target"], reduction="sum"))
    denoiser.train(was_training)
    return total / (len(idx) * int(np.prod(pool.latents.shape[1:])))


def train_diffusion(out_dir: str | os.PathLike, echo: Callable[[str], None] | None = None) -> dict:
    """Stage 3: train the denoiser (v-prediction, EMA), early stopping on held-out loss, within the budget.

    Returns:
        The stage record: steps, best held-out losses (with and without reference), steps per second.
    """
    from diffusers.training_utils import EMAModel

    state, out = RunState(out_dir), Path(out_dir)
    if state.done("diffusion"):
        return state.stage("diffusion")
    cfg, model_cfg = state.config, state.model
    torch.set_num_threads(cfg.threads)
    clock = Clock(state)
    cache = out / "cache"
    pool, eval_pool = load_pool(cache / "pool-train.safetensors"), load_pool(cache / "pool-eval.safetensors")
    refs, text = load_references(cache / "refs.safetensors"), load_text(cache / "text.safetensors")
    by_cat = refs.by_category()
    scheduler = training_scheduler()
    torch.manual_seed(cfg.seed)
    model = build_denoiser(model_cfg, text.pooled.shape[1]).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMAModel(model.parameters(), decay=cfg.ema_decay, use_ema_warmup=True, power=2 / 3)
    ckpt, best_path = out / "checkpoints" / "diffusion-last.pt", out / "checkpoints" / "diffusion-best.pt"
    step, best, since_best, history = 0, math.inf, 0, []
    if ckpt.is_file():
        c = torch.load(ckpt, weights_only=False)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        ema.load_state_dict(c["ema"])
        step, best, since_best, history = c["step"], c["best"], c["since_best"], c["history"]
    deadline = cfg.minutes * 60.0 - cfg.export_reserve_s
    losses, t_run, steps_run = [], time.monotonic(), 0
    stage = state.stage("diffusion")
    while True:
        elapsed = state.data["elapsed_s"] + (time.monotonic() - clock.mark)
        stop_time = elapsed >= deadline
        stop_steps = cfg.max_steps is not None and step >= cfg.max_steps
        if (step % cfg.eval_every == 0 and (step > 0 or not ckpt.is_file())) or stop_time or stop_steps:
            ema.store(model.parameters())
            ema.copy_to(model.parameters())
            with_ref = diffusion_eval_loss(model, eval_pool, refs, text, scheduler, cfg.seed, cfg.eval_examples, True)
            no_ref = diffusion_eval_loss(model, eval_pool, refs, text, scheduler, cfg.seed, cfg.eval_examples, False)
            score = 0.5 * (with_ref + no_ref)
            if score < best:
                best, since_best = score, 0
                atomic_torch_save(model.state_dict(), best_path)
                stage.update({"best_step": step, "best_eval_loss": score, "best_eval_loss_ref": with_ref,
                              "best_eval_loss_noref": no_ref})
            else:
                since_best += 1
            ema.restore(model.parameters())
            clock.charge()
            rate = steps_run / max(1e-9, time.monotonic() - t_run)
            rec = {"stage": "diffusion", "step": step, "elapsed_s": round(state.data["elapsed_s"], 1),
                   "train_loss": float(np.mean(losses)) if losses else float("nan"), "eval_loss_ref": with_ref,
                   "eval_loss_noref": no_ref, "steps_per_s": round(rate, 3)}
            history.append(rec)
            log_line(out, rec, echo)
            losses = []
            atomic_torch_save({"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state_dict(),
                               "step": step, "best": best, "since_best": since_best, "history": history}, ckpt)
            state.save()
            if stop_time or stop_steps or since_best >= cfg.patience:
                stage["stopped_by"] = "budget" if stop_time else "max_steps" if stop_steps else "early_stopping"
                break
        rng = np.random.default_rng([cfg.seed, 31, step])
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        idx = rng.choice(len(pool), size=cfg.batch, p=pool.weights)
        b = make_batch(pool, refs, text, idx, rng, gen, scheduler, cfg.drop, cfg.curve, by_cat)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.lr, cfg.warmup_steps)
        pred = model(b["noisy"], b["timesteps"], b["text_pooled"], b["text_tokens"], b["text_mask"],
                     timing=b["timing"], timing_mask=b["timing_mask"], reference=b["reference"],
                     reference_mask=b["reference_mask"])
        loss = torch.nn.functional.mse_loss(pred, b["target"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        ema.step(model.parameters())
        losses.append(float(loss.detach()))
        step += 1
        steps_run += 1
    clock.charge()
    stage.update({"done": True, "steps": step, "parameters": sum(p.numel() for p in model.parameters()),
                  "steps_per_s": history[-1]["steps_per_s"] if history else None})
    state.save()
    return stage


# -- stage 4: export -------------------------------------------------------------------------------------------------
def select_bank(refs: ReferenceLatents, per_category: int, seed: int) -> list[int]:
    """Reference windows to ship: per category up to ``per_category`` from distinct clips, the fullest first."""
    rng = np.random.default_rng([seed, 51])
    chosen = []
    for cat, idx in sorted(refs.by_category().items()):
        order = sorted(idx, key=lambda j: (-int(refs.valid[j]), float(rng.random())))
        seen: set[str] = set()
        for j in order:
            if refs.meta[j]["clip_id"] in seen:
                continue
            seen.add(refs.meta[j]["clip_id"])
            chosen.append(j)
            if len(seen) >= per_category:
                break
    return chosen


def build_bank(refs: ReferenceLatents, embeddings: torch.Tensor, chosen: list[int]):
    """A :class:`ReferenceBank` of the chosen reference windows."""
    from models.foley_mini.reference import ReferenceBank

    entries = []
    for j in chosen:
        m = refs.meta[j]
        entries.append({**m["record"], "caption": m["caption"], "category": m["category"],
                        "is_ambience": bool(refs.is_ambience[j]), "valid": int(refs.valid[j]),
                        "onsets": [int(o) for o in refs.onsets[j]]})
    _, c, h, length = refs.latents.shape
    bank = ReferenceBank(entries=entries, latent_channels=c, latent_height=h, frames=length,
                         text_dim=embeddings.shape[1])
    with torch.no_grad():
        bank.latents.copy_(refs.latents[chosen].half())
        bank.embeddings.copy_(embeddings[chosen].float())
        bank.silence.copy_(refs.silence)
    return bank


def directory_megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def export_pipeline(out_dir: str | os.PathLike, echo: Callable[[str], None] | None = None) -> dict:
    """Stage 4: assemble the best weights, the reference bank and the inference scheduler; save the pipeline.

    The denoiser's weights are stored in float16 (and rounded so in memory, so the saved model is exactly
    the one that was evaluated); everything loads back as float32.

    Returns:
        The stage record: the pipeline directory, its size in MB and the parameter counts.
    """
    from models.foley_mini.autoencoder import MelAutoencoder
    from models.foley_mini.pipeline import FoleyMiniPipeline
    from models.foley_mini.schedulers import inference_scheduler
    from models.foley_mini.text_encoder import MiniLMTextEncoder
    from models.foley_mini.vocoder import GriffinLimVocoder

    state, out = RunState(out_dir), Path(out_dir)
    if state.done("export"):
        return state.stage("export")
    cfg, model_cfg = state.config, state.model
    clock = Clock(state)
    cache = out / "cache"
    refs = load_references(cache / "refs.safetensors")
    t, _ = load_tensors(cache / "refs.safetensors")
    ae = MelAutoencoder.from_pretrained(str(out / "autoencoder"), low_cpu_mem_usage=False).eval()
    text_encoder = MiniLMTextEncoder(max_tokens=model_cfg.text_max_tokens)
    denoiser = build_denoiser(model_cfg, text_encoder.dim)
    denoiser.load_state_dict(torch.load(out / "checkpoints" / "diffusion-best.pt", weights_only=True))
    with torch.no_grad():
        for p in denoiser.parameters():
            p.copy_(p.half().float())
    denoiser.eval()
    s = model_cfg.spec
    vocoder = GriffinLimVocoder(sample_rate=s.sample_rate, n_fft=s.n_fft, hop_length=s.hop_length, n_mels=s.n_mels,
                                f_min=s.f_min, f_max=s.f_max, n_iter=model_cfg.griffin_lim_iters)
    bank = build_bank(refs, t["embeddings"], select_bank(refs, cfg.bank_per_category, cfg.seed))
    pipe = FoleyMiniPipeline(denoiser=denoiser, scheduler=inference_scheduler(), autoencoder=ae,
                             text_encoder=text_encoder, vocoder=vocoder, reference_bank=bank)
    target = out / "pipeline"
    save_pipeline(pipe, target)
    clock.charge()
    record = {"done": True, "directory": str(target), "megabytes": round(directory_megabytes(target), 2),
              "bank_entries": len(bank), "bank_categories": len({e["category"] for e in bank.entries}),
              "parameters": {"denoiser": sum(p.numel() for p in denoiser.parameters()),
                             "autoencoder": sum(p.numel() for p in ae.parameters())}}
    state.stage("export").update(record)
    state.save()
    (echo or print)(f"pipeline saved to {target} ({record['megabytes']} MB)")
    return record


def save_pipeline(pipe, target: Path) -> Path:
    """``save_pretrained`` into ``target`` atomically, the denoiser's weights as float16."""
    import shutil

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.denoiser.half()  # nn.Module.half: the weights are stored as float16
    try:
        pipe.save_pretrained(str(tmp))
    finally:
        pipe.denoiser.float()
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target
