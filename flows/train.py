"""train_model: the Prefect flow that trains foley-mini, one task per stage.

The stages are the plain functions of :mod:`models.foley_mini.train`; their
state lives in the run directory (``state.json``, checkpoints), so a flow run
that is stopped can be resumed with ``resume=True`` and continues where the
last checkpoint left off. A markdown artifact summarises the run's figures.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from models.foley_mini.train import (TrainConfig, encode_data, export_pipeline, start_run, train_autoencoder,
                                     train_diffusion)


@task(name="train-autoencoder")
def autoencoder_stage(out_dir: str) -> dict:
    """Stage 1: the log-mel autoencoder."""
    return train_autoencoder(out_dir, echo=get_run_logger().info)


@task(name="encode-data")
def encode_stage(out_dir: str) -> dict:
    """Stage 2: augmented pool, references and captions, encoded once."""
    return encode_data(out_dir, echo=get_run_logger().info)


@task(name="train-diffusion")
def diffusion_stage(out_dir: str) -> dict:
    """Stage 3: the denoiser, early stopping on held-out loss."""
    return train_diffusion(out_dir, echo=get_run_logger().info)


@task(name="export-model")
def export_stage(out_dir: str) -> dict:
    """Stage 4: the pipeline with its reference bank, saved with save_pretrained."""
    return export_pipeline(out_dir, echo=get_run_logger().info)


def _summary(state: dict) -> str:
    st = state["stages"]
    ae, enc, dif, exp = (st.get(k, {}) for k in ("autoencoder", "encode", "diffusion", "export"))
    rows = [
        ("time spent", f"{state.get('elapsed_s', 0) / 60:.1f} min of {state['config']['minutes']:g}"),
        ("autoencoder", f"{ae.get('steps')} steps, held-out log-mel L1 {ae.get('best_eval_l1', float('nan')):.3f}"),
        ("training examples", f"{enc.get('train_examples')} ({enc.get('mixtures')} mixtures), "
                              f"{enc.get('eval_examples')} held-out"),
        ("diffusion", f"{dif.get('steps')} steps ({dif.get('stopped_by')}), best at step {dif.get('best_step')}"),
        ("held-out loss, with reference", f"{dif.get('best_eval_loss_ref', float('nan')):.4f}"),
        ("held-out loss, without reference", f"{dif.get('best_eval_loss_noref', float('nan')):.4f}"),
        ("pipeline", f"{exp.get('directory')} ({exp.get('megabytes')} MB, {exp.get('bank_entries')} references)"),
    ]
    return "# foley-mini training run\n\n| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


@flow(name="train-model", flow_run_name="train-foley-mini-seed{seed}", log_prints=True)
def train_model(corpus: str, out: str, minutes: float = 120.0, seed: int = 0, resume: bool = False,
                preset: str = "mini") -> dict:
    """Train foley-mini on a corpus directory; returns the run's ``state.json``.

    Arguments:
        corpus: a corpus directory (``clips.parquet``, ``windows.parquet``).
        out: the run directory (checkpoints, logs, the exported pipeline under ``out/pipeline``).
        minutes: wall-clock budget of the whole run.
        seed: the run's seed (the run is reproducible from it).
        resume: continue the run in ``out`` from its last checkpoint.
        preset: model size preset (``mini``; ``tiny`` for smoke tests).
    """
    out_dir = str(Path(out).resolve())
    state = start_run(corpus, out_dir, TrainConfig(preset=preset, seed=seed, minutes=minutes), resume=resume)
    autoencoder_stage(out_dir)
    encode_stage(out_dir)
    diffusion_stage(out_dir)
    export_stage(out_dir)
    data = type(state)(out_dir).data
    create_markdown_artifact(markdown=_summary(data), key="foley-mini-training",
                             description="foley-mini training run")
    return data
