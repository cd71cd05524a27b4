"""The sound generator on material held apart from training, against two baselines measured in the same run.

Systems: the generator (``--generator``), "shaped noise" (pink noise shaped by the timing curve:
onset bursts over a sustain bed) and "retrieval" (the nearest training clip by caption, MiniLM
embeddings, pasted at the curve's onsets); see bench/_gen_baselines.py. Measures (targets from
issue 3):

- sync: synthetic shots with contacts at known frames (tests/motion_clips.py: ball, hammer; clean
  and old-film damage) through the whole chain (video -> tasks.features.timing_curve -> system ->
  tasks.qc.onset_times), onset F1 within +-100 ms of the true contacts, pooled; static shots count
  the false onsets. Also the NOTES prototype test: 20 curves of 3-6 sharp impulses per 4 s given
  directly, with the same audio scored against a wrong curve as the chance level. Target F1 >= 0.85.
- adherence: a logistic regression on log-mel statistics trained on the corpus's training split
  (bench/_eval_classifier.py) for >= 8 categories; its accuracy on held-out real windows is the
  ceiling; each system is prompted with each category's caption and given the timing curve of a
  held-out window of that category (models.foley_mini.timing.timing_curve, the training-time curve).
  Target: generated >= half the ceiling and >= 3x chance.
- negative prompt: "A and B" with and without the negative prompt "B": the classifier's
  probability of B.
- speed: real-time factor at the default steps on 2 threads and peak resident memory, in a child
  process (bench/_gen_speed.py), with a matmul anchor. Target RTF >= 5.
- seams: largest sample step near the window joins of a 12 s generation and near the cuts of
  three shots joined by tasks.stitch.stitch, against the same audio elsewhere (and against the
  same shots butted together without a crossfade).
- novelty: each clip's highest log-mel correlation with any training window (a few frames of time
  shift), and of its loudest event patches with any patch of any training window (re-timed
  copies), each against the 95th percentile of held-out real windows; a clip closer than that by
  either measure is "attributed" when the clips its attributions name match it as closely (within
  0.01) as the closest training clip does: the same recording inside two clips is one source. Target:
  every clip novel or attributed.

    python bench/bench_generation.py --corpus DIR [--generator NAME] [--quick] [--seed S]

Writes bench/out/generation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import foleyflow  # noqa: E402,F401  (offline defaults)
from bench import _gen_corpus as gc  # noqa: E402
from bench._eval_classifier import clip_features, train_classifier  # noqa: E402
from bench._gen_baselines import Retrieval, ShapedNoise  # noqa: E402
from bench._gen_metrics import (EventIndex, NoveltyIndex, novelty_summary, novelty_threshold, novelty_verdicts,  # noqa: E402
                                pooled_f1, seam_report)
from models.foley_mini.audio import log_mel  # noqa: E402
from models.foley_mini.evaluate import impulse_curves, impulse_timing, matmul_gflops  # noqa: E402
from models.foley_mini.timing import timing_curve as audio_timing_curve  # noqa: E402
from tasks.audio_grid import HOP, num_frames  # noqa: E402
from tasks.generate import pad_timing  # noqa: E402
from tasks.qc import loudness_lufs, onset_times  # noqa: E402
from tasks.stitch import normalise, stitch  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
GENERATOR = "generator"
SYSTEMS = (GENERATOR, "shaped noise", "retrieval")
VIDEO_PROMPTS = {"ball": "wooden impact", "hammer": "hammer on anvil", "static": "hammer on anvil"}
TOLERANCE_S = 0.1


def generate(system, *, timing, prompt: str, seed: int, duration_s: float, negative: str | None = None,
             steps: int | None = None, guidance: float | None = None):
    """One waveform from a system (generator or baseline): its :class:`GeneratedAudio`."""
    return system.generate(timing=timing, prompt=prompt, negative_prompt=negative, seeds=[int(seed)],
                           duration_s=float(duration_s), steps=steps, guidance=guidance)[0]


def level_logmel(wave: np.ndarray, sr: int) -> np.ndarray:
    """The log-mel of ``wave`` at -23 LUFS (the corpus's level); silence is left silent."""
    x = np.asarray(wave, np.float64)
    lufs = loudness_lufs(x, sr)
    if np.isfinite(lufs):
        x = x * 10 ** ((-23.0 - lufs) / 20)
    return log_mel(x.astype(np.float32))


# -- sync ---------------------------------------------------------------------------------------------------
def sync_video(systems: dict, seeds: list[int], run_seed: int, gen_kw: dict) -> dict:
    """Contacts at known frames through video -> timing curve -> audio -> onsets, per system."""
    from tasks.features import timing_curve
    from tests import motion_clips as mc

    with tempfile.TemporaryDirectory(prefix="ff-bench-gen-") as folder:
        tmp = Path(folder)
        clips = []
        for s in seeds:
            for dname, dmg in (("clean", mc.CLEAN), ("old-film", mc.OLD_FILM)):
                clips.append(("ball", dname, s, mc.bouncing_ball(tmp / f"b{s}{dname}.mkv", dmg, s)))
                clips.append(("hammer", dname, s, mc.hammer(tmp / f"h{s}{dname}.mkv", dmg, s)))
            clips.append(("static", "old-film", s, mc.static(tmp / f"s{s}.mkv", mc.OLD_FILM, s)))
        curves = [(kind, dname, s, clip, timing_curve(clip.path)) for kind, dname, s, clip in clips]
    picture = [(c.contact_times, tc.onset_times) for kind, _, _, c, tc in curves if kind != "static"]
    out = {"clips": len(curves), "picture_curve": pooled_f1(picture, TOLERANCE_S)}
    for name, system in systems.items():
        pairs, false_static, per = [], 0, {}
        for k, (kind, dname, s, clip, tc) in enumerate(curves):
            res = generate(system, timing=tc.stacked(), prompt=VIDEO_PROMPTS[kind], seed=run_seed * 1000 + k,
                           duration_s=tc.duration, **gen_kw)
            est = onset_times(res.waveform, res.sr)
            if kind == "static":
                false_static += len(est)
                continue
            pairs.append((clip.contact_times, est))
            per.setdefault(f"{kind}/{dname}", []).append((clip.contact_times, est))
        out[name] = {**pooled_f1(pairs, TOLERANCE_S), "false_onsets_static": false_static,
                     "by_kind": {k: pooled_f1(v, TOLERANCE_S)["f1"] for k, v in sorted(per.items())}}
    return out


def sync_impulses(systems: dict, prompts: list[str], count: int, run_seed: int, gen_kw: dict) -> dict:
    """The NOTES prototype test: impulse curves given directly; the same audio against a wrong curve is chance."""
    seconds = gc.WINDOW_S
    curves = impulse_curves(count, seconds, run_seed)
    out = {"curves": count, "prompts": prompts}
    for name, system in systems.items():
        right, wrong = [], []
        for i, times in enumerate(curves):
            res = generate(system, timing=impulse_timing(times, seconds), prompt=prompts[i % len(prompts)],
                           seed=run_seed * 1000 + 500 + i, duration_s=seconds, **gen_kw)
            est = onset_times(res.waveform, res.sr)
            right.append((times, est))
            wrong.append((curves[(i + 1) % len(curves)], est))
        out[name] = {**pooled_f1(right, TOLERANCE_S), "f1_wrong_curve": pooled_f1(wrong, TOLERANCE_S)["f1"]}
    return out


# -- adherence, negative prompt, novelty -------------------------------------------------------------------
def adherence(systems: dict, clf, held_out: list, all_eval: list, prompts: dict, run_seed: int, gen_kw: dict
              ) -> tuple[dict, dict]:
    """Classifier accuracy on held-out real windows (ceiling) and on each system's clips.

    Returns:
        ``(figures, generated)`` where ``generated[system]`` lists ``(logmel, attributions, category)``.
    """
    cats = clf.categories
    real_x = np.stack([clip_features(w.logmel) for w in held_out])
    all_x = np.stack([clip_features(w.logmel) for w in all_eval])
    figures = {"categories": cats, "prompts": prompts, "chance": round(1.0 / len(cats), 4),
               "per_category_clips": len(held_out) // len(cats), "classifier_C": clf.chosen_c,
               "real_ceiling": round(clf.accuracy(real_x, [w.category for w in held_out]), 4),
               "real_ceiling_all_eval_windows": round(clf.accuracy(all_x, [w.category for w in all_eval]), 4),
               "real_eval_windows": len(all_eval)}
    generated: dict[str, list] = {}
    for name, system in systems.items():
        rows, feats, labels = [], [], []
        for k, w in enumerate(held_out):
            curve = audio_timing_curve(w.logmel)
            res = generate(system, timing=curve, prompt=prompts[w.category], seed=run_seed * 1000 + 2000 + k,
                           duration_s=gc.WINDOW_S, **gen_kw)
            mel = level_logmel(res.waveform, res.sr)[:, :gc.WINDOW_FRAMES]
            rows.append((mel, res.attributions, w.category))
            feats.append(clip_features(mel))
            labels.append(w.category)
        pred = clf.predict(np.stack(feats))
        per_cat = {c: round(float(np.mean([p == c for p, t in zip(pred, labels) if t == c])), 3) for c in cats}
        figures[name] = {"accuracy": round(float(np.mean([p == t for p, t in zip(pred, labels)])), 4),
                         "per_category": per_cat,
                         "attributed_to_prompted_category": round(float(np.mean(
                             [any(a.get("category") == r[2] for a in r[1]) for r in rows])), 4)}
        generated[name] = rows
    return figures, generated


def negative_prompt(systems: dict, clf, held_out: list, prompts: dict, pairs: int, seeds: int, run_seed: int,
                    gen_kw: dict) -> dict:
    """P(excluded class) for "A and B" without and with the negative prompt "B"."""
    cats = clf.categories
    by_cat = {c: [w for w in held_out if w.category == c] for c in cats}
    plan = [(cats[i % len(cats)], cats[(i + 1 + i // len(cats)) % len(cats)]) for i in range(pairs)]
    out = {"pairs": [f"{prompts[a]} and {prompts[b]} / not {prompts[b]}" for a, b in plan], "seeds": seeds}
    for name, system in systems.items():
        without, with_, kept = [], [], []
        for i, (a, b) in enumerate(plan):
            curve = audio_timing_curve(by_cat[a][i % len(by_cat[a])].logmel)
            prompt = f"{prompts[a]} and {prompts[b]}"
            for s in range(seeds):
                seed = run_seed * 1000 + 4000 + 10 * i + s
                probs = []
                for neg in (None, prompts[b]):
                    res = generate(system, timing=curve, prompt=prompt, negative=neg, seed=seed,
                                   duration_s=gc.WINDOW_S, **gen_kw)
                    probs.append(clf.probabilities(clip_features(level_logmel(res.waveform, res.sr)))[0])
                without.append(probs[0][cats.index(b)])
                with_.append(probs[1][cats.index(b)])
                kept.append((probs[0][cats.index(a)], probs[1][cats.index(a)]))
        w0, w1 = float(np.mean(without)), float(np.mean(with_))
        out[name] = {"p_excluded_without": round(w0, 4), "p_excluded_with": round(w1, 4),
                     "drop": round(w0 - w1, 4), "dropped_fraction": round(float(np.mean(np.array(with_) < without)), 4),
                     "p_kept_without": round(float(np.mean([k[0] for k in kept])), 4),
                     "p_kept_with": round(float(np.mean([k[1] for k in kept])), 4)}
    return out


def novelty(generated: dict, held_out: list, train_windows: list, max_shift: int) -> dict:
    """Closest training material of every clip, against held-out real clips (their 95th percentile).

    Two measures: whole windows with a few frames of shift (:class:`NoveltyIndex`), and event
    patches anywhere in any training window (:class:`EventIndex`, which catches re-timed copies).
    A clip is novel when it is novel by both; otherwise it must be attributed: the clips it names
    match it within a tie of its closest match (:func:`novelty_verdicts`). Clips that are not novel
    are listed with their closest clip and their correlation with the named clips.
    """
    logmels, ids = [w.logmel for w in train_windows], [w.clip_id for w in train_windows]
    indexes = {"window": NoveltyIndex(logmels, ids, gc.WINDOW_FRAMES, max_shift=max_shift),
               "event": EventIndex(logmels, ids)}
    real = {k: ix.best_matches([w.logmel for w in held_out])[0] for k, ix in indexes.items()}
    thresholds = {k: novelty_threshold(v, 95.0) for k, v in real.items()}
    out = {"training_windows": len(train_windows), "max_shift_frames": max_shift,
           "real_held_out": {"clips": len(held_out),
                             **{f"{k}_mean_correlation": round(float(v.mean()), 4) for k, v in real.items()},
                             **{f"{k}_p95_threshold": round(t, 4) for k, t in thresholds.items()}}}
    for name, rows in generated.items():
        atts = [r[1] for r in rows]
        per = {}
        for k, ix in indexes.items():
            corr, matched = ix.best_matches([r[0] for r in rows])
            named = [{str(a.get("clip_id")) for a in (att or [])} for att in atts]
            per[k] = novelty_verdicts(corr, matched, atts, thresholds[k],
                                      named_correlations=ix.best_within([r[0] for r in rows], named))
        # novel only when novel by both measures; otherwise judged on the measure that flagged it
        combined = [e if not e.novel else w for w, e in zip(per["window"], per["event"])]
        out[name] = {**novelty_summary(combined),
                     "by_measure": {k: novelty_summary(v) for k, v in per.items()},
                     "not_novel": [{"clip": i, "verdict": v.verdict, "correlation": round(v.correlation, 4),
                                    "matched_clip": v.matched_clip, "named_correlation":
                                        None if v.named_correlation is None else round(v.named_correlation, 4)}
                                   for i, v in enumerate(combined) if not v.novel]}
    return out


# -- seams, speed -----------------------------------------------------------------------------------------
def _sustained_curve(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Impulses about every 0.55 s (jittered by up to 0.1 s) over a steady sustain of 0.8: sound everywhere."""
    times = np.arange(0.3, seconds - 0.3, 0.55)
    curve = impulse_timing(times + rng.uniform(-0.1, 0.1, times.size), seconds)
    curve[1] = 0.8
    return curve


def seams(systems: dict, generator, prompts: list[str], run_seed: int, gen_kw: dict) -> dict:
    """Window joins of a 12 s generation, and cuts of three stitched shots (with a hard-cut anchor).

    Continuous sound (ambience prompts, a steady sustain) is the hard case: a seam cannot hide in
    silence. Shots are generated as tasks.generate does (the curve padded by the margin) and joined
    by tasks.stitch.stitch; the anchor butts the same shots together without a crossfade.
    """
    rng = np.random.default_rng([run_seed, 7])
    out: dict = {"prompts": prompts}
    seconds = 12.0
    pipe = getattr(generator, "pipeline", None)
    if pipe is not None and hasattr(pipe, "plan_windows"):
        _, starts, _ = pipe.plan_windows(seconds)
        window, per_latent = pipe.denoiser.config.sample_frames, pipe.time_factor * HOP
        edges = sorted({s * per_latent for s in starts[1:]} | {(s + window) * per_latent for s in starts[:-1]})
        res = generate(generator, timing=_sustained_curve(seconds, rng), prompt=prompts[0],
                       seed=run_seed * 1000 + 6000, duration_s=seconds, **gen_kw)
        edges = [e for e in edges if e < res.waveform.size - 1]
        out["window_joins"] = {"windows": len(starts), **seam_report(res.waveform, edges, res.sr, seed=run_seed)} \
            if edges else {"windows": len(starts), "note": "12 s fits one window: no window join"}
    else:
        out["window_joins"] = {"note": "the generator does not expose its window plan"}
    durations = [3.2, 4.0, 2.8]
    margin, crossfade = 0.05, 0.1
    curves = [_sustained_curve(d, rng) for d in durations]
    starts_s = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    total = float(sum(durations))
    for name, system in systems.items():
        shots, inner = [], []
        for k, (d, c) in enumerate(zip(durations, curves)):
            padded = pad_timing(c, margin)[:, :num_frames(d + 2 * margin)]
            res = generate(system, timing=padded, prompt=prompts[k % len(prompts)], seed=run_seed * 1000 + 6100 + k,
                           duration_s=d + 2 * margin, **gen_kw)
            sr = res.sr
            shots.append((float(starts_s[k]), float(starts_s[k] + d), res.waveform))
            inner.append(res.waveform[int(round(margin * sr)):int(round((margin + d) * sr))])
        track = stitch(shots, total, sr, crossfade_s=crossfade)
        cuts = [int(round(s * sr)) for s in starts_s[1:]]
        out[name] = {"shot_joins": seam_report(track, cuts, sr, seed=run_seed)}
        if name == GENERATOR:
            butted = normalise(np.concatenate(inner), sr)
            cut_b = list(np.cumsum([x.size for x in inner])[:-1])
            out["hard_cut_anchor"] = {"shot_joins": seam_report(butted, cut_b, sr, seed=run_seed)}
    return out


def _speed_child(generator_name: str, seconds: float, repeats: int, threads: str, env: dict) -> dict:
    cmd = [sys.executable, "-m", "bench._gen_speed", "--generator", generator_name, "--seconds", str(seconds),
           "--threads", threads, "--repeats", str(repeats)]
    proc = subprocess.run(cmd, cwd=str(Path(__file__).resolve().parents[1]), capture_output=True, text=True,
                          env={**os.environ, **env})
    if proc.returncode != 0:
        raise RuntimeError(f"speed child failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def speed(generator_name: str, systems: dict, seconds: float, repeats: int) -> dict:
    """The generator's RTF and peak memory in child processes; the baselines' RTF in this one.

    The headline is 2 threads in the environment the pipeline runs in; beside it 1 thread, and 2
    threads with ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP threads that sleep instead of spinning at
    barriers, which matters when other processes share the cores).
    """
    out = {GENERATOR: _speed_child(generator_name, seconds, repeats, "2,1", {}),
           "generator_omp_passive": _speed_child(generator_name, seconds, repeats, "2", {"OMP_WAIT_POLICY": "PASSIVE"})}
    timing = impulse_timing(np.arange(0.3, seconds - 0.3, 0.5), seconds)
    for name, system in systems.items():
        if name == GENERATOR:
            continue
        walls = []
        for r in range(repeats):
            t0 = time.perf_counter()
            generate(system, timing=timing, prompt="footsteps on gravel", seed=r, duration_s=seconds)
            walls.append(time.perf_counter() - t0)
        out[name] = {"rtf": round(seconds / min(walls), 1), "wall_s": round(min(walls), 4)}
    return out


# -- report -----------------------------------------------------------------------------------------------
def targets(fig: dict) -> dict:
    """The issue's targets, checked on the generator's figures."""
    g = GENERATOR
    adh = fig["adherence"]
    need = max(adh["real_ceiling"] / 2, 3 * adh["chance"])
    nov = fig["novelty"][g]
    return {
        "sync_video_f1": {"value": fig["sync_video"][g]["f1"], "target": ">= 0.85",
                          "pass": fig["sync_video"][g]["f1"] >= 0.85},
        "sync_impulse_f1": {"value": fig["sync_impulses"][g]["f1"], "target": ">= 0.85",
                            "pass": fig["sync_impulses"][g]["f1"] >= 0.85},
        "adherence": {"value": adh[g]["accuracy"], "target": f">= {need:.3f} (half the ceiling, 3x chance)",
                      "pass": adh[g]["accuracy"] >= need},
        "negative_prompt_drop": {"value": fig["negative_prompt"][g]["drop"],
                                 "target": "> 0, in most pairs",
                                 "pass": fig["negative_prompt"][g]["drop"] > 0
                                 and fig["negative_prompt"][g]["dropped_fraction"] > 0.5},
        "rtf": {"value": fig["speed"][g]["rtf"], "target": ">= 5", "pass": fig["speed"][g]["rtf"] >= 5},
        "novel_or_attributed": {"value": nov["novel_or_attributed_fraction"], "target": "1.0",
                                "pass": nov["novel_or_attributed_fraction"] >= 1.0},
    }


def print_table(fig: dict) -> None:
    """The figures as one table: a row per measure, a column per system, the reference and the target."""
    sv, si, ad, ng, sp, se, nv = (fig[k] for k in ("sync_video", "sync_impulses", "adherence", "negative_prompt",
                                                   "speed", "seams", "novelty"))
    tg = fig["targets"]

    def cells(fn) -> list[str]:
        return [fn(name) for name in SYSTEMS]

    def mark(key: str) -> str:
        return "PASS" if tg[key]["pass"] else "FAIL"

    rows = [
        ("sync F1 video chain +-100ms", cells(lambda n: f"{sv[n]['f1']:.3f}"),
         f"picture curve {sv['picture_curve']['f1']:.3f}", f">=0.85 {mark('sync_video_f1')}"),
        ("  precision / recall", cells(lambda n: f"{sv[n]['precision']:.2f}/{sv[n]['recall']:.2f}"), "", ""),
        ("  false onsets, static shots", cells(lambda n: str(sv[n]["false_onsets_static"])), "", ""),
        ("sync F1 impulse curves", cells(lambda n: f"{si[n]['f1']:.3f}"),
         "wrong curve " + "/".join(f"{si[n]['f1_wrong_curve']:.2f}" for n in SYSTEMS),
         f">=0.85 {mark('sync_impulse_f1')}"),
        (f"adherence ({len(ad['categories'])} categories)", cells(lambda n: f"{ad[n]['accuracy']:.3f}"),
         f"ceiling {ad['real_ceiling']:.3f}, chance {ad['chance']:.3f}", f"{tg['adherence']['target'][:8]} "
                                                                           f"{mark('adherence')}"),
        ("negative: P(excluded) w/o->with", cells(lambda n: f"{ng[n]['p_excluded_without']:.3f}->"
                                                           f"{ng[n]['p_excluded_with']:.3f}"), "",
         f"drops {mark('negative_prompt_drop')}"),
        ("real-time factor, 2 threads", cells(lambda n: f"{sp[n]['rtf']:.1f}"),
         f"matmul {sp[GENERATOR]['anchor_matmul_gflops']} GFLOP/s", f">=5 {mark('rtf')}"),
        ("  1 thread / 2 threads OMP passive", [f"{sp[GENERATOR]['by_threads'][-1]['rtf']:.1f} / "
                                                f"{sp['generator_omp_passive']['rtf']:.1f}", "", ""], "", ""),
        ("peak memory (child VmHWM)", [f"{sp[GENERATOR]['peak_rss_mb']:.0f} MB", "", ""],
         f"imports {sp[GENERATOR]['rss_after_imports_mb']:.0f} MB", ""),
        ("seams: window joins / p95", [f"{se['window_joins'].get('ratio_to_probe_p95', 'n/a')}", "", ""],
         "", "~1"),
        ("seams: shot joins / p95", cells(lambda n: f"{se[n]['shot_joins']['ratio_to_probe_p95']}"),
         f"hard cut {se['hard_cut_anchor']['shot_joins']['ratio_to_probe_p95']}", "~1"),
        ("novelty: novel (window/event)", cells(lambda n: f"{nv[n]['by_measure']['window']['novel_fraction']:.2f}/"
                                                         f"{nv[n]['by_measure']['event']['novel_fraction']:.2f}"),
         f"real p95 {nv['real_held_out']['window_p95_threshold']:.3f}/"
         f"{nv['real_held_out']['event_p95_threshold']:.3f}", ""),
        ("  novel (both)", cells(lambda n: f"{nv[n]['novel_fraction']:.2f}"), "", ""),
        ("  novel or attributed", cells(lambda n: f"{nv[n]['novel_or_attributed_fraction']:.2f}"), "",
         f"1.0 {mark('novel_or_attributed')}"),
        ("  mean max corr. (window/event)", cells(
            lambda n: f"{nv[n]['by_measure']['window']['mean_correlation']:.2f}/"
                      f"{nv[n]['by_measure']['event']['mean_correlation']:.2f}"),
         f"real {nv['real_held_out']['window_mean_correlation']:.3f}/"
         f"{nv['real_held_out']['event_mean_correlation']:.3f}", ""),
    ]
    head = ("measure", *SYSTEMS, "reference", "target")
    widths = (32, 11, 13, 11, 34, 14)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for label, vals, ref, target in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip((label, *vals, ref, target), widths)))


def write_atomic(path: Path, data: dict) -> Path:
    """Write JSON to a hidden partial file, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2, default=str))
    os.replace(partial, path)
    return path


def _fail(message: str) -> None:
    print(f"bench_generation: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="builtin:foley-mini", help="builtin:foley-mini or local:<dir>")
    ap.add_argument("--corpus", type=Path, default=None, help="corpus directory (default $FOLEYFLOW_HOME/corpus)")
    ap.add_argument("--cache", type=Path, default=OUT / "cache", help="where the corpus log-mels are cached")
    ap.add_argument("--quick", action="store_true", help="a few clips per measure (a smoke run)")
    ap.add_argument("--seed", type=int, default=0, help="fixes every random choice")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the generator's)")
    ap.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the generator's)")
    ap.add_argument("--categories", type=int, default=None, help="categories of the adherence test (>= 8)")
    ap.add_argument("--out", type=Path, default=OUT / "generation.json")
    args = ap.parse_args(argv)
    if args.categories is not None and args.categories < 8:
        ap.error("--categories must be 8 or more")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    from foleyflow.settings import get_settings
    from models.foley_mini.data import CorpusError, load_corpus
    from models.foley_mini.text_encoder import MiniLMTextEncoder
    from models.registry import DEFAULT_GUIDANCE, DEFAULT_STEPS, get_generator

    # One thread here: the measures other than speed do not depend on it, and two OpenMP threads stall
    # badly when another job holds a core (speed is measured in child processes, at 2 threads).
    torch.set_num_threads(1)
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    started = time.perf_counter()
    q = args.quick
    plan = {"video_seeds": [1] if q else [1, 2, 3], "impulse_curves": 6 if q else 20,
            "per_category": 2 if q else 8, "categories": args.categories or (8 if q else 10),
            "negative_pairs": 3 if q else 10, "negative_seeds": 1 if q else 2, "speed_repeats": 1 if q else 3,
            "novelty_max_shift": 8 if q else 16}
    corpus_dir = args.corpus if args.corpus is not None else get_settings().resolved_home / "corpus"
    try:
        corpus = load_corpus(corpus_dir)
    except CorpusError as exc:
        _fail(f"{exc} (or pass --corpus DIR)")
    try:
        generator = get_generator(args.generator)
    except (LookupError, FileNotFoundError) as exc:
        _fail(f"{exc} (or pass --generator local:<dir>)")
    print(f"generator {generator.model_id}, corpus {corpus_dir}, {'quick' if q else 'full'} run, seed {args.seed}")

    mels = gc.load_clip_mels(corpus, args.cache)
    categories = gc.choose_categories(corpus, plan["categories"])
    prompts = gc.category_prompts(corpus, categories)
    train_cat = gc.windows_of(corpus, mels, "train", categories)
    clf = train_classifier(np.stack([clip_features(w.logmel) for w in train_cat]), [w.category for w in train_cat],
                           [w.clip_id for w in train_cat], seed=args.seed)
    all_eval = gc.windows_of(corpus, mels, "eval", categories)
    held_out = gc.sample_per_category(all_eval, plan["per_category"], args.seed)
    encoder = MiniLMTextEncoder()
    systems = {GENERATOR: generator, "shaped noise": ShapedNoise(),
               "retrieval": Retrieval(gc.train_clip_records(corpus), lambda t: encoder(list(t)).pooled.numpy())}
    gen_kw = {"steps": args.steps, "guidance": args.guidance}
    print(f"categories {categories}; classifier on {len(train_cat)} training windows (C={clf.chosen_c})")

    fig: dict = {"generator": generator.model_id, "weights_sha256": generator.weights_sha256,
                 "steps": args.steps or DEFAULT_STEPS, "guidance": args.guidance or DEFAULT_GUIDANCE,
                 "seed": args.seed, "quick": q, "plan": plan, "corpus": str(corpus_dir),
                 "split": gc.split_summary(corpus), "anchor_matmul_gflops_main": round(matmul_gflops(), 1)}
    stage = time.perf_counter()

    def done(name: str) -> None:
        nonlocal stage
        print(f"  {name}: {time.perf_counter() - stage:.1f} s", flush=True)
        stage = time.perf_counter()

    fig["sync_video"] = sync_video(systems, plan["video_seeds"], args.seed, gen_kw)
    done("sync (video chain)")
    fig["sync_impulses"] = sync_impulses(systems, gc.contact_prompts(corpus), plan["impulse_curves"], args.seed,
                                         gen_kw)
    done("sync (impulse curves)")
    fig["adherence"], generated = adherence(systems, clf, held_out, all_eval, prompts, args.seed, gen_kw)
    done("adherence")
    fig["negative_prompt"] = negative_prompt(systems, clf, held_out, prompts, plan["negative_pairs"],
                                             plan["negative_seeds"], args.seed, gen_kw)
    done("negative prompt")
    fig["novelty"] = novelty(generated, held_out, gc.windows_of(corpus, mels, "train"), plan["novelty_max_shift"])
    done("novelty")
    fig["seams"] = seams(systems, generator, gc.ambience_prompts(corpus, 3), args.seed, gen_kw)
    done("seams")
    fig["speed"] = speed(args.generator, systems, 8.192, plan["speed_repeats"])
    done("speed")
    fig["targets"] = targets(fig)
    fig["wall_s"] = round(time.perf_counter() - started, 1)
    print()
    print_table(fig)
    print(f"\n{sum(t['pass'] for t in fig['targets'].values())}/{len(fig['targets'])} targets met; "
          f"{fig['wall_s']:.0f} s; wrote {write_atomic(args.out, fig)}")
    return fig


if __name__ == "__main__":
    main()
