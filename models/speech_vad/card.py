"""MODEL_CARD.md of ``models/speech-vad`` from its ``config.json`` (and the bench's ``speech.json``).

``python -m models.speech_vad.card models/speech-vad --bench bench/out/speech.json``
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def _data():
    from models.speech_vad import data
    return data


def write_card(out: Path, bench: dict | None = None) -> Path:
    cfg = json.loads((Path(out) / "config.json").read_text())
    if bench is not None:
        cfg["bench"] = bench
        (Path(out) / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    bench = cfg.get("bench")
    d, t = cfg["data"], cfg["training"]
    lic = ", ".join(f"{k} {v} min" for k, v in d["licences"].items())
    pk = ", ".join(f"{k} {v}" for k, v in d["packages"].items())
    lines = [
        "# speech-vad: speech activity on generated foley",
        "",
        "A pyannote.audio `PyanNet` segmentation model (SincNet, 2-layer BiLSTM 64, 2 linear layers 64; "
        f"{cfg['parameters']:,} parameters) trained from random weights as a `VoiceActivityDetection` task. "
        "It is what `tasks/speech.py` loads when no other pyannote checkpoint is named. Load it with "
        "`pyannote.audio.Model.from_pretrained(\"models/speech-vad\")` (offline: set "
        "`PYANNOTE_METRICS_ENABLED=false` and `HF_HUB_OFFLINE=1` first).",
        "",
        "## Intended use and limits",
        "",
        "Telling whether a generated foley track contains speech, and where. It was trained on synthesized "
        "speech only (espeak-ng and festival, the project's own dialogue voices, the default "
        "`festival:cmu_us_slt_arctic_hts` among them): it says nothing reliable about real recorded voices, singing, crowds or "
        "whispering on real film sound. Crowd recordings were left out of the non-speech material. "
        "Recorded effects (animal calls, machinery) are called speech more often than generated foley "
        "(see the table); speech under the effects (SNR below 0 dB) is missed more often.",
        "",
        "## Data",
        "",
        f"- Speech: espeak-ng (GPL-3+) English voices {', '.join(_data().TRAIN_VOICES)} "
        f"with variants ({', '.join(v or 'none' for v in _data().TRAIN_VARIANTS)}), 130-200 wpm; and festival (festival, "
        "festvox-kallpc16k, festvox-us-slt-hts) voices "
        f"{', '.join('`' + v + '`' for v in d.get('festival_voices', [])) or '(none: festival was not installed)'} "
        f"at {', '.join(map(str, _data().TRAIN_FESTIVAL_RATES))} wpm and the engine default; one voice family per file, "
        f"festival in about {int(100 * _data().FESTIVAL_SHARE['train'])}% of the files with speech"
        + (f" (training files with speech: {d['speech_files_train_by_family']}; minutes of speech: "
           f"{d['speech_minutes_train_by_family']})" if "speech_files_train_by_family" in d else "")
        + ". All synthesized through `tasks.tts.synthesize` (the project's TTS; a direct espeak-ng call when it is "
        "absent), random word sequences. Reference speech: where the clean utterance is within "
        "35 dB of its peak (gaps under 0.25 s bridged).",
        f"- Non-speech, recorded: {d['corpus_clips']} clips ({d['corpus_minutes']} min) of the corpus `train` split "
        f"(`models.corpus`, Debian packages {pk}; per-clip author and licence in the corpus tables). "
        f"Licences: {lic}.",
        f"- Non-speech, generated: {d['generated_tracks']} 10-s tracks of the shipped generator "
        f"(`builtin:foley-mini`, {d.get('generated_prompts', 16)} prompts x 3 seeds)"
        + (f"; {d['development_foley_tracks']} more tracks (the same prompts, another seed, never trained on) "
           "for the thresholds' constraint: no setting that calls any of them speech is chosen"
           if "development_foley_tracks" in d else "") + ".",
        f"- {d['train_files']} training files of 10 s ({d['kinds_train']}; "
        f"{d['speech_minutes_train']} min of speech), mixtures at SNR -5..+15 dB; {d['development_files']} "
        "development files for the pipeline thresholds.",
        "- Held out for the bench: corpus `eval` clips, other espeak-ng voices/variants, other words, other generator "
        "prompts and seeds. Festival has only two voices and both are trained on, so festival speech is held "
        f"out by words and speaking rate ({', '.join(map(str, _data().TEST_FESTIVAL_RATES))} wpm), not by voice.",
        "",
        "## Training",
        "",
        f"- 2-s chunks, batch 32, {t['optimizer']}, seed {t['seed']}, CPU {t['threads']} threads, "
        f"{t['epochs_run']} epochs / {t['steps']} steps in {t['train_minutes_wall']} min "
        f"(budget {t['time_budget_min']} min); data building {t['data_minutes_wall']} min.",
        f"- Pipeline parameters (tuned on development, F {cfg['dev_fmeasure']}): `{json.dumps(cfg['pipeline'])}`.",
        *([f"- Tuning rule: {cfg['pipeline_tuning']['rule']}."] if "pipeline_tuning" in cfg else []),
        f"- Code version {cfg['code_version']}; {', '.join(f'{k} {v}' for k, v in cfg['versions'].items())}.",
        "- Reproduce: `python -m models.speech_vad.train --out models/speech-vad`.",
        "",
        "## Evaluation (bench/bench_speech.py, held-out material)",
        "",
    ]
    if bench:
        lines += ["| measure | speech-vad | energy VAD baseline |", "|---|---|---|"]
        for row in bench.get("table", []):
            lines.append(f"| {row['measure']} | {row['model']} | {row['baseline']} |")
        lines += ["", f"Held-out files: {bench.get('files')}; run {bench.get('date', '')}."]
        prev = bench.get("previous")
        if prev:
            lines += ["", f"### {prev.get('label', 'Previous model')}", "",
                      "The same held-out files, the previous shipped model:", "",
                      "| measure | previous | now |", "|---|---|---|"]
            now = {row["measure"]: row["model"] for row in bench.get("table", [])}
            for row in prev.get("table", []):
                lines.append(f"| {row['measure']} | {row['model']} | {now.get(row['measure'], '')} |")
    else:
        lines.append("Not yet measured: run `python bench/bench_speech.py --card`.")
    path = Path(out) / "MODEL_CARD.md"
    tmp = path.with_name(".MODEL_CARD.md.partial")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--bench", type=Path)
    a = ap.parse_args()
    write_card(a.dir, json.loads(a.bench.read_text()) if a.bench else None)
