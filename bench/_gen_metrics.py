"""Measures of bench/bench_generation.py: onset F1, seams, novelty against the training windows.

- :func:`pooled_f1`: event F1 within a tolerance, pooled over clips (every event of every clip
  counts once, so clips with many events weigh more, as in the NOTES prototypes).
- :func:`seam_report`: the largest sample step near given join positions against the steps
  elsewhere (a click at a join is a step far larger than the signal's usual ones).
- :class:`NoveltyIndex`: the highest normalised correlation (cosine) of a clip's log-mel with any
  training window, sliding over a few frames of time shift; :func:`novelty_verdicts` turns it into
  "novel" / "attributed" / "unattributed copy" against the same figure for held-out real clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.audio_grid import match_events


def pooled_f1(pairs: list[tuple[np.ndarray, np.ndarray]], tolerance_s: float = 0.1) -> dict:
    """Event F1 pooled over clips.

    Arguments:
        pairs: per clip ``(reference times, estimated times)`` in seconds.
        tolerance_s: an estimate within this of a reference event (one-to-one, nearest first) is a hit.

    Returns:
        ``{"f1", "precision", "recall", "hits", "reference_events", "estimated_events", "clips"}``;
        F1 is 1.0 when neither side has an event anywhere, 0.0 when only one side has.
    """
    hits = n_ref = n_est = 0
    for ref, est in pairs:
        h, *_ = match_events(np.asarray(ref, np.float64), np.asarray(est, np.float64), tolerance_s)
        hits, n_ref, n_est = hits + h, n_ref + len(ref), n_est + len(est)
    if n_ref == 0 and n_est == 0:
        f1 = precision = recall = 1.0
    else:
        precision, recall = hits / max(n_est, 1), hits / max(n_ref, 1)
        f1 = 2 * hits / (n_ref + n_est)
    return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4), "hits": hits,
            "reference_events": n_ref, "estimated_events": n_est, "clips": len(pairs)}


def _local_max_steps(steps: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    return np.array([steps[max(0, c - half):min(steps.size, c + half + 1)].max() for c in centres])


def seam_report(audio: np.ndarray, joins: list[int], sr: int, *, half_width_s: float = 0.005,
                probes: int = 200, seed: int = 0) -> dict:
    """How large the sample steps at joins are, against the same audio elsewhere.

    Arguments:
        audio: mono waveform.
        joins: sample positions of the joins (window edges, shot cuts).
        sr: sample rate.
        half_width_s: a join's neighbourhood either side (a click spreads over a few samples).
        probes: random positions away from the joins where the same local maximum is measured.
        seed: places the probes.

    Returns:
        ``{"joins", "join_max_step", "median_step", "ratio_to_median", "probe_p95_step",
        "ratio_to_probe_p95"}``: the largest ``|x[n+1] - x[n]|`` near any join, the median step
        elsewhere, the 95th percentile of the local maxima at the probes, and the two ratios
        (a join no worse than the rest of the audio has ``ratio_to_probe_p95`` near or below 1).

    Raises:
        ValueError: no join inside the audio.
    """
    x = np.asarray(audio, np.float64).ravel()
    steps = np.abs(np.diff(x))
    half = max(1, int(round(half_width_s * sr)))
    js = np.array([j for j in joins if 0 < j < steps.size], dtype=int)
    if js.size == 0:
        raise ValueError(f"no join inside the {x.size} samples (joins {list(joins)[:5]}); pass sample positions")
    near = np.zeros(steps.size, bool)
    for j in js:
        near[max(0, j - 4 * half):j + 4 * half + 1] = True
    far = np.flatnonzero(~near)
    join_max = float(_local_max_steps(steps, js, half).max())
    median = float(np.median(steps[far])) if far.size else float(np.median(steps))
    rng = np.random.default_rng(seed)
    pool = far[(far >= half) & (far < steps.size - half)]
    probe = _local_max_steps(steps, rng.choice(pool, min(probes, pool.size), replace=False), half) if pool.size else \
        np.array([median])
    p95 = float(np.percentile(probe, 95))
    return {"joins": int(js.size), "join_max_step": round(join_max, 6), "median_step": round(median, 6),
            "ratio_to_median": round(join_max / max(median, 1e-12), 2), "probe_p95_step": round(p95, 6),
            "ratio_to_probe_p95": round(join_max / max(p95, 1e-12), 3)}


def _above_floor(logmel: np.ndarray, range_nats: float) -> np.ndarray:
    """Nats above ``range_nats`` below the spectrogram's peak (0 at and under that floor)."""
    x = np.asarray(logmel, np.float32)
    return np.maximum(x - (x.max() - range_nats), 0.0)


def _zscore(rows: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm (so a dot product is a Pearson correlation; flat rows give 0)."""
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-6)


def _pool_bins(x: np.ndarray, factor: int) -> np.ndarray:
    n = x.shape[-2] // factor * factor
    return x[..., :n, :].reshape(*x.shape[:-2], n // factor, factor, x.shape[-1]).mean(axis=-2)


class EventIndex:
    """Every short patch of every training window, searchable for the closest match of a clip's events.

    A copied event may be moved anywhere in a window (re-timed to a curve), so here the loudest
    ``patch_frames``-long patches of a clip (the events) are compared with the patches at every
    position (step ``stride``) of every training window: Pearson correlation of the log-mel patches
    (floored ``range_nats`` below the clip's peak, mel bins averaged in pairs). A copy scores 1.0.

    Arguments:
        logmels: ``(n_mels, T)`` log-mel of each training window.
        clip_ids: the source clip of each window.
        patch_frames: patch length (24 frames = 0.38 s, one event).
        stride: positions tried in the training windows, in frames.
        mel_pool: adjacent mel bins averaged (speed).
        range_nats: dynamic range kept below each spectrogram's peak.
        chunk: training windows compared at once (memory).
        min_active: a query patch after the loudest one counts only when this fraction of its cells is
            above the floor; a patch of one or two lit cells in silence correlates 1.0 with any patch
            that has a lit cell in the same place, which says nothing about copying.

    Raises:
        ValueError: no windows, mismatched lengths, or windows shorter than a patch.
    """

    def __init__(self, logmels: list[np.ndarray], clip_ids: list[str], *, patch_frames: int = 24, stride: int = 2,
                 mel_pool: int = 2, range_nats: float = 6.9, chunk: int = 48, min_active: float = 0.05) -> None:
        if not logmels or len(logmels) != len(clip_ids):
            raise ValueError(f"{len(logmels)} windows and {len(clip_ids)} clip ids: give one id per window")
        if min(m.shape[1] for m in logmels) < patch_frames:
            raise ValueError(f"training windows must be at least {patch_frames} frames long")
        self.patch, self.stride, self.pool, self.range_nats, self.chunk = (int(patch_frames), int(stride),
                                                                           int(mel_pool), float(range_nats), int(chunk))
        self.min_active = float(min_active)
        self.windows = [self._prepare(m) for m in logmels]
        self.clip_ids = [str(c) for c in clip_ids]

    def _prepare(self, logmel: np.ndarray) -> np.ndarray:
        x = np.asarray(logmel, np.float32)
        return _pool_bins(np.maximum(x, x.max() - self.range_nats), self.pool)

    def query_patches(self, logmel: np.ndarray, count: int) -> np.ndarray:
        """The ``count`` loudest non-overlapping patches of a clip, ``(k, bins * patch_frames)``; after the
        first, only patches with ``min_active`` of their cells above the floor."""
        x = self._prepare(logmel)
        if x.shape[1] < self.patch:
            x = np.pad(x, ((0, 0), (0, self.patch - x.shape[1])), mode="edge")
        energy = np.convolve((x - x.min()).mean(axis=0), np.ones(self.patch), mode="valid")
        floor = x.min()
        picked = []
        for _ in range(count):
            if not np.isfinite(energy).any() or np.nanmax(energy) <= 0:
                break
            i = int(np.nanargmax(energy))
            patch = x[:, i:i + self.patch]
            if picked and (patch > floor + 1e-3).mean() < self.min_active:
                break  # the rest is (near) silence: a cell or two above the floor match anything alike
            picked.append(patch.ravel())
            energy[max(0, i - self.patch + 1):i + self.patch] = -np.inf
        return np.stack(picked) if picked else x[:, :self.patch].ravel()[None]

    def best_matches(self, logmels: list[np.ndarray], patches: int = 3) -> tuple[np.ndarray, list[str]]:
        """For each query, the highest correlation of any of its event patches with any training patch.

        Returns:
            ``(correlations (n,), clip ids of the best matches)``.
        """
        qs = [self.query_patches(m, patches) for m in logmels]
        owner = np.concatenate([[i] * q.shape[0] for i, q in enumerate(qs)])
        q = _zscore(np.concatenate(qs)).T  # (d, patches)
        best = np.full(q.shape[1], -np.inf)
        best_win = np.zeros(q.shape[1], int)
        for lo in range(0, len(self.windows), self.chunk):
            group = self.windows[lo:lo + self.chunk]
            rows, whose = [], []
            for k, w in enumerate(group):
                view = np.lib.stride_tricks.sliding_window_view(w, self.patch, axis=1)[:, ::self.stride]  # (b, P, f)
                rows.append(view.transpose(1, 0, 2).reshape(view.shape[1], -1))
                whose.append(np.full(view.shape[1], lo + k))
            corr = _zscore(np.concatenate(rows)) @ q  # (patches of the chunk, query patches)
            idx = corr.argmax(axis=0)
            val = corr[idx, np.arange(q.shape[1])]
            better = val > best
            best[better], best_win[better] = val[better], np.concatenate(whose)[idx[better]]
        out, ids = np.full(len(qs), -np.inf), [""] * len(qs)
        for p, i in enumerate(owner):
            if best[p] > out[i]:
                out[i], ids[i] = best[p], self.clip_ids[best_win[p]]
        return out, ids

    def best_within(self, logmels: list[np.ndarray], allowed: list[set[str]], patches: int = 3) -> np.ndarray:
        """Like :meth:`best_matches`, but each query only against the windows of its ``allowed`` clips.

        Returns:
            ``(n,)`` correlations, ``-inf`` where a query allows no clip of the index.
        """
        out = np.full(len(logmels), -np.inf)
        for i, (m, names) in enumerate(zip(logmels, allowed)):
            wins = [w for w, c in zip(self.windows, self.clip_ids) if c in names]
            if not wins:
                continue
            q = _zscore(self.query_patches(m, patches)).T
            rows = [np.lib.stride_tricks.sliding_window_view(w, self.patch, axis=1)[:, ::self.stride] for w in wins]
            rows = np.concatenate([v.transpose(1, 0, 2).reshape(v.shape[1], -1) for v in rows])
            out[i] = float((_zscore(rows) @ q).max())
        return out


class NoveltyIndex:
    """Training windows' log-mels, searchable for the closest match of a clip.

    Every spectrogram is floored at ``range_nats`` below its own peak (so neither the level nor
    the exact silence floor counts) and cropped or padded to ``frames``. The similarity of a clip to
    a window is the Pearson correlation of the two over their overlap, maximised over time shifts
    of ``-max_shift..max_shift`` frames (step ``shift_step``): 1.0 for a copy. Whole windows
    compared with small shifts miss a copy whose events were moved; :class:`EventIndex` catches those.

    Arguments:
        logmels: ``(n_mels, T)`` log-mel of each training window.
        clip_ids: the source clip of each window (reported as the match).
        frames: length every spectrogram is brought to.
        max_shift, shift_step: the time shifts tried, in frames.
        range_nats: dynamic range kept below each spectrogram's peak (6.9 nats = 60 dB).

    Raises:
        ValueError: no windows, or logmels and clip_ids of different lengths.
    """

    def __init__(self, logmels: list[np.ndarray], clip_ids: list[str], frames: int, *, max_shift: int = 16,
                 shift_step: int = 1, range_nats: float = 6.9) -> None:
        if not logmels or len(logmels) != len(clip_ids):
            raise ValueError(f"{len(logmels)} windows and {len(clip_ids)} clip ids: give one id per window, "
                             "and at least one window")
        if not 0 <= max_shift < frames // 2:
            raise ValueError(f"max_shift={max_shift} must be below half the window ({frames // 2} frames)")
        self.frames, self.max_shift, self.range_nats = int(frames), int(max_shift), float(range_nats)
        self.shifts = list(range(-self.max_shift, self.max_shift + 1, max(1, int(shift_step))))
        self.bank = np.stack([self._prepare(m) for m in logmels])  # (N, n_mels, frames)
        self.clip_ids = [str(c) for c in clip_ids]

    def _prepare(self, logmel: np.ndarray) -> np.ndarray:
        x = _above_floor(logmel, self.range_nats)
        if x.shape[1] >= self.frames:
            return x[:, :self.frames]
        return np.pad(x, ((0, 0), (0, self.frames - x.shape[1])))

    @staticmethod
    def _unit(rows: np.ndarray) -> np.ndarray:
        return _zscore(rows)

    def best_matches(self, logmels: list[np.ndarray], exclude: list[str | None] | None = None
                     ) -> tuple[np.ndarray, list[str]]:
        """For each query, the highest similarity with any window and that window's clip.

        Arguments:
            logmels: query spectrograms ``(n_mels, T)``.
            exclude: per query, a clip id whose windows do not count (a window compared with its
                own clip), or ``None``.

        Returns:
            ``(correlations (n,), clip ids)``.
        """
        q = np.stack([self._prepare(m) for m in logmels])
        n, f = q.shape[0], self.frames
        best = np.full(n, -np.inf)
        best_idx = np.zeros(n, int)
        mask = None
        if exclude is not None:
            ids = np.asarray(self.clip_ids)
            mask = np.stack([ids == e if e is not None else np.zeros(ids.size, bool) for e in exclude])  # (n, N)
        for s in self.shifts:
            # query frames [a, a + L) against window frames [b, b + L), query shifted by s
            a, b = max(0, s), max(0, -s)
            length = f - abs(s)
            qs = self._unit(q[:, :, a:a + length].reshape(n, -1))
            ws = self._unit(self.bank[:, :, b:b + length].reshape(self.bank.shape[0], -1))
            corr = qs @ ws.T  # (n, N)
            if mask is not None:
                corr[mask] = -np.inf
            idx = corr.argmax(axis=1)
            val = corr[np.arange(n), idx]
            better = val > best
            best[better], best_idx[better] = val[better], idx[better]
        return best, [self.clip_ids[i] for i in best_idx]

    def best_within(self, logmels: list[np.ndarray], allowed: list[set[str]]) -> np.ndarray:
        """Like :meth:`best_matches`, but each query only against the windows of its ``allowed`` clips.

        Returns:
            ``(n,)`` correlations, ``-inf`` where a query allows no clip of the index.
        """
        ids = np.asarray(self.clip_ids)
        out = np.full(len(logmels), -np.inf)
        for i, (m, names) in enumerate(zip(logmels, allowed)):
            keep = np.flatnonzero(np.isin(ids, list(names)))
            if keep.size == 0:
                continue
            sub = NoveltyIndex.__new__(NoveltyIndex)
            sub.frames, sub.max_shift, sub.range_nats, sub.shifts = self.frames, self.max_shift, self.range_nats, \
                self.shifts
            sub.bank, sub.clip_ids = self.bank[keep], [self.clip_ids[k] for k in keep]
            out[i] = float(sub.best_matches([m])[0][0])
        return out


@dataclass
class NoveltyVerdict:
    """Novelty of one clip: its closest training clip and what the verdict is."""

    correlation: float
    matched_clip: str
    novel: bool
    attributed: bool  # not novel, but its attributions name the matched clip (or a clip matching as closely)
    attributed_other: bool  # not novel, attributions name other clips only
    named_correlation: float | None = None  # the best correlation with the clips it names

    @property
    def verdict(self) -> str:
        if self.novel:
            return "novel"
        if self.attributed:
            return "attributed"
        return "attributed-other" if self.attributed_other else "unattributed"


def novelty_threshold(real_correlations: np.ndarray, percentile: float = 95.0) -> float:
    """The closeness to training data that real held-out recordings reach (their ``percentile``)."""
    r = np.asarray(real_correlations, np.float64)
    if r.size == 0:
        raise ValueError("no held-out real clips to set the novelty threshold with")
    return float(np.percentile(r, percentile))


def novelty_verdicts(correlations: np.ndarray, matched: list[str], attributions: list[list[dict]],
                     threshold: float, named_correlations: np.ndarray | None = None,
                     tie: float = 0.01) -> list[NoveltyVerdict]:
    """A verdict per clip: novel (no closer than ``threshold``), else attributed or not.

    The same recording can sit inside two training clips (an excerpt re-used by another package,
    which the corpus's whole-clip duplicate grouping does not join). A clip that copies the clip it
    names then matches the other one as well, perhaps a hair better: it is attributed when the clips
    it names explain its closest match, i.e. match within ``tie`` of it.

    Arguments:
        correlations: each clip's best correlation (:meth:`NoveltyIndex.best_matches`).
        matched: the clip id of each best match.
        attributions: each clip's ``GeneratedAudio.attributions``.
        threshold: :func:`novelty_threshold` of held-out real clips.
        named_correlations: each clip's best correlation with the clips it names
            (``best_within``); without it only the matched clip's id counts.
        tie: how much closer than the named clips another clip may match and still be explained.
    """
    out = []
    named_corr = [None] * len(correlations) if named_correlations is None else list(named_correlations)
    for c, m, att, nc in zip(correlations, matched, attributions, named_corr):
        named = {str(a.get("clip_id")) for a in (att or [])}
        novel = bool(c <= threshold)
        explained = m in named or (nc is not None and np.isfinite(nc) and nc >= c - tie)
        out.append(NoveltyVerdict(correlation=float(c), matched_clip=m, novel=novel,
                                  attributed=(not novel) and explained,
                                  attributed_other=(not novel) and bool(named) and not explained,
                                  named_correlation=None if nc is None or not np.isfinite(nc) else float(nc)))
    return out


def novelty_summary(verdicts: list[NoveltyVerdict]) -> dict:
    """Counts and fractions of the verdicts, and whether every clip is novel or attributed."""
    n = len(verdicts)
    counts = {k: sum(v.verdict == k for v in verdicts) for k in ("novel", "attributed", "attributed-other",
                                                                  "unattributed")}
    corr = np.array([v.correlation for v in verdicts]) if verdicts else np.zeros(0)
    return {"clips": n, **counts, "novel_fraction": round(counts["novel"] / max(n, 1), 4),
            "novel_or_attributed_fraction": round((counts["novel"] + counts["attributed"]) / max(n, 1), 4),
            "mean_correlation": round(float(corr.mean()), 4) if n else None,
            "max_correlation": round(float(corr.max()), 4) if n else None}
