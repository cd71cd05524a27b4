"""Training foley-mini (models/foley_mini/train*.py) on a tiny synthetic corpus: losses fall, runs resume exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.foley_fixtures import TINY_TRAIN
from tests.synth_corpus import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def _log(run):
    return [json.loads(line) for line in (run / "train-log.jsonl").read_text().splitlines()]


def test_training_lowers_held_out_losses_and_exports_a_pipeline(corpus, tmp_path):
    from models.foley_mini import FoleyMiniPipeline
    from models.foley_mini.train import TrainConfig, train

    state = train(corpus, tmp_path / "run", TrainConfig(**{**TINY_TRAIN, "ae_max_steps": 60, "max_steps": 80}),
                  echo=lambda m: None)
    log = _log(tmp_path / "run")
    ae = [r["eval_l1"] for r in log if r["stage"] == "autoencoder"]
    diff = [r["eval_loss_ref"] for r in log if r["stage"] == "diffusion"]
    assert ae[-1] < 0.9 * ae[0]
    assert diff[-1] < diff[0]
    assert all(state["stages"][s]["done"] for s in ("autoencoder", "encode", "diffusion", "export"))
    assert state["stages"]["encode"]["mixtures"] > 0  # "X and Y" windows were made
    pipe = FoleyMiniPipeline.from_pretrained(state["stages"]["export"]["directory"])
    cats = {e["category"] for e in pipe.reference_bank.entries}
    assert cats == {"knock", "bell", "rain", "engine"}
    eval_clips = set()
    import pandas as pd

    clips = pd.read_parquet(corpus / "clips.parquet")
    eval_clips = set(clips.loc[clips["split"] == "eval", "clip_id"])
    assert not eval_clips & {e["clip_id"] for e in pipe.reference_bank.entries}  # the bank holds training clips only


def test_resumed_run_continues_from_its_checkpoint_with_the_same_result(corpus, tmp_path):
    from models.foley_mini.train import TrainConfig, train

    cfg = TrainConfig(**{**TINY_TRAIN, "max_steps": 40})
    train(corpus, tmp_path / "straight", cfg, echo=lambda m: None)

    train(corpus, tmp_path / "resumed", TrainConfig(**{**TINY_TRAIN, "max_steps": 20}), echo=lambda m: None)
    with pytest.raises(FileExistsError, match="--resume"):
        train(corpus, tmp_path / "resumed", cfg, echo=lambda m: None)
    # the finished 20-step run is reopened: diffusion continues from step 20, not from scratch
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    for stage in ("diffusion", "export"):
        state["stages"][stage]["done"] = False
    (tmp_path / "resumed" / "state.json").write_text(json.dumps(state))
    train(corpus, tmp_path / "resumed", cfg, resume=True, echo=lambda m: None)
    steps = [r["step"] for r in _log(tmp_path / "resumed") if r["stage"] == "diffusion"]
    assert steps == [0, 20, 20, 40]  # step 20 is evaluated again on reopening, then the run goes on
    a = torch.load(tmp_path / "straight" / "checkpoints" / "diffusion-last.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "diffusion-last.pt", weights_only=False)
    assert a["step"] == b["step"] == 40
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_reference_is_never_the_target_clip(corpus, tmp_path):
    from models.foley_mini.batches import DropConfig, make_batch
    from models.foley_mini.schedulers import training_scheduler
    from models.foley_mini.train import TrainConfig, train
    from models.foley_mini.train_diffusion import load_pool, load_references, load_text

    run = tmp_path / "run"
    train(corpus, run, TrainConfig(**{**TINY_TRAIN, "max_steps": 1}), echo=lambda m: None)
    pool = load_pool(run / "cache" / "pool-train.safetensors")
    refs = load_references(run / "cache" / "refs.safetensors")
    text = load_text(run / "cache" / "text.safetensors")
    from models.foley_mini.batches import _choose_reference

    rng = np.random.default_rng(0)
    by_cat = refs.by_category()
    for i in range(len(pool)):
        j = _choose_reference(pool.meta[i], refs, by_cat, rng)
        assert j is not None
        assert refs.meta[j]["clip_id"] not in pool.meta[i]["clip_ids"]
        assert refs.meta[j]["category"] == pool.meta[i]["category"]
    b = make_batch(pool, refs, text, np.arange(8), rng, torch.Generator().manual_seed(0), training_scheduler(),
                   DropConfig(text=0.0, reference=0.0, timing=0.0), by_cat=by_cat)
    assert b["reference_mask"].sum() == 8 and b["timing"].shape == (8, 2, pool.sustain.shape[1])
