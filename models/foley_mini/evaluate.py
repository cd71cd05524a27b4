"""Measurements of a trained foley-mini: timing sync, speed, size. Figures for the model card.

- sync: onset F1 of generated audio against timing curves of sharp impulses
  (3-6 per 4 s, the NOTES' prototype method): audio onsets are the training
  detector's (spectral flux peaks), matched within +-100 ms; the same audio
  scored against a *wrong* curve (another curve's impulses) is the chance level;
- speed: real-time factor of generation at the default steps, beside a matmul
  anchor measured in the same run (so figures from a busy machine can be read);
- size: parameters per component, bytes on disk.

Run: ``python -m models.foley_mini.evaluate PIPELINE_DIR [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from models.foley_mini.audio import log_mel
from models.foley_mini.timing import detect_onsets
from tasks.audio_grid import FRAME_RATE, impulse_curve, match_events, num_frames


def impulse_timing(times: np.ndarray, seconds: float, decay_s: float = 0.15) -> np.ndarray:
    """A timing curve of sharp impulses: onset peaks at ``times``, sustain decaying after each impulse."""
    n = num_frames(seconds)
    t = np.arange(n) / FRAME_RATE
    sustain = np.zeros(n)
    for x in times:
        sustain = np.maximum(sustain, np.where(t >= x, np.exp(-(t - x) / decay_s), 0.0))
    return np.stack([impulse_curve(times, n), sustain.astype(np.float32)]).astype(np.float32)


def impulse_curves(count: int = 20, seconds: float = 4.096, seed: int = 0, min_gap_s: float = 0.3) -> list[np.ndarray]:
    """``count`` sets of 3-6 impulse times within ``seconds`` (at least ``min_gap_s`` apart)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        k = int(rng.integers(3, 7))
        times = np.sort(rng.uniform(0.15, seconds - 0.25, k))
        if np.all(np.diff(times) >= min_gap_s):
            out.append(times)
    return out


def audio_onsets(audio: np.ndarray) -> np.ndarray:
    """Onset times (s) of audio, by the training curve's detector."""
    return detect_onsets(log_mel(audio)) / FRAME_RATE


def sync_f1(pipe, prompts: list[str], count: int = 20, steps: int = 20, guidance: float = 3.0, seed: int = 0,
            seconds: float = 4.096, reference: str | None = "auto") -> dict:
    """Onset F1 (+-100 ms) of generated audio against impulse curves, and against wrong curves (chance).

    Arguments:
        pipe: a :class:`FoleyMiniPipeline`.
        prompts: cycled over the curves (impulsive sounds: footsteps, knocks, hammering ...).
        count: number of curves.
        steps, guidance: sampling settings.
        seed: seeds the curves and the generations.
        seconds: length of each clip.
        reference: ``"auto"`` or ``None`` (see the pipeline).

    Returns:
        ``{"f1", "precision", "recall", "f1_wrong_curve", "per_clip": [...]}`` (pooled over all events).
    """
    curves = impulse_curves(count, seconds, seed)
    hits = n_ref = n_est = 0
    wrong_hits = wrong_ref = 0
    per_clip = []
    for i, times in enumerate(curves):
        out = pipe(prompts[i % len(prompts)], timing=impulse_timing(times, seconds), duration_s=seconds,
                   num_inference_steps=steps, guidance_scale=guidance, reference=reference,
                   generator=torch.Generator().manual_seed(seed * 1000 + i))
        est = audio_onsets(out.audios[0])
        h, p, r, f = match_events(times, est, 0.1)
        wrong = curves[(i + 1) % len(curves)]
        wh, *_ = match_events(wrong, est, 0.1)
        hits, n_ref, n_est = hits + h, n_ref + len(times), n_est + len(est)
        wrong_hits, wrong_ref = wrong_hits + wh, wrong_ref + len(wrong)
        per_clip.append({"prompt": prompts[i % len(prompts)], "impulses": len(times), "onsets": len(est), "f1": f})
    precision, recall = hits / max(1, n_est), hits / max(1, n_ref)
    f1 = 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
    wp, wr = wrong_hits / max(1, n_est), wrong_hits / max(1, wrong_ref)
    return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4),
            "f1_wrong_curve": round(0.0 if wrong_hits == 0 else 2 * wp * wr / (wp + wr), 4), "curves": count,
            "per_clip": per_clip}


def matmul_gflops(n: int = 1024, reps: int = 10) -> float:
    """Anchor: float32 matmul throughput of this process right now."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def real_time_factor(pipe, seconds: float = 8.192, steps: int = 20, repeats: int = 3, prompt: str = "footsteps") -> dict:
    """Seconds of audio per second of wall time at ``steps`` (best of ``repeats``), with the anchor."""
    timing = impulse_timing(np.arange(0.3, seconds - 0.3, 0.5), seconds)
    pipe(prompt, timing=timing, duration_s=seconds, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    walls = []
    for r in range(repeats):
        t0 = time.perf_counter()
        pipe(prompt, timing=timing, duration_s=seconds, num_inference_steps=steps,
             generator=torch.Generator().manual_seed(r))
        walls.append(time.perf_counter() - t0)
    best = min(walls)
    return {"audio_s": seconds, "steps": steps, "wall_s": round(best, 3), "rtf": round(seconds / best, 2),
            "threads": torch.get_num_threads(), "anchor_matmul_gflops": round(matmul_gflops(), 1)}


def sizes(pipe, directory: Path | None = None) -> dict:
    """Parameter counts per component and, given the saved directory, megabytes on disk."""
    out = {name: sum(p.numel() for p in getattr(pipe, name).parameters())
           for name in ("denoiser", "autoencoder", "text_encoder")}
    if directory is not None:
        out["megabytes_on_disk"] = round(sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file()) / 1e6, 2)
    if pipe.reference_bank is not None:
        out["reference_bank_entries"] = len(pipe.reference_bank)
    return out


#: Words of contact sounds: a curve of sharp impulses is what the picture gives for these.
CONTACT_WORDS = ("footsteps", "hammer", "hammering", "door", "impact", "knock", "clang", "chopping", "pickaxe", "sword",
                 "punch", "anvil", "hitting", "gunshot", "cannon", "clash")


def impulsive_prompts(pipe, limit: int = 20) -> list[str]:
    """Captions of contact sounds in the reference bank, one per category, sorted (the sync test's prompts)."""
    by_cat: dict[str, str] = {}
    for e in pipe.reference_bank.entries if pipe.reference_bank is not None else []:
        cap = e["caption"]
        words = set(re.findall(r"[a-z]+", cap.lower()))
        if not e.get("is_ambience") and words & set(CONTACT_WORDS) and e["category"] not in by_cat:
            by_cat[e["category"]] = cap
    return sorted(by_cat.values())[:limit] or ["footsteps"]


def main(argv: list[str] | None = None) -> dict:
    from models.foley_mini.pipeline import FoleyMiniPipeline

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pipeline", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--curves", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--skip-speed", action="store_true", help="only the sync figures")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = FoleyMiniPipeline.from_pretrained(str(args.pipeline), low_cpu_mem_usage=False)
    pipe.set_progress_bar_config(disable=True)
    prompts = impulsive_prompts(pipe)
    figures = {"sizes": sizes(pipe, args.pipeline), "prompts": prompts, "guidance": args.guidance,
               "sync": sync_f1(pipe, prompts, args.curves, args.steps, args.guidance),
               "sync_no_reference": sync_f1(pipe, prompts, args.curves, args.steps, args.guidance, reference=None)}
    if not args.skip_speed:
        figures["speed"] = real_time_factor(pipe, steps=args.steps)
    text = json.dumps(figures, indent=2)
    if args.json:
        args.json.write_text(text)
    print(text)
    return figures


if __name__ == "__main__":
    main()
