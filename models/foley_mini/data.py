"""Training data of foley-mini: the corpus, cached log-mels, augmented window pools and batches.

The corpus (``models.corpus``) is two Parquet files: ``clips.parquet`` (one row
per FLAC with caption, category, licence, split, duplicate group) and
``windows.parquet`` (training windows of 65536 samples, padded with silence
past the end of short clips). Everything expensive is computed once and
cached under the training output directory:

1. :func:`load_mels`: every used clip's log-mel (fp16), keyed by the corpus content;
2. :func:`build_pool`: augmented training examples (random placement, gain,
   two-clip mixtures under a joined caption, repeated events), each with its
   clean onsets and sustain curve; the autoencoder latents are added later;
3. :func:`reference_pool`: un-augmented training windows, the source of
   references (and of the shipped reference bank).

Randomness comes from ``numpy.random.default_rng([seed, ...])`` keyed by what
is being drawn, so a run is reproducible from its seed and a resumed run draws
the same batches as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from models.foley_mini.audio import LOG_MIN, log_mel, mix_log_mels, read_audio
from models.foley_mini.timing import CurveConfig, detect_onsets, sustain_curve
from tasks.audio_grid import HOP

log = logging.getLogger(__name__)

CLIP_COLUMNS = ("clip_id", "path", "package", "source_file", "author", "licence", "caption", "category",
                "is_ambience", "split")
WINDOW_COLUMNS = ("clip_id", "start_sample", "end_sample", "split", "caption", "category", "is_ambience")


class CorpusError(ValueError):
    """A corpus directory the training code cannot use."""


@dataclass
class Corpus:
    """The two tables of a corpus directory."""

    clips: pd.DataFrame
    windows: pd.DataFrame
    directory: Path

    def content_hash(self) -> str:
        """A short hash of which clips (and which audio) the corpus holds, for cache keys."""
        key = "sha256" if "sha256" in self.clips else "path"
        h = hashlib.sha256()
        for cid, v in sorted(zip(self.clips["clip_id"].astype(str), self.clips[key].astype(str))):
            h.update(f"{cid}:{v}\n".encode())
        return h.hexdigest()[:16]

    def clip(self, clip_id: str) -> dict:
        """The clips.parquet row of a clip as a dict."""
        return self.clips_by_id[clip_id]

    @property
    def clips_by_id(self) -> dict[str, dict]:
        if not hasattr(self, "_by_id"):
            self._by_id = {str(r["clip_id"]): r for r in self.clips.to_dict("records")}
        return self._by_id


def load_corpus(directory: str | os.PathLike) -> Corpus:
    """Read ``clips.parquet`` and ``windows.parquet`` from a corpus directory.

    Raises:
        CorpusError: a file or a column is missing, or a split has no windows.
    """
    d = Path(directory)
    for name in ("clips.parquet", "windows.parquet"):
        if not (d / name).is_file():
            raise CorpusError(f"{d / name} not found; build the corpus with `foleyflow corpus build` "
                              "and pass its corpus/ directory")
    clips, windows = pd.read_parquet(d / "clips.parquet"), pd.read_parquet(d / "windows.parquet")
    for table, cols, name in ((clips, CLIP_COLUMNS, "clips"), (windows, WINDOW_COLUMNS, "windows")):
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise CorpusError(f"{d}/{name}.parquet lacks columns {missing}; rebuild the corpus")
    if "dup_group" not in clips:
        clips = clips.assign(dup_group=clips["clip_id"])
    clips = clips.assign(clip_id=clips["clip_id"].astype(str))
    windows = windows.assign(clip_id=windows["clip_id"].astype(str))
    windows = windows[windows["clip_id"].isin(set(clips["clip_id"]))].reset_index(drop=True)
    for split in ("train", "eval"):
        if not (windows["split"] == split).any():
            raise CorpusError(f"{d}: no {split} windows; the corpus needs both a train and an eval split")
    return Corpus(clips=clips.reset_index(drop=True), windows=windows, directory=d)


def load_mels(corpus: Corpus, cache_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Log-mel ``float16 (64, frames)`` of every clip, computed once and cached by corpus content.

    Raises:
        FileNotFoundError / AudioReadError: a clip's FLAC is missing or unreadable.
    """
    # v2: v1 caches were written from Fortran-ordered arrays, which safetensors stores as raw memory,
    # so they read back with time and frequency interleaved; never reuse one.
    cache = Path(cache_dir) / f"mels-v2-{corpus.content_hash()}.safetensors"
    if cache.is_file():
        return load_file(str(cache))
    mels = {}
    for i, row in enumerate(corpus.clips.itertuples()):
        # C order: safetensors writes the buffer as it lies in memory (log_mel returns a transposed view)
        mels[str(row.clip_id)] = np.ascontiguousarray(log_mel(read_audio(row.path)), dtype=np.float16)
        if (i + 1) % 200 == 0:
            log.info("log-mel of %d / %d clips", i + 1, len(corpus.clips))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".partial")
    save_file(mels, str(tmp))
    os.replace(tmp, cache)
    return mels


def window_mel(mel: np.ndarray, start_sample: int, frames: int, offset: int = 0) -> tuple[np.ndarray, int]:
    """``frames`` frames of a clip's log-mel from ``start_sample``, placed at ``offset`` in a silent window.

    Returns:
        ``(float32 (n_mels, frames), valid)``: the window and how many frames hold audio (from ``offset``).
    """
    start = start_sample // HOP
    piece = np.asarray(mel[:, start:start + frames - offset], np.float32)
    out = np.full((mel.shape[0], frames), LOG_MIN, np.float32)
    out[:, offset:offset + piece.shape[1]] = piece
    return out, piece.shape[1]


def apply_gain(mel: np.ndarray, gain_db: float) -> np.ndarray:
    """Change the level of a log-mel by ``gain_db``; silence (the floor) stays silence."""
    g = gain_db * np.log(10.0) / 20.0
    return np.where(mel > LOG_MIN + 1e-3, np.maximum(mel + g, LOG_MIN), LOG_MIN).astype(np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """How training windows are varied."""

    variants: int = 4  # augmented copies of every training window in the pool
    gain_db: float = 6.0  # random gain in [-gain_db, +gain_db]
    mix_p: float = 0.3  # share of non-ambience windows mixed with another non-ambience clip ("X and Y")
    mix_gain_db: float = 6.0  # relative level of the second clip in [-x, +x]
    repeat_p: float = 0.35  # share of short single-event windows turned into 2-4 repeated events
    short_frames: int = 96  # "short": at most this many frames of audio (1.5 s)
    max_shift_frames: int = 160  # short clips are placed at a random offset up to this


@dataclass
class Example:
    """One training example before encoding: its log-mel, timing, caption and where it came from."""

    mel: np.ndarray  # float16 (n_mels, frames)
    onsets: np.ndarray  # clean onset frames
    sustain: np.ndarray  # float32 (frames,)
    caption: str
    category: str  # category used to choose a reference
    clip_ids: tuple[str, ...]  # clips it contains (the reference must be none of them)
    groups: tuple[str, ...]  # their duplicate groups
    is_ambience: bool
    valid: int  # frames holding audio


def _finish(mel: np.ndarray, caption: str, category: str, clips: tuple, groups: tuple, amb: bool, valid: int,
            curve: CurveConfig) -> Example:
    return Example(mel=mel.astype(np.float16), onsets=detect_onsets(mel, curve), sustain=sustain_curve(mel, curve),
                   caption=caption,
                   category=category, clip_ids=clips, groups=groups, is_ambience=amb, valid=valid)


def _placed(mels: dict, w: dict, frames: int, rng: np.random.Generator, aug: AugmentConfig) -> tuple[np.ndarray, int]:
    mel = mels[w["clip_id"]]
    avail = max(0, mel.shape[1] - w["start_sample"] // HOP)
    offset = 0
    if avail < frames and not w["is_ambience"]:
        offset = int(rng.integers(0, max(1, min(aug.max_shift_frames, frames - avail) + 1)))
    out, valid = window_mel(mel, w["start_sample"], frames, offset)
    return apply_gain(out, float(rng.uniform(-aug.gain_db, aug.gain_db))), valid


def build_pool(corpus: Corpus, mels: dict, frames: int, seed: int, aug: AugmentConfig = AugmentConfig(),
               curve: CurveConfig = CurveConfig(), split: str = "train") -> list[Example]:
    """Augmented examples of a split's windows (for ``eval``: one plain copy of each window, no augmentation).

    Arguments:
        corpus: the corpus tables.
        mels: clip log-mels (:func:`load_mels`).
        frames: window length in audio frames.
        seed: the run's seed.
        aug: augmentation settings.
        curve: onset detection settings.
        split: ``"train"`` or ``"eval"``.

    Returns:
        The examples, ``aug.variants`` per training window (one per eval window).
    """
    groups = dict(zip(corpus.clips["clip_id"], corpus.clips["dup_group"].astype(str)))
    rows = [r for r in corpus.windows.to_dict("records") if r["split"] == split]
    partners = [r for r in rows if not r["is_ambience"]]
    out: list[Example] = []
    if split != "train":
        for i, w in enumerate(rows):
            rng = np.random.default_rng([seed, 7, i])
            mel, valid = _placed(mels, w, frames, rng, AugmentConfig(gain_db=0.0))
            out.append(_finish(mel, w["caption"], w["category"], (w["clip_id"],), (groups[w["clip_id"]],),
                               bool(w["is_ambience"]), valid, curve))
        return out
    for v in range(aug.variants):
        for i, w in enumerate(rows):
            rng = np.random.default_rng([seed, 3, v, i])
            mel, valid = _placed(mels, w, frames, rng, aug)
            cid, amb = w["clip_id"], bool(w["is_ambience"])
            caption, clips, grps = w["caption"], (cid,), (groups[cid],)
            u = rng.random()
            if not amb and u < aug.mix_p and len(partners) > 1:
                other = partners[int(rng.integers(len(partners)))]
                if other["category"] != w["category"]:
                    mel2, valid2 = _placed(mels, other, frames, rng, aug)
                    mel = mix_log_mels(mel, mel2, float(rng.uniform(-aug.mix_gain_db, aug.mix_gain_db)))
                    caption = f"{w['caption']} and {other['caption']}"
                    clips, grps = (cid, other["clip_id"]), (grps[0], groups[other["clip_id"]])
                    valid = max(valid, valid2)
            elif not amb and u < aug.mix_p + aug.repeat_p and valid <= aug.short_frames:
                mel = _repeat_events(mels[cid], w["start_sample"], frames, valid, rng, aug)
                valid = frames
            out.append(_finish(mel, caption, w["category"], clips, grps, amb, valid, curve))
    return out


def _repeat_events(mel: np.ndarray, start_sample: int, frames: int, valid: int, rng: np.random.Generator,
                   aug: AugmentConfig) -> np.ndarray:
    """A window with 2-4 copies of a short sound at random, mostly non-overlapping times."""
    n = int(rng.integers(2, 5))
    span = max(1, frames - valid)
    grid = np.arange(0, span, max(1, span // 12))
    starts = np.sort(rng.choice(grid, size=min(n, grid.size), replace=False))
    out = np.full((mel.shape[0], frames), LOG_MIN, np.float32)
    for s in starts:
        piece, _ = window_mel(mel, start_sample, frames, int(s))
        out = mix_log_mels(out, apply_gain(piece, float(rng.uniform(-aug.gain_db, aug.gain_db))))
    return out


@dataclass
class ReferenceEntry:
    """An un-augmented training window that can serve as a reference."""

    mel: np.ndarray
    onsets: np.ndarray  # clean onset frames (audio grid)
    clip_id: str
    group: str
    category: str
    caption: str
    is_ambience: bool
    valid: int  # audio frames holding sound
    record: dict = field(default_factory=dict)  # the clip's attribution fields


def reference_pool(corpus: Corpus, mels: dict, frames: int, curve: CurveConfig = CurveConfig()) -> list[ReferenceEntry]:
    """Every training window, unplaced and at its own level: the candidates for references."""
    out = []
    for w in corpus.windows[corpus.windows["split"] == "train"].to_dict("records"):
        clip = corpus.clip(w["clip_id"])
        mel, valid = window_mel(mels[w["clip_id"]], w["start_sample"], frames)
        out.append(ReferenceEntry(
            mel=mel, onsets=detect_onsets(mel, curve), clip_id=w["clip_id"], group=str(clip.get("dup_group")),
            category=w["category"], caption=w["caption"], is_ambience=bool(w["is_ambience"]), valid=valid,
            record={k: (None if pd.isna(clip.get(k)) else str(clip.get(k)))
                    for k in ("clip_id", "package", "source_file", "author", "licence")}))
    return out


def reference_index(refs: list[ReferenceEntry]) -> dict[str, list[int]]:
    """Reference entries by category."""
    by_cat: dict[str, list[int]] = {}
    for i, r in enumerate(refs):
        by_cat.setdefault(r.category, []).append(i)
    return by_cat


def pick_reference(example: Example, refs: list[ReferenceEntry], by_cat: dict[str, list[int]],
                   rng: np.random.Generator, tries: int = 8) -> int | None:
    """A reference for an example: a window of its category from a *different* clip and duplicate group."""
    cands = by_cat.get(example.category, [])
    if not cands:
        return None
    for _ in range(tries):
        j = cands[int(rng.integers(len(cands)))]
        if refs[j].clip_id not in example.clip_ids and refs[j].group not in example.groups:
            return j
    ok = [j for j in cands if refs[j].clip_id not in example.clip_ids and refs[j].group not in example.groups]
    return ok[int(rng.integers(len(ok)))] if ok else None


def sampling_weights(examples: list[Example]) -> np.ndarray:
    """Per-example sampling weights ``1 / sqrt(examples of its category)``, normalised: rare categories count."""
    cats = pd.Series([e.category for e in examples])
    counts = cats.map(cats.value_counts()).to_numpy(np.float64)
    w = 1.0 / np.sqrt(counts)
    return w / w.sum()


def save_json(path: str | os.PathLike, data) -> Path:
    """Write JSON atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.partial")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, p)
    return p
