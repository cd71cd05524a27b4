"""Train the speech-activity model shipped as ``models/speech-vad``.

``python -m models.speech_vad.train --out models/speech-vad`` builds the material of
:mod:`models.speech_vad.data` in a temporary folder (the corpus subset is built under
``$FOLEYFLOW_HOME/corpus`` when missing), trains a small PyanNet from random weights with
pyannote.audio's ``VoiceActivityDetection`` task and Lightning on the CPU (fixed seed, a time
budget), tunes the pipeline's onset/offset/min durations on the development files and writes
``pytorch_model.bin`` (weights, hyper-parameters, pyannote specifications only), ``config.json``
(pipeline parameters, training config) and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from models.speech_vad import data

FOLEY_SEEDS = (0, 1, 2)  # generated foley in the training/development files
DEV_FOLEY_SEEDS = (3,)  # generated foley for the thresholds' constraint only
ARCH = {"sincnet": {"stride": 10},
        "lstm": {"hidden_size": 64, "num_layers": 2, "bidirectional": True, "monolithic": True, "dropout": 0.0},
        "linear": {"hidden_size": 64, "num_layers": 2}}


def _code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


TRAIN_FOLEY_PROMPTS = data.TRAIN_PROMPTS + data.EXTRA_TRAIN_PROMPTS


def _foley(cache: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Generated foley for the training/development files, and the tracks (another seed, never trained on)
    the thresholds' no-false-alarm constraint is checked on."""
    return (data.generated_foley(TRAIN_FOLEY_PROMPTS, list(FOLEY_SEEDS), cache),
            data.generated_foley(TRAIN_FOLEY_PROMPTS, list(DEV_FOLEY_SEEDS), cache))


def build_material(work: Path, *, train_files: int, dev_files: int, seed: int, foley_cache: Path | None = None) -> tuple[Path, dict]:
    corpus_train, table = data.corpus_clips("train")
    foley, dev_foley = _foley(foley_cache or work / "foley")
    effects = corpus_train + foley
    train = data.make_items("train", effects, train_files, seed)
    dev = data.make_items("development", effects, dev_files, seed + 1)
    yml = data.write_protocol(work / "protocol", {"train": train, "development": dev})
    info = {"corpus_clips": len(corpus_train), "corpus_minutes": round(sum(map(len, corpus_train)) / data.SR / 60, 2),
            "generated_tracks": len(foley), "generated_prompts": len(TRAIN_FOLEY_PROMPTS),
            "development_foley_tracks": len(dev_foley), "train_files": len(train), "development_files": len(dev),
            "kinds_train": {k: sum(i.kind == k for i in train) for k in ("mix", "effects", "speech")},
            "speech_minutes_train": round(sum(e - s for i in train for s, e in i.speech) / 60, 2),
            "festival_voices": list(data.festival_voices()),
            "speech_files_train_by_family": {f: sum(i.family == f for i in train) for f in ("espeak-ng", "festival")},
            "speech_minutes_train_by_family": {f: round(sum(e - s for i in train if i.family == f for s, e in i.speech) / 60, 2)
                                               for f in ("espeak-ng", "festival")},
            "licences": table.groupby("licence")["duration_s"].sum().div(60).round(2).to_dict(),
            "packages": {p: str(v) for p, v in table.groupby("package")["package_version"].first().items()}}
    return yml, {"info": info, "dev": dev, "foley": dev_foley}


def tune(model, dev: list[data.Item], foley: list[np.ndarray] | None = None) -> dict:
    """Onset/offset/min durations maximising detection F-measure on the development files, among the
    settings that flag none of the ``foley`` tracks (generated foley, no speech, seeds training did
    not use) as unwanted speech."""
    from tasks.speech import MIN_UNWANTED_S
    from pyannote.audio import Inference
    from pyannote.audio.utils.signal import Binarize
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.detection import DetectionPrecisionRecallFMeasure

    inf = Inference(model, step=0.25 * model.specifications.duration)
    scores = [inf(_file(it.audio)) for it in dev]
    fscores = [inf(_file(w)) for w in foley or []]
    best = None
    for onset in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        for off_delta in (0.0, 0.1, 0.2):
            for mon in (0.0, 0.1, 0.25, 0.5, 0.75):
                for moff in (0.0, 0.1, 0.25, 0.5):
                    b = Binarize(onset=onset, offset=onset - off_delta, min_duration_on=mon, min_duration_off=moff)
                    if any(sum(s.duration for s in b(sc).get_timeline().support()) >= MIN_UNWANTED_S for sc in fscores):
                        continue  # calls clean generated foley speech
                    metric = DetectionPrecisionRecallFMeasure()
                    for it, sc in zip(dev, scores):
                        ref = Annotation()
                        for s, e in it.speech:
                            ref[Segment(s, e)] = "speech"
                        metric(ref, b(sc), uem=Timeline([Segment(0, data.FILE_S)]))
                    f = abs(metric)
                    if best is None or f > best[0]:
                        best = (f, {"onset": onset, "offset": round(onset - off_delta, 3),
                                    "min_duration_on": mon, "min_duration_off": moff})
    return {"params": best[1], "dev_fmeasure": round(best[0], 4)}


def _file(audio: np.ndarray) -> dict:
    import torch
    x = np.concatenate([audio, np.zeros(64, np.float32)])
    return {"waveform": torch.from_numpy(x)[None], "sample_rate": data.SR}


def save_small(trainer, path: Path) -> None:
    """The checkpoint without optimizer, loops, callbacks: what Model.from_pretrained needs."""
    import torch
    tmp = path.with_suffix(".full")
    trainer.save_checkpoint(tmp, weights_only=True)
    ck = torch.load(tmp, map_location="cpu", weights_only=False)
    keep = {k: ck[k] for k in ("state_dict", "hyper_parameters", "pyannote.audio", "pytorch-lightning_version") if k in ck}
    torch.save(keep, path)
    tmp.unlink()


TUNING_RULE = ("onset/offset/min durations that maximise detection F on the development files (training "
               "voices' accents with espeak-ng variants training never heard, festival at training rates, over "
               "training effects), among the settings that call none of the development foley tracks speech")


def retune(out: Path, *, dev_files: int, seed: int, foley_cache: Path | None = None, threads: int = 2) -> dict:
    """The pipeline thresholds of the checkpoint in ``out`` tuned again (its weights untouched); config and card rewritten."""
    import torch
    from pyannote.audio import Model

    torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="speech-vad-tune-"))
    corpus_train, _ = data.corpus_clips("train")
    foley, dev_foley = _foley(foley_cache or work / "foley")
    dev = data.make_items("development", corpus_train + foley, dev_files, seed + 1)
    tuned = tune(Model.from_pretrained(str(out)), dev, dev_foley)
    cfg_path = Path(out) / "config.json"
    config = json.loads(cfg_path.read_text())
    config.update(pipeline=tuned["params"], dev_fmeasure=tuned["dev_fmeasure"],
                  pipeline_tuning={"rule": TUNING_RULE, "development_files": len(dev),
                                   "development_foley_tracks": len(dev_foley), "code_version": _code_version()})
    config.get("data", {})["development_files"] = len(dev)
    cfg_path.write_text(json.dumps(config, indent=2) + "\n")
    from models.speech_vad.card import write_card
    write_card(Path(out))
    print(json.dumps({k: config[k] for k in ("pipeline", "dev_fmeasure")}, indent=2))
    return config


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--foley-cache", type=Path, default=None, help="generated foley cache (default: in --work)")
    ap.add_argument("--train-files", type=int, default=600)
    ap.add_argument("--dev-files", type=int, default=60)
    ap.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tune-only", action="store_true",
                    help="keep the weights in --out; tune its pipeline thresholds again on the development material")
    a = ap.parse_args(argv)
    if a.tune_only:
        return retune(a.out, dev_files=a.dev_files, seed=a.seed, foley_cache=a.foley_cache, threads=a.threads)

    import lightning
    import torch
    from pyannote.audio.models.segmentation import PyanNet
    from pyannote.audio.tasks import VoiceActivityDetection
    from pyannote.database import FileFinder, registry

    torch.set_num_threads(a.threads)
    work = Path(a.work or tempfile.mkdtemp(prefix="speech-vad-"))
    t0 = time.time()
    yml, mat = build_material(work, train_files=a.train_files, dev_files=a.dev_files, seed=a.seed,
                                foley_cache=a.foley_cache)
    t_data = time.time() - t0
    registry.load_database(str(yml))
    protocol = registry.get_protocol("FoleyVAD.SpeakerDiarization.mix", preprocessors={"audio": FileFinder()})

    lightning.seed_everything(a.seed, workers=True)
    task = VoiceActivityDetection(protocol, duration=2.0, batch_size=32, num_workers=0,
                                  cache=str(work / "task-cache"))
    model = PyanNet(**ARCH, sample_rate=data.SR, task=task)
    trainer = lightning.Trainer(accelerator="cpu", devices=1, max_epochs=a.max_epochs,
                                max_time={"minutes": a.minutes}, logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, default_root_dir=str(work), deterministic=True)
    t1 = time.time()
    trainer.fit(model)
    t_train = time.time() - t1
    a.out.mkdir(parents=True, exist_ok=True)
    save_small(trainer, a.out / "pytorch_model.bin")

    from pyannote.audio import Model
    reloaded = Model.from_pretrained(str(a.out))
    tuned = tune(reloaded, mat["dev"], mat["foley"])
    config = {"pipeline": tuned["params"], "dev_fmeasure": tuned["dev_fmeasure"],
              "pipeline_tuning": {"rule": TUNING_RULE, "development_files": len(mat["dev"]),
                                  "development_foley_tracks": len(mat["foley"])},
              "architecture": ARCH, "parameters": sum(p.numel() for p in model.parameters()),
              "training": {"task": "VoiceActivityDetection", "chunk_s": 2.0, "batch_size": 32,
                           "optimizer": "Adam lr 1e-3 (pyannote default)", "seed": a.seed,
                           "time_budget_min": a.minutes, "epochs_run": int(trainer.current_epoch),
                           "steps": int(trainer.global_step), "train_minutes_wall": round(t_train / 60, 2),
                           "data_minutes_wall": round(t_data / 60, 2), "threads": a.threads},
              "data": mat["info"], "code_version": _code_version(),
              "versions": {"pyannote.audio": __import__("pyannote.audio").audio.__version__,
                           "lightning": lightning.__version__, "torch": torch.__version__}}
    (a.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    from models.speech_vad.card import write_card
    write_card(a.out)
    print(json.dumps({k: config[k] for k in ("pipeline", "dev_fmeasure", "parameters", "training")}, indent=2))
    return config


if __name__ == "__main__":
    main()
