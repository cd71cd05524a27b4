"""Training foley-mini, as plain functions: autoencoder, encoding, diffusion, export.

:func:`train` runs every stage within a wall-clock budget (default 120 minutes
in total); each stage can also be called on its own (the Prefect flow
``train_model`` does, one task per stage). A run is reproducible from its
seed: every random draw is keyed by ``(seed, stage, step)``, evaluations and
checkpoints happen at fixed step counts, and a resumed run continues with the
same batches. Only the wall-clock deadline depends on the machine. The run
directory is described in :mod:`models.foley_mini.run`.
"""

from __future__ import annotations

import os
from typing import Callable

from models.foley_mini.run import STAGES, RunState, TrainConfig, start_run
from models.foley_mini.train_ae import ae_eval_l1, latent_statistics, train_autoencoder
from models.foley_mini.train_diffusion import diffusion_eval_loss, encode_data, export_pipeline, train_diffusion


def train(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike, config: TrainConfig = TrainConfig(),
          resume: bool = False, echo: Callable[[str], None] | None = None) -> dict:
    """Run every stage: autoencoder, encoding, diffusion (early stopping on held-out loss), export.

    Arguments:
        corpus_dir: a corpus directory (``clips.parquet``, ``windows.parquet``).
        out_dir: the run directory.
        config: the run's configuration (ignored except ``minutes`` when resuming).
        resume: continue the run in ``out_dir`` from its last checkpoint.
        echo: where progress lines go.

    Returns:
        ``state.json`` as a dict (per-stage figures, the pipeline directory under ``export``).
    """
    start_run(corpus_dir, out_dir, config, resume)
    train_autoencoder(out_dir, echo)
    encode_data(out_dir, echo)
    train_diffusion(out_dir, echo)
    export_pipeline(out_dir, echo)
    return RunState(out_dir).data


__all__ = ["STAGES", "TrainConfig", "RunState", "start_run", "train", "train_autoencoder", "encode_data",
           "train_diffusion", "export_pipeline", "ae_eval_l1", "diffusion_eval_loss", "latent_statistics"]
