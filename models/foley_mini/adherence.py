"""Prompt adherence: does generated audio sound like the category it was asked for?

A small CNN is trained on the real *training* windows of the most frequent
categories (log-mel in, category out). Its accuracy on held-out real windows
is the ceiling of the test; its accuracy on generated clips (prompt = the
category's caption, timing = the curve of a held-out real clip of that
category) is the adherence; chance is one over the number of categories.

Run: ``python -m models.foley_mini.adherence RUN_DIR [--categories 10] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.foley_mini.data import apply_gain, load_corpus, load_mels, window_mel
from models.foley_mini.timing import timing_curve


class Classifier(nn.Module):
    """Log-mel window -> category logits (three conv blocks, global pooling)."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        layers, c = [], 1
        for width in (16, 32, 64):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            c = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * c, n_classes)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.features(((mel + 4.0) / 3.0).unsqueeze(1))
        return self.head(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))


def _windows(corpus, mels, split: str, cats: list[str], frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    rows = corpus.windows[(corpus.windows["split"] == split) & corpus.windows["category"].isin(cats)]
    x = [window_mel(mels[r.clip_id], r.start_sample, frames)[0] for r in rows.itertuples()]
    return x, np.array([cats.index(c) for c in rows["category"]])


def train_classifier(x: list[np.ndarray], y: np.ndarray, n_classes: int, steps: int = 600, seed: int = 0) -> Classifier:
    """Train on random 128-frame crops at random gain (so it judges timbre, not level or position)."""
    torch.manual_seed(seed)
    model = Classifier(n_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    counts = np.bincount(y, minlength=n_classes).astype(float)
    p = (1.0 / counts[y]) / (1.0 / counts[y]).sum()  # balanced classes
    for step in range(steps):
        rng = np.random.default_rng([seed, step])
        idx = rng.choice(len(x), 32, p=p)
        batch = []
        for i in idx:
            s = int(rng.integers(0, x[i].shape[1] - 128 + 1))
            batch.append(apply_gain(x[i][:, s:s + 128], float(rng.uniform(-10, 10))))
        loss = nn.functional.cross_entropy(model(torch.from_numpy(np.stack(batch))), torch.from_numpy(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: Classifier, x: list[np.ndarray], y: np.ndarray) -> float:
    """Share of windows classified as their category (averaged over 128-frame crops)."""
    pred = []
    for m in x:
        crops = [m[:, s:s + 128] for s in range(0, max(1, m.shape[1] - 127), 64)]
        pred.append(int(model(torch.from_numpy(np.stack(crops))).softmax(-1).mean(0).argmax()))
    return float(np.mean(np.array(pred) == y))


def measure(run_dir: str | Path, pipeline_dir: str | Path | None = None, n_categories: int = 10, per_category: int = 4,
            steps: int = 20, seed: int = 0) -> dict:
    """Ceiling (held-out real), generated with and without reference, and chance.

    Arguments:
        run_dir: a training run (its corpus and mel cache are used).
        pipeline_dir: the pipeline to test (default ``run_dir/pipeline``).
        n_categories: how many categories: those with the most distinct held-out clips (and 2+ training clips).
        per_category: generated clips per category and condition.
        steps: sampling steps.
        seed: seeds the classifier and the generations.
    """
    from models.foley_mini.audio import log_mel
    from models.foley_mini.pipeline import FoleyMiniPipeline

    state = json.loads((Path(run_dir) / "state.json").read_text())
    corpus = load_corpus(state["corpus"])
    mels = load_mels(corpus, Path(run_dir) / "cache")
    frames = 256
    w, clips = corpus.windows, corpus.clips
    # the categories with the most distinct held-out clips (long ambience beds would win on window counts)
    held_out = clips[clips["split"] == "eval"].groupby("category")["clip_id"].nunique()
    trained = clips[clips["split"] == "train"].groupby("category")["clip_id"].nunique()
    ranked = sorted(held_out.index, key=lambda c: (-held_out[c], -trained.get(c, 0), c))
    cats = sorted([c for c in ranked if trained.get(c, 0) >= 2][:n_categories])
    x_train, y_train = _windows(corpus, mels, "train", cats, frames)
    x_eval, y_eval = _windows(corpus, mels, "eval", cats, frames)
    model = train_classifier(x_train, y_train, len(cats), seed=seed)
    pipe = FoleyMiniPipeline.from_pretrained(str(pipeline_dir or Path(run_dir) / "pipeline"), low_cpu_mem_usage=False)
    pipe.set_progress_bar_config(disable=True)
    captions = {c: w[w["category"] == c]["caption"].mode().iloc[0] for c in cats}
    results = {}
    for label, reference in (("generated_with_reference", "auto"), ("generated_without_reference", None)):
        x_gen, y_gen = [], []
        for ci, cat in enumerate(cats):
            held = [k for k, yy in enumerate(y_eval) if yy == ci]
            for j in range(per_category):
                curve = timing_curve(x_eval[held[j % len(held)]])
                out = pipe(captions[cat], timing=curve, duration_s=(frames - 1) / 62.5, num_inference_steps=steps,
                           reference=reference, generator=torch.Generator().manual_seed(seed * 100 + ci * 10 + j))
                x_gen.append(log_mel(out.audios[0])[:, :frames])
                y_gen.append(ci)
        results[label] = round(accuracy(model, x_gen, np.array(y_gen)), 4)
    return {"categories": cats, "captions": captions, "ceiling_real_held_out": round(accuracy(model, x_eval, y_eval), 4),
            **results, "chance": round(1.0 / len(cats), 4), "generated_per_category": per_category}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--pipeline", type=Path, default=None)
    ap.add_argument("--categories", type=int, default=10)
    ap.add_argument("--per-category", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    figures = measure(args.run, args.pipeline, args.categories, args.per_category)
    text = json.dumps(figures, indent=2)
    if args.json:
        args.json.write_text(text)
    print(text)
    return figures


if __name__ == "__main__":
    main()
