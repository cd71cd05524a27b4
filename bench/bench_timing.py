"""Timing from the picture: onset F1 and speed of tasks.features against frame-difference peaks.

Synthetic shots with contacts at known frames (tests/motion_clips.py: a
bouncing ball and a hammer striking, clean and with old-film damage: +-20%
flicker, grain, dust, 2 px camera shake; three seeds each), plus static shots
with damage only (every onset found there is false). The anchor, measured in
the same run, is the usual baseline: the mean absolute difference of
consecutive brightness-normalised frames, peak-picked with the same picker.
F1 at +-100 ms, pooled over the clips.

    python bench/bench_timing.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import foleyflow  # noqa: E402,F401
from bench._common import write_json  # noqa: E402
from foleyflow.video import frame_index, iter_frames  # noqa: E402
from tasks.audio_grid import match_events, pick_peaks  # noqa: E402
from tasks.features import timing_curve  # noqa: E402
from tests import motion_clips as mc  # noqa: E402


def frame_difference_onsets(path: Path) -> np.ndarray:
    """The anchor: peaks of the mean absolute difference of normalised 160-px frames."""
    fps = frame_index(path).avg_fps
    energy, prev = [], None
    for _, g in iter_frames(path, fmt="gray", width=160, height=120):
        f = g.astype(np.float32)
        f = cv2.GaussianBlur((f - f.mean()) / max(f.std(), 1.0), (0, 0), 1.0)
        energy.append(0.0 if prev is None else float(np.mean(np.abs(f - prev))))
        prev = f
    e = np.asarray(energy)
    peaks = pick_peaks(e, fps, min_gap_s=0.12, window_s=0.5, ratio=1.5, floor=0.1 * max(e.max(), 1e-9))
    return peaks / fps


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-timing-"))
    clips = []
    for seed in (1, 2, 3):
        for dmg_name, dmg in (("clean", mc.CLEAN), ("old-film", mc.OLD_FILM)):
            clips.append((f"ball/{dmg_name}/{seed}", mc.bouncing_ball(tmp / f"b{seed}{dmg_name}.mkv", dmg, seed)))
            clips.append((f"hammer/{dmg_name}/{seed}", mc.hammer(tmp / f"h{seed}{dmg_name}.mkv", dmg, seed)))
        clips.append((f"static/old-film/{seed}", mc.static(tmp / f"s{seed}.mkv", mc.OLD_FILM, seed)))
        clips.append((f"static/flicker/{seed}", mc.static(tmp / f"f{seed}.mkv", mc.Damage(flicker=0.2), seed)))
    methods = {"foleyflow timing_curve": lambda p: timing_curve(p).onset_times,
               "frame difference (anchor)": frame_difference_onsets}
    results = {}
    for name, fn in methods.items():
        hits = n_ref = n_est = false_static = frames = 0
        per = {}
        start = time.perf_counter()
        for label, clip in clips:
            est = fn(clip.path)
            frames += clip.frames
            if not clip.contacts:
                false_static += len(est)
                continue
            h, p, r, f1 = match_events(clip.contact_times, est, 0.1)
            hits, n_ref, n_est = hits + h, n_ref + len(clip.contacts), n_est + len(est)
            per[label] = round(f1, 3)
        seconds = time.perf_counter() - start
        f1 = 2 * hits / (n_ref + n_est)
        by_kind = {k: round(float(np.mean([v for lab, v in per.items() if lab.startswith(k)])), 3)
                   for k in ("ball/clean", "ball/old-film", "hammer/clean", "hammer/old-film")}
        results[name] = {"f1": round(f1, 3), "precision": round(hits / max(n_est, 1), 3),
                         "recall": round(hits / n_ref, 3), "false_onsets_static": false_static,
                         "fps": round(frames / seconds, 1), "by_kind": by_kind, "per_clip": per}
    anchor = results["frame difference (anchor)"]
    print(f"{'method':28s} {'F1':>6s} {'P':>6s} {'R':>6s} {'false(static)':>14s} {'fps':>7s} {'speed':>7s}")
    for name, r in results.items():
        print(f"{name:28s} {r['f1']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f} {r['false_onsets_static']:14d} "
              f"{r['fps']:7.1f} {r['fps'] / anchor['fps']:6.2f}x")
    for name, r in results.items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["by_kind"].items()))
    print("wrote", write_json("timing.json", results))


if __name__ == "__main__":
    main()
