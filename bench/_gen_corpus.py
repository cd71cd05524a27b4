"""The corpus side of bench/bench_generation.py: categories, windows, prompts, all fixed by a seed.

Everything is read from the corpus tables (``clips.parquet`` and ``windows.parquet``, with their
``split`` column) and the clips' cached log-mels (:func:`models.foley_mini.data.load_mels`);
held-out material is the ``eval`` split only, the classifier and the baselines see only ``train``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from models.foley_mini.audio import log_mel, read_audio
from models.foley_mini.data import Corpus, window_mel
from models.foley_mini.evaluate import CONTACT_WORDS
from tasks.audio_grid import num_frames

WINDOW_S = 4.096
WINDOW_FRAMES = num_frames(WINDOW_S)  # 257


@dataclass
class Window:
    """One corpus window: where it comes from, and its log-mel."""

    clip_id: str
    category: str
    caption: str
    split: str
    logmel: np.ndarray  # (n_mels, WINDOW_FRAMES)


def load_clip_mels(corpus: Corpus, cache_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Log-mel ``float16 (64, frames)`` of every clip, computed once and cached by corpus content.

    The bench keeps its own cache, written C-contiguous: ``log_mel`` returns a transposed
    (Fortran-ordered) array, and ``safetensors.numpy.save_file`` writes an array's memory as is,
    so a cache of the raw arrays reads back with time and frequency interleaved.
    """
    cache = Path(cache_dir) / f"bench-mels-{corpus.content_hash()}.safetensors"
    if cache.is_file():
        return load_file(str(cache))
    mels = {str(row.clip_id): np.ascontiguousarray(log_mel(read_audio(row.path)).astype(np.float16))
            for row in corpus.clips.itertuples()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f".{cache.name}.partial")
    save_file(mels, str(partial))
    os.replace(partial, cache)
    return mels


def choose_categories(corpus: Corpus, count: int, min_eval_clips: int = 4, min_train_clips: int = 15) -> list[str]:
    """The ``count`` categories with the most held-out clips (ties by name), among well-populated ones.

    Raises:
        ValueError: fewer than ``count`` categories qualify (the message says how many do).
    """
    clips = corpus.clips
    per = clips.groupby(["category", "split"]).size().unstack(fill_value=0)
    for split in ("train", "eval"):
        if split not in per:
            per[split] = 0
    ok = per[(per["eval"] >= min_eval_clips) & (per["train"] >= min_train_clips)]
    ranked = sorted(ok.index, key=lambda c: (-int(ok.loc[c, "eval"]), str(c)))
    if len(ranked) < count:
        raise ValueError(f"only {len(ranked)} categories have >= {min_eval_clips} held-out and >= {min_train_clips} "
                         f"training clips ({ranked}); lower --categories or build a larger corpus")
    return sorted(ranked[:count])


def category_prompts(corpus: Corpus, categories: list[str]) -> dict[str, str]:
    """Each category's most common training caption (ties by caption): the prompt that asks for it."""
    train = corpus.clips[corpus.clips["split"] == "train"]
    out = {}
    for cat in categories:
        counts = train[train["category"] == cat]["caption"].value_counts()
        out[cat] = sorted(counts.index, key=lambda c: (-int(counts[c]), str(c)))[0]
    return out


def contact_prompts(corpus: Corpus, limit: int = 20) -> list[str]:
    """Captions of contact sounds among the training clips, one per category, sorted (the sync test's prompts)."""
    train = corpus.clips[(corpus.clips["split"] == "train") & (~corpus.clips["is_ambience"].astype(bool))]
    by_cat: dict[str, str] = {}
    for cat, cap in sorted(zip(train["category"].astype(str), train["caption"].astype(str))):
        if set(re.findall(r"[a-z]+", cap.lower())) & set(CONTACT_WORDS) and cat not in by_cat:
            by_cat[cat] = cap
    return sorted(by_cat.values())[:limit] or ["heavy impact"]


def ambience_prompts(corpus: Corpus, count: int = 3) -> list[str]:
    """The ``count`` most common captions of training ambiences (continuous sound, the hard case for seams)."""
    train = corpus.clips[(corpus.clips["split"] == "train") & corpus.clips["is_ambience"].astype(bool)]
    counts = train["caption"].value_counts()
    ranked = sorted(counts.index, key=lambda c: (-int(counts[c]), str(c)))
    return [str(c) for c in ranked[:count]] or ["countryside ambience"]


def windows_of(corpus: Corpus, mels: dict, split: str, categories: list[str] | None = None) -> list[Window]:
    """Every window of ``split`` (optionally only of ``categories``) with its log-mel, in table order."""
    w = corpus.windows[corpus.windows["split"] == split]
    if categories is not None:
        w = w[w["category"].isin(categories)]
    out = []
    for row in w.itertuples():
        mel, _ = window_mel(mels[str(row.clip_id)], int(row.start_sample), WINDOW_FRAMES)
        out.append(Window(str(row.clip_id), str(row.category), str(row.caption), split, mel))
    return out


def sample_per_category(windows: list[Window], per_category: int, seed: int) -> list[Window]:
    """Up to ``per_category`` windows of each category, spread over its clips (round robin, seeded order)."""
    rng = np.random.default_rng([seed, 11])
    chosen = []
    for cat in sorted({w.category for w in windows}):
        by_clip: dict[str, list[Window]] = {}
        for w in windows:
            if w.category == cat:
                by_clip.setdefault(w.clip_id, []).append(w)
        order = sorted(by_clip)
        rng.shuffle(order)
        queues = [list(by_clip[c]) for c in order]
        for q in queues:
            rng.shuffle(q)
        picked: list[Window] = []
        while len(picked) < per_category and any(queues):
            for q in queues:
                if q and len(picked) < per_category:
                    picked.append(q.pop())
        chosen.extend(picked)
    return chosen


def train_clip_records(corpus: Corpus) -> list[dict]:
    """The training split's clips as dicts (for the retrieval baseline)."""
    train = corpus.clips[corpus.clips["split"] == "train"]
    return [dict(r) for r in train.to_dict("records")]


def split_summary(corpus: Corpus) -> dict:
    """Clip and window counts per split (recorded with the figures)."""
    c, w = corpus.clips, corpus.windows
    return {"clips": {k: int(v) for k, v in c["split"].value_counts().items()},
            "windows": {k: int(v) for k, v in w["split"].value_counts().items()},
            "eval_train_clip_overlap": int(len(set(c[c["split"] == "eval"]["dup_group"])
                                               & set(c[c["split"] == "train"]["dup_group"])))}

