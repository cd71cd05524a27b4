"""Build the corpus: packages -> clips -> duplicate groups -> split -> windows, Parquet and catalog.

Plain functions; :mod:`flows.corpus` runs :func:`process_package` as one
Prefect task per package and :func:`finalise` once at the end, and
:func:`build_corpus` runs both without Prefect.

Idempotent: a package's results are kept in ``corpus/manifests/<pkg>.json``
keyed by package version, ``.deb`` sha256 and the settings that change clips;
a re-run with the same key skips the package, a clip FLAC that exists is not
written again, and catalog rows are upserted by the source file's sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.corpus import captions as cap
from models.corpus.archives import SoundFile, iter_sounds, read_c4group
from models.corpus.extract import (
    SAMPLE_RATE, AudioConfig, AudioRejected, Fingerprint, decode, fingerprint, prepare, same_recording, write_flac,
)
from models.corpus.fetch import PackageTree, obtain, sha256_file
from models.corpus.licences import (
    Licence, LicenceError, Preset, allowed, canonical, copyright_file, dep5_licence, openclonk_licence, opensfx_licence,
)
from models.corpus.packages import PackageSource, select_packages

log = logging.getLogger("foleyflow.corpus")
MANIFEST_VERSION = 3


@dataclass(frozen=True)
class CorpusConfig:
    """What to build.

    Attributes:
        packages: package names (empty: every package of the table).
        licences: ``all`` or ``permissive`` (see :mod:`models.corpus.licences`).
        min_seconds: shortest clip kept, after trimming silence.
        max_seconds: longer clips are cut.
        seed: split seed.
        eval_fraction: share of each category's clips held out for evaluation.
        window_samples: training window length (65536 = 4.096 s at 16 kHz).
        hop_samples: hop between windows of one clip.
        roots: already-extracted package trees by package name (no apt needed).
        use_installed: use an installed package's system files.
    """

    packages: tuple[str, ...] = ()
    licences: Preset = "all"
    min_seconds: float = 0.4
    max_seconds: float = 60.0
    seed: int = 0
    eval_fraction: float = 0.15
    window_samples: int = 65536
    hop_samples: int = 32768
    roots: Mapping[str, str] = field(default_factory=dict)
    use_installed: bool = True

    def audio(self) -> AudioConfig:
        return AudioConfig(min_seconds=self.min_seconds, max_seconds=self.max_seconds)

    def clip_key(self) -> str:
        """Hash of the settings that change which clips a package yields."""
        text = json.dumps([MANIFEST_VERSION, self.licences, self.min_seconds, self.max_seconds,
                           dataclasses.asdict(self.audio())], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class PackageResult:
    """Clips and drops of one package (the content of its manifest)."""

    package: str
    version: str
    deb_sha256: str | None
    deb_size: int
    clips: list[dict[str, Any]]
    dropped: list[dict[str, str]]
    seconds: float  # processing time
    cached: bool = False

    @property
    def minutes(self) -> float:
        return sum(c["duration_s"] for c in self.clips) / 60


def corpus_dir(home: Path) -> Path:
    """``FOLEYFLOW_HOME/corpus``."""
    return home / "corpus"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _rule(source: PackageSource, relpath: str) -> str | None:
    """The package rule's action for a path: a category slug, ``drop:<reason>``, ``""`` (generic) or None."""
    for regex, action in source.rules:
        if re.search(regex, relpath):
            return action
    return None


def _licence_for(source: PackageSource, tree: PackageTree, sound: SoundFile) -> tuple[str | None, Licence]:
    if source.licence_source == "opensfx-catalogue":
        if not sound.title:
            raise LicenceError(f"{sound.relpath}: the opensfx catalogue has no name for this sound")
        return opensfx_licence(sound.title)
    if source.licence_source == "openclonk-authors":
        archive, _, member = sound.relpath.partition("!")
        return None, openclonk_licence(_group_text(tree.root / archive, "authors.txt"), member)
    if source.licence_source == "stated":
        if source.licence is None:
            raise LicenceError(f"{source.name}: licence_source 'stated' needs a licence in the package table")
        copyright_file(tree.root, source.name)
        return None, Licence(*source.licence)
    return None, dep5_licence(copyright_file(tree.root, source.name), sound.relpath)


@lru_cache(maxsize=4)
def _group_text(path: Path, name: str) -> str:
    files = read_c4group(path.read_bytes())
    if name not in files:
        raise LicenceError(f"{path} has no {name}; its sounds' licences are unknown")
    return files[name].decode("utf-8", errors="replace")


def process_package(source: PackageSource, config: CorpusConfig, home: Path,
                    tree: PackageTree | None = None) -> PackageResult:
    """Turn one package's sounds into corpus clips (FLAC files plus metadata), or reuse its manifest.

    The manifest is reused when the package version, its ``.deb``, the settings, the package's
    table entry and the caption vocabulary are unchanged and every clip file still exists.

    Arguments:
        source: the package's entry in :data:`models.corpus.packages.PACKAGES`.
        config: build settings.
        home: ``FOLEYFLOW_HOME``; clips go to ``corpus/clips/<sha16>.flac``.
        tree: the unpacked package; default: ``config.roots[name]`` or :func:`models.corpus.fetch.obtain`.

    Returns:
        A :class:`PackageResult` (also written to ``corpus/manifests/<package>.json``).

    Raises:
        FetchError: the package cannot be obtained.
        LicenceError: its copyright file is missing or not machine-readable.
    """
    started = time.monotonic()
    cdir = corpus_dir(home)
    if tree is None:
        if source.name in config.roots:
            tree = PackageTree(source.name, "unknown", Path(config.roots[source.name]), None, 0, False)
            tree = dataclasses.replace(tree, version=_tree_version(tree.root, source.name))
        else:
            tree = obtain(source.name, cdir, use_installed=config.use_installed)
    manifest = cdir / "manifests" / f"{source.name}.json"
    key = {"version": tree.version, "deb_sha256": tree.deb_sha256, "clip_key": config.clip_key(),
           "root": str(tree.root), "rules": _rules_key(source)}
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("key") == key and all(Path(c["path"]).exists() for c in data["clips"]):
            return PackageResult(source.name, tree.version, tree.deb_sha256, tree.deb_size, data["clips"],
                                 data["dropped"], data["seconds"], cached=True)
    if source.licence_source in ("dep5", "stated"):
        copyright_file(tree.root, source.name)  # fail early for the whole package
    clips: list[dict[str, Any]] = []
    dropped: list[dict[str, str]] = []
    seen: set[str] = set()

    def drop(relpath: str, reason: str) -> None:
        log.debug("%s: dropped %s: %s", source.name, relpath, reason)
        dropped.append({"package": source.name, "source_file": relpath, "reason": reason})

    for root in source.roots:
        for sound in iter_sounds(tree.root, root):
            clip = _process_sound(source, tree, sound, config, cdir, drop)
            if clip is None:
                continue
            if clip["sha256"] in seen:
                drop(sound.relpath, "exact duplicate of another file of the package")
                continue
            seen.add(clip["sha256"])
            clips.append(clip)
    result = PackageResult(source.name, tree.version, tree.deb_sha256, tree.deb_size, clips, dropped,
                           round(time.monotonic() - started, 2))
    _atomic_write(manifest, json.dumps({"key": key, "package": source.name, "clips": clips, "dropped": dropped,
                                        "seconds": result.seconds, "deb_size": tree.deb_size}))
    return result


def _rules_key(source: PackageSource) -> str:
    """Hash of the package's table entry and the caption vocabulary: editing either redoes the package."""
    text = repr((source, cap.CATEGORIES, cap.EXCLUSIONS, cap._FIXES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _tree_version(root: Path, package: str) -> str:
    marker = root / ".foleyflow-unpacked.json"
    if marker.exists():
        return json.loads(marker.read_text()).get("version", "unknown")
    control = root / "DEBIAN" / "control"
    if control.exists():
        match = re.search(r"^Version:\s*(\S+)", control.read_text(), re.M)
        if match:
            return match.group(1)
    return "unknown"


def _process_sound(source: PackageSource, tree: PackageTree, sound: SoundFile, config: CorpusConfig,
                   cdir: Path, drop: Callable[[str, str], None]) -> dict[str, Any] | None:
    action = _rule(source, f"{sound.relpath} {sound.title or ''}".strip())
    if action and action.startswith("drop:"):
        drop(sound.relpath, action[5:])
        return None
    try:
        name, licence = _licence_for(source, tree, sound)
    except LicenceError as exc:
        drop(sound.relpath, f"licence: {exc}")
        return None
    ok, why = allowed(licence.licence, config.licences)
    if not ok:
        drop(sound.relpath, why)
        return None
    inner = sound.relpath.split("!", 1)[-1]
    labelled = cap.label(inner if "!" in sound.relpath else sound.relpath, title=name, forced=action or None)
    if labelled.category is None:
        drop(sound.relpath, labelled.reason or "no category")
        return None
    data = sound.read()
    sha = hashlib.sha256(data).hexdigest()
    path = cdir / "clips" / f"{sha[:16]}.flac"
    try:
        samples, source_rate = decode(data, sound.relpath)
        prepared = prepare(samples, config.audio())
    except AudioRejected as exc:
        drop(sound.relpath, str(exc))
        return None
    if not path.exists():
        write_flac(prepared, path)
    fp = fingerprint(prepared)
    return {
        "clip_id": sha[:16], "sha256": sha, "path": str(path.resolve()), "flac_sha256": sha256_file(path),
        "package": source.name, "package_version": tree.version, "deb_sha256": tree.deb_sha256,
        "source_file": sound.relpath, "author": licence.author, "licence": canonical(licence.licence),
        "caption": labelled.caption, "category": labelled.category,
        "description": cap.description(inner, labelled.caption, title=name, package=source.name),
        "duration_s": round(len(prepared) / SAMPLE_RATE, 4), "n_samples": int(len(prepared)),
        "sample_rate": SAMPLE_RATE, "source_sample_rate": source_rate, "is_ambience": labelled.is_ambience,
        "fingerprint": fp.code(), "fp_profile": [round(float(v), 3) for v in fp.profile],
        "fp_envelope": [round(float(v), 1) for v in fp.envelope],
    }


def _fp(clip: Mapping[str, Any]) -> Fingerprint:
    return Fingerprint(np.asarray(clip["fp_profile"]), np.asarray(clip["fp_envelope"]), clip["duration_s"])


def duplicate_groups(clips: list[dict[str, Any]]) -> list[str]:
    """A group id per clip: clips that :func:`same_recording` links (transitively) share one.

    The group id is the smallest ``clip_id`` of its members, so it does not depend on the order of packages.
    """
    parent = list(range(len(clips)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    fps = [_fp(c) for c in clips]
    profiles = np.stack([f.profile for f in fps]) if fps else np.zeros((0, 32))
    norms = profiles - profiles.mean(axis=1, keepdims=True)
    norms /= np.linalg.norm(norms, axis=1, keepdims=True) + 1e-9
    corr = norms @ norms.T
    durations = np.array([f.duration_s for f in fps])
    for i in range(len(clips)):
        near = np.flatnonzero((corr[i, i + 1:] >= 0.98)) + i + 1
        for j in near:
            ratio = min(durations[i], durations[j]) / max(durations[i], durations[j])
            if ratio >= 0.75 and find(i) != find(j) and same_recording(fps[i], fps[j]):
                parent[find(j)] = find(i)
    members: dict[int, list[str]] = defaultdict(list)
    for i, clip in enumerate(clips):
        members[find(i)].append(clip["clip_id"])
    return [min(members[find(i)]) for i in range(len(clips))]


def assign_split(clips: list[dict[str, Any]], groups: list[str], *, seed: int, eval_fraction: float) -> list[str]:
    """``train``/``eval`` per clip: whole duplicate groups, stratified per category, deterministic from ``seed``.

    Every category with at least 3 clips gets at least one evaluation group, and keeps at least one
    training group. A group spanning categories counts for the category of its first clip.
    """
    group_category: dict[str, str] = {}
    group_size: Counter[str] = Counter(groups)
    for clip, group in zip(clips, groups):
        group_category.setdefault(group, clip["category"])
    by_category: dict[str, list[str]] = defaultdict(list)
    for group, category in group_category.items():
        by_category[category].append(group)
    evaluation: set[str] = set()
    for category, cat_groups in sorted(by_category.items()):
        total = sum(group_size[g] for g in cat_groups)
        if total < 3 or len(cat_groups) < 2:
            continue
        order = sorted(cat_groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
        held = 0
        for group in order[:-1]:
            if held >= max(1.0, eval_fraction * total):
                break
            evaluation.add(group)
            held += group_size[group]
    return ["eval" if g in evaluation else "train" for g in groups]


def windows(clips: pd.DataFrame, *, window: int, hop: int) -> pd.DataFrame:
    """Training windows of every clip: ``[start_sample, end_sample)``, hop ``hop``, the last one flush with the end.

    A clip shorter than a window gets one window from 0 (``end_sample`` past the clip: the loader pads).
    """
    rows = []
    for clip in clips.itertuples(index=False):
        n = int(clip.n_samples)
        starts = [0] if n <= window else sorted(set(list(range(0, n - window + 1, hop)) + [n - window]))
        for index, start in enumerate(starts):
            rows.append({"clip_id": clip.clip_id, "window_index": index, "start_sample": start,
                         "end_sample": start + window, "n_samples": n, "padded": n < window,
                         "split": clip.split, "caption": clip.caption, "category": clip.category,
                         "is_ambience": bool(clip.is_ambience), "dup_group": clip.dup_group})
    return pd.DataFrame(rows, columns=["clip_id", "window_index", "start_sample", "end_sample", "n_samples",
                                       "padded", "split", "caption", "category", "is_ambience", "dup_group"])


CLIP_COLUMNS = ["clip_id", "path", "sha256", "flac_sha256", "package", "package_version", "deb_sha256",
                "source_file", "author", "licence", "caption", "description", "category", "duration_s",
                "n_samples", "sample_rate", "source_sample_rate", "is_ambience", "fingerprint", "dup_group", "split"]


@dataclass
class CorpusResult:
    """What :func:`finalise` produced."""

    clips: pd.DataFrame
    windows: pd.DataFrame
    dropped: pd.DataFrame
    summary: dict[str, Any]
    clips_path: Path
    windows_path: Path
    summary_path: Path


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def finalise(results: list[PackageResult], config: CorpusConfig, home: Path) -> CorpusResult:
    """Group duplicates across packages, split, cut windows, write Parquet files and the summary.

    Exact duplicates across packages (same source bytes) keep the first package's clip.

    Returns:
        A :class:`CorpusResult`; the files are ``corpus/clips.parquet``, ``corpus/windows.parquet``,
        ``corpus/dropped.parquet``, ``corpus/SUMMARY.md`` and ``corpus/summary.json``.
    """
    cdir = corpus_dir(home)
    clips: list[dict[str, Any]] = []
    dropped = [d for r in results for d in r.dropped]
    seen: dict[str, str] = {}
    for result in results:
        for clip in result.clips:
            if clip["sha256"] in seen:
                dropped.append({"package": clip["package"], "source_file": clip["source_file"],
                                "reason": f"exact duplicate of {seen[clip['sha256']]}"})
                continue
            seen[clip["sha256"]] = f"{clip['package']}:{clip['source_file']}"
            clips.append(clip)
    groups = duplicate_groups(clips)
    splits = assign_split(clips, groups, seed=config.seed, eval_fraction=config.eval_fraction)
    for clip, group, split in zip(clips, groups, splits):
        clip["dup_group"], clip["split"] = group, split
    frame = pd.DataFrame([{k: c.get(k) for k in CLIP_COLUMNS} for c in clips], columns=CLIP_COLUMNS)
    frame = frame.sort_values(["package", "source_file"], kind="stable").reset_index(drop=True)
    win = windows(frame, window=config.window_samples, hop=config.hop_samples)
    drops = pd.DataFrame(dropped, columns=["package", "source_file", "reason"])
    cdir.mkdir(parents=True, exist_ok=True)
    clips_path, windows_path = cdir / "clips.parquet", cdir / "windows.parquet"
    _write_parquet(frame, clips_path)
    _write_parquet(win, windows_path)
    _write_parquet(drops, cdir / "dropped.parquet")
    summary = summarise(frame, win, drops, results, config)
    _atomic_write(cdir / "summary.json", json.dumps(summary, indent=2))
    summary_path = cdir / "SUMMARY.md"
    _atomic_write(summary_path, summary_markdown(summary))
    return CorpusResult(frame, win, drops, summary, clips_path, windows_path, summary_path)


def _drop_reason_class(reason: str) -> str:
    reason = re.sub(r"\(.*?\)|'[^']*'", "", reason)
    return re.sub(r"\s+", " ", reason.split(":")[0] if reason.startswith("licence:") else reason).strip()


def summarise(clips: pd.DataFrame, win: pd.DataFrame, drops: pd.DataFrame, results: list[PackageResult],
              config: CorpusConfig) -> dict[str, Any]:
    """Totals of a built corpus: minutes per package, licence, category and split; captions with counts; drops."""
    def minutes(by: str) -> dict[str, float]:
        return {str(k): round(float(v) / 60, 2) for k, v in clips.groupby(by)["duration_s"].sum().sort_values(
            ascending=False).items()} if len(clips) else {}

    caption_counts = clips.groupby("caption").size().sort_values(ascending=False) if len(clips) else pd.Series()
    category_counts = clips.groupby("category").size().sort_values(ascending=False) if len(clips) else pd.Series()
    return {
        "config": {"packages": list(config.packages), "licences": config.licences, "min_seconds": config.min_seconds,
                   "seed": config.seed, "eval_fraction": config.eval_fraction,
                   "window_samples": config.window_samples, "hop_samples": config.hop_samples},
        "clips": int(len(clips)), "minutes": round(float(clips["duration_s"].sum()) / 60, 2) if len(clips) else 0.0,
        "captions": int(clips["caption"].nunique()) if len(clips) else 0,
        "captions_with_3_or_more": int((caption_counts >= 3).sum()),
        "categories": int(clips["category"].nunique()) if len(clips) else 0,
        "categories_with_3_or_more": int((category_counts >= 3).sum()),
        "duplicate_groups_with_several_clips": int((clips.groupby("dup_group").size() > 1).sum()) if len(clips) else 0,
        "ambience_minutes": round(float(clips.loc[clips.is_ambience, "duration_s"].sum()) / 60, 2) if len(clips) else 0,
        "split_clips": {str(k): int(v) for k, v in clips.groupby("split").size().items()} if len(clips) else {},
        "split_minutes": minutes("split"), "windows": {str(k): int(v) for k, v in win.groupby("split").size().items()},
        "minutes_per_package": minutes("package"), "minutes_per_licence": minutes("licence"),
        "minutes_per_category": minutes("category"),
        "clips_per_category": {str(k): int(v) for k, v in category_counts.items()},
        "clips_per_caption": {str(k): int(v) for k, v in caption_counts.items()},
        "packages": {r.package: {"version": r.version, "deb_sha256": r.deb_sha256, "deb_bytes": r.deb_size,
                                 "clips": len(r.clips), "minutes": round(r.minutes, 2), "dropped": len(r.dropped),
                                 "seconds": r.seconds, "cached": r.cached} for r in results},
        "download_bytes": int(sum(r.deb_size for r in results)),
        "dropped": int(len(drops)),
        "dropped_by_reason": {str(k): int(v) for k, v in drops["reason"].map(_drop_reason_class).value_counts().items()}
        if len(drops) else {},
    }


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """SUMMARY.md text of :func:`summarise`'s result."""
    def table(title: str, data: Mapping[str, Any], unit: str) -> list[str]:
        return [f"## {title}", "", f"| {title.split(' per ')[-1]} | {unit} |", "|---|---|",
                *[f"| {k} | {v} |" for k, v in data.items()], ""]

    lines = [
        "# foleyflow training corpus", "",
        f"{summary['clips']} clips, {summary['minutes']} minutes ({summary['ambience_minutes']} of them ambience "
        f"beds), {summary['captions']} captions ({summary['captions_with_3_or_more']} with 3 or more clips), "
        f"{summary['categories']} categories; split {summary['split_clips']} clips, {summary['split_minutes']} "
        f"minutes; windows {summary['windows']}; {summary['dropped']} files dropped; "
        f"{summary['duplicate_groups_with_several_clips']} near-duplicate groups; .deb downloads "
        f"{summary['download_bytes'] / 1e6:.0f} MB.", "",
    ]
    lines += table("Minutes per package", summary["minutes_per_package"], "minutes")
    lines += table("Minutes per licence", summary["minutes_per_licence"], "minutes")
    lines += table("Clips per category", summary["clips_per_category"], "clips")
    lines += table("Clips per caption", summary["clips_per_caption"], "clips")
    lines += table("Dropped files per reason", summary["dropped_by_reason"], "files")
    return "\n".join(lines) + "\n"


def build_corpus(config: CorpusConfig, home: Path) -> CorpusResult:
    """Build the whole corpus without Prefect (every package, then :func:`finalise`).

    Catalog rows are written by the flow (:mod:`flows.corpus`), or by :func:`catalog_rows` and
    ``catalog.repo.upsert_corpus_clips`` when called directly.
    """
    results = [process_package(source, config, home) for source in select_packages(list(config.packages))]
    return finalise(results, config, home)


def catalog_rows(clips: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for ``catalog.repo.upsert_corpus_clips`` from the clips table."""
    keys = ["clip_id", "sha256", "path", "flac_sha256", "package", "package_version", "deb_sha256", "source_file",
            "author", "licence", "caption", "description", "category", "duration_s", "sample_rate",
            "is_ambience", "fingerprint", "dup_group", "split"]
    rows = clips[keys].to_dict("records")
    for row in rows:
        row["is_ambience"] = bool(row["is_ambience"])
        row["duration_s"] = float(row["duration_s"])
        row["sample_rate"] = int(row["sample_rate"])
        row["deb_sha256"] = row["deb_sha256"] if isinstance(row["deb_sha256"], str) else None
    return rows
