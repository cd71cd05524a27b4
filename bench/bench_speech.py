"""Speech check bench: detection F-measure of ``models/speech-vad`` on held-out mixtures, against an energy VAD.

Held-out material (:mod:`models.speech_vad.data`, ``test``): corpus ``eval`` clips and generator
tracks from prompts and seeds never used in training, espeak-ng voices/variants and words never used
in training, festival's two voices (the project's default dialogue voice among them) on words and
speaking rates never used in training; 10-s files, half of them mixtures at SNR -5..+15 dB, the rest
plain effects or plain speech. Figures are given per voice family (espeak-ng / festival) too.
Measures (pyannote.metrics ``DetectionPrecisionRecallFMeasure``, collar 0, over every file, and over
the mixtures alone; per SNR band too): the shipped model through ``tasks.speech.speech_segments``
and an energy VAD (10 ms frames above a threshold relative to the file's loudest frame, gaps under
0.25 s bridged; threshold tuned on development files built from training material, in the same
run). On pure generated foley (held-out prompts): the share of tracks the unwanted-speech check flags
and the detected speech fraction. Target: F >= 0.9 on the mixtures.

    python bench/bench_speech.py [--files 200] [--card] [--model DIR]

Needs the corpus subset under ``$FOLEYFLOW_HOME/corpus`` (built when missing) and espeak-ng;
festival (festvox-kallpc16k, festvox-us-slt-hts) for the festival figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from models.speech_vad import data  # noqa: E402
from tasks import speech  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TARGET_F = 0.9


def energy_vad(x: np.ndarray, sr: int, rel_db: float, bridge_s: float = 0.25, min_s: float = 0.1):
    """The baseline: 10 ms frames within ``rel_db`` of the loudest, short gaps bridged."""
    return data.active_intervals(x, sr, floor_db=rel_db, bridge_s=bridge_s, min_s=min_s)


def fmeasure(items, hyps) -> dict:
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.detection import DetectionPrecisionRecallFMeasure

    m = DetectionPrecisionRecallFMeasure()
    for it, h in zip(items, hyps):
        m(speech._annotation(it.speech), speech._annotation(h), uem=Timeline([Segment(0, data.FILE_S)]))
    p, r, f = m.compute_metrics()
    return {"precision": round(p, 4), "recall": round(r, 4), "f": round(f, 4)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--dev-files", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--cache", type=Path, default=None, help="generated foley cache")
    ap.add_argument("--card", action="store_true", help="add the figures to models/speech-vad/MODEL_CARD.md")
    ap.add_argument("--model", type=Path, default=None, help="another pyannote checkpoint (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=None, help="report file (default bench/out/speech.json)")
    ap.add_argument("--previous", type=Path, default=None,
                    help="with --card: a report of this bench (same --files/--seed) for the previous model, shown beside")
    ap.add_argument("--previous-label", default="The previous shipped model",
                    help="with --previous: the card's heading for that model (what it was trained on)")
    a = ap.parse_args(argv)
    if a.card and a.model is not None:
        ap.error("--card describes the shipped model; leave out --model")
    home = Path(os.environ.get("FOLEYFLOW_HOME") or Path.home() / ".foleyflow")
    cache = a.cache or home / "cache" / "speech-vad-foley"

    eval_clips, _ = data.corpus_clips("eval")
    test_foley = data.generated_foley(data.TEST_PROMPTS, [100, 101], cache)
    test = data.make_items("test", eval_clips + test_foley, a.files, a.seed)
    train_clips, _ = data.corpus_clips("train")
    dev = data.make_items("development", train_clips + data.generated_foley(data.TRAIN_PROMPTS, [0], cache),
                          a.dev_files, a.seed + 1)

    # baseline threshold tuned on development material
    best = max((fmeasure(dev, [energy_vad(it.audio, data.SR, t) for it in dev])["f"], t)
               for t in (6, 10, 15, 20, 25, 30, 40))
    rel_db = best[1]

    model_h = [speech.speech_segments(it.audio, data.SR, model_path=a.model) for it in test]
    base_h = [energy_vad(it.audio, data.SR, rel_db) for it in test]
    groups = {"all held-out files": lambda it: True, "mixtures (target)": lambda it: it.kind == "mix",
              "mixtures SNR -5..0 dB": lambda it: it.kind == "mix" and it.snr_db is not None and it.snr_db < 0,
              "mixtures SNR 0..5 dB": lambda it: it.kind == "mix" and it.snr_db is not None and 0 <= it.snr_db < 5,
              "mixtures SNR 5..15 dB": lambda it: it.kind == "mix" and it.snr_db is not None and it.snr_db >= 5,
              "plain speech": lambda it: it.kind == "speech",
              "mixtures, espeak-ng voices": lambda it: it.kind == "mix" and it.family == "espeak-ng",
              "mixtures, festival voices": lambda it: it.kind == "mix" and it.family == "festival",
              "mixtures, festival default voice (HTS) in file": lambda it: it.kind == "mix" and any(
                  v.endswith("cmu_us_slt_arctic_hts") for v in it.voices),
              "plain speech, espeak-ng voices": lambda it: it.kind == "speech" and it.family == "espeak-ng",
              "plain speech, festival voices": lambda it: it.kind == "speech" and it.family == "festival"}
    results: dict = {}
    table = []
    for name, sel in groups.items():
        idx = [i for i, it in enumerate(test) if sel(it)]
        if not idx:
            continue
        fm = fmeasure([test[i] for i in idx], [model_h[i] for i in idx])
        fb = fmeasure([test[i] for i in idx], [base_h[i] for i in idx])
        results[name] = {"files": len(idx), "model": fm, "baseline": fb}
        table.append({"measure": f"F-measure, {name} ({len(idx)})", "model": f"{fm['f']:.3f} (P {fm['precision']:.3f} R {fm['recall']:.3f})",
                      "baseline": f"{fb['f']:.3f} (P {fb['precision']:.3f} R {fb['recall']:.3f})"})

    # effects-only files and pure generated foley: what the unwanted-speech check sees
    def flagged(segs) -> bool:
        return sum(e - s for s, e in segs) >= speech.MIN_UNWANTED_S

    eff = [i for i, it in enumerate(test) if it.kind == "effects"]
    fol_m = [speech.speech_segments(w, data.SR, model_path=a.model) for w in test_foley]
    fol_b = [energy_vad(w, data.SR, rel_db) for w in test_foley]
    frac = lambda hs: round(float(np.mean([sum(e - s for s, e in h) / data.FILE_S for h in hs])), 4)  # noqa: E731
    results["effects-only files flagged"] = {"files": len(eff), "model": np.mean([flagged(model_h[i]) for i in eff]).round(4).item(),
                                             "baseline": np.mean([flagged(base_h[i]) for i in eff]).round(4).item()}
    results["generated foley flagged"] = {"tracks": len(test_foley), "model": np.mean([flagged(h) for h in fol_m]).round(4).item(),
                                          "baseline": np.mean([flagged(h) for h in fol_b]).round(4).item()}
    results["generated foley speech fraction"] = {"model": frac(fol_m), "baseline": frac(fol_b)}
    table += [
        {"measure": f"effects-only files flagged as speech ({len(eff)})",
         "model": f"{results['effects-only files flagged']['model']:.3f}", "baseline": f"{results['effects-only files flagged']['baseline']:.3f}"},
        {"measure": f"pure generated foley flagged ({len(test_foley)} tracks)",
         "model": f"{results['generated foley flagged']['model']:.3f}", "baseline": f"{results['generated foley flagged']['baseline']:.3f}"},
        {"measure": "pure generated foley, detected speech fraction",
         "model": f"{results['generated foley speech fraction']['model']:.3f}", "baseline": f"{results['generated foley speech fraction']['baseline']:.3f}"},
    ]
    f_mix = results["mixtures (target)"]["model"]["f"]
    report = {"date": datetime.date.today().isoformat(), "files": len(test), "seed": a.seed,
              "baseline_rel_db": rel_db, "baseline_dev_f": best[0], "pipeline": speech.pipeline_params(a.model),
              "model": "models/speech-vad" if a.model is None else a.model.name,
              "festival_voices": list(data.festival_voices()),
              "target_f": TARGET_F, "target_met": f_mix >= TARGET_F, "results": results, "table": table}
    print(f"{'measure':58s} | {'speech-vad':34s} | energy VAD (-{rel_db} dB)")
    for row in table:
        print(f"{row['measure']:58s} | {row['model']:34s} | {row['baseline']}")
    print(f"target F >= {TARGET_F} on mixtures: {'met' if report['target_met'] else 'NOT met'} ({f_mix:.3f})")
    OUT.mkdir(parents=True, exist_ok=True)
    import json
    path = a.out or OUT / "speech.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".speech.json.partial")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)
    if a.card:
        from models.speech_vad.card import write_card
        card = {k: report[k] for k in ("date", "files", "table", "target_met", "baseline_rel_db")}
        if a.previous is not None:
            prev = json.loads(a.previous.read_text())
            if (prev.get("files"), prev.get("seed")) != (report["files"], report["seed"]):
                raise SystemExit(f"{a.previous.name}: another held-out set (files/seed differ)")
            card["previous"] = {"label": a.previous_label,
                                "date": prev.get("date"), "table": prev.get("table", [])}
        write_card(speech.SHIPPED, card)
    return report


if __name__ == "__main__":
    main()
