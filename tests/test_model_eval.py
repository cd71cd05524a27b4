"""Measuring and shipping foley-mini (models/foley_mini/evaluate.py, model_card.py, ship.py) on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.foley_fixtures import train_tiny


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.manual_seed(0)
    return train_tiny(tmp_path_factory.mktemp("eval"))


def test_impulse_curves_have_3_to_6_separated_impulses_in_range():
    from models.foley_mini.evaluate import impulse_curves, impulse_timing
    from models.foley_mini.timing import curve_onsets

    curves = impulse_curves(20, 4.096, seed=1)
    assert len(curves) == 20 and all(3 <= len(c) <= 6 for c in curves)
    assert all(np.diff(c).min() >= 0.3 and c.min() > 0 and c.max() < 4.096 for c in curves)
    timing = impulse_timing(curves[0], 4.096)
    assert timing.shape == (2, 257) and 0 <= timing.min() and timing.max() <= 1
    assert np.allclose(curve_onsets(timing) / 62.5, curves[0], atol=0.02)


def test_sync_measure_scores_audio_against_its_curves(run_dir):
    from models.foley_mini.evaluate import sync_f1
    from models.foley_mini.pipeline import FoleyMiniPipeline

    pipe = FoleyMiniPipeline.from_pretrained(str(run_dir / "pipeline"), low_cpu_mem_usage=False)
    pipe.set_progress_bar_config(disable=True)
    res = sync_f1(pipe, ["door knock"], count=2, steps=2, seconds=2.0)
    assert 0 <= res["f1"] <= 1 and 0 <= res["f1_wrong_curve"] <= 1
    assert len(res["per_clip"]) == 2 and res["curves"] == 2


def test_ship_copies_the_pipeline_with_a_model_card_and_attributions(run_dir, tmp_path):
    from models.foley_mini.pipeline import FoleyMiniPipeline
    from models.foley_mini.ship import ship

    figures = {"sync": {"f1": 0.9, "precision": 0.9, "recall": 0.9, "f1_wrong_curve": 0.2, "curves": 20},
               "speed": {"rtf": 7.0, "audio_s": 8.192, "steps": 20, "threads": 2}, "sizes": {"denoiser": 1}}
    target = ship(run_dir, tmp_path / "foley-mini", figures=figures)
    card = (target / "MODEL_CARD.md").read_text()
    assert "CC0-1.0" in card and "synthetic-data" in card and "0.9" in card
    rows = (target / "ATTRIBUTIONS.csv").read_text().splitlines()
    assert rows[0].startswith("clip_id,package,source_file,author,licence") and len(rows) == 1 + 12
    assert json.loads((target / "figures.json").read_text())["bank_licences"] == {"CC0-1.0": 12}
    FoleyMiniPipeline.from_pretrained(str(target), low_cpu_mem_usage=False)  # the shipped copy loads
    with pytest.raises(ValueError, match="MB"):
        ship(run_dir, tmp_path / "small", max_mb=0.01, figures=figures)
    assert not (tmp_path / "small").exists()


def test_bench_figures_go_into_the_model_card_once(tmp_path):
    from models.foley_mini.model_card import add_bench

    def fig(f1: float) -> dict:
        sys3 = lambda v: {"generator": v, "shaped noise": v, "retrieval": v}  # noqa: E731
        return {"steps": 20, "guidance": 3.0, "seed": 0, "quick": True, "weights_sha256": "ab" * 32,
                "sync_video": {k: {"f1": v} for k, v in sys3(f1).items()},
                "sync_impulses": {k: {"f1": 1.0, "f1_wrong_curve": 0.2} for k in sys3(0)},
                "adherence": {"categories": list("abcdefgh"), "real_ceiling": 0.8, "chance": 0.125,
                              **{k: {"accuracy": 0.5} for k in sys3(0)}},
                "negative_prompt": {"generator": {"p_excluded_without": 0.1, "p_excluded_with": 0.05}},
                "speed": {"generator": {"rtf": 5.5, "anchor_matmul_gflops": 40}},
                "novelty": {"generator": {"novel_or_attributed_fraction": 1.0, "novel_fraction": 1.0}},
                "targets": {"sync_video_f1": {"pass": f1 >= 0.85}}}

    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# foley-mini\n\nintro\n")
    add_bench(card, fig(0.42))
    add_bench(card, fig(0.91))
    text = card.read_text()
    assert text.startswith("# foley-mini\n\nintro\n") and text.count("## Bench") == 1
    assert "| 0.91 |" in text and "| 0.42 |" not in text and ">= 0.85 met" in text
