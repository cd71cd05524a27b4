"""The train-model flow (flows/train.py) and the `foleyflow train` command, on a tiny synthetic corpus."""

from __future__ import annotations

import json

import pytest

from tests.synth_corpus import make_corpus


def test_flow_runs_every_stage_and_resumes_without_redoing_them(prefect_harness, tmp_path):
    from flows.train import train_model

    corpus = make_corpus(tmp_path / "corpus")
    state = train_model(str(corpus), str(tmp_path / "run"), minutes=0.4, seed=3, preset="tiny")
    assert all(state["stages"][s]["done"] for s in ("autoencoder", "encode", "diffusion", "export"))
    assert (tmp_path / "run" / "pipeline" / "model_index.json").is_file()
    assert state["config"]["seed"] == 3
    log = (tmp_path / "run" / "train-log.jsonl").read_text().splitlines()
    again = train_model(str(corpus), str(tmp_path / "run"), minutes=0.4, seed=3, preset="tiny", resume=True)
    assert again["stages"] == state["stages"]
    assert (tmp_path / "run" / "train-log.jsonl").read_text().splitlines() == log  # nothing was trained again


def test_cli_refuses_a_missing_corpus_and_an_existing_run(tmp_path):
    from typer.testing import CliRunner

    from foleyflow.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["train", "--corpus", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert res.exit_code == 1
    assert "foleyflow: error:" in res.output and "corpus build" in res.output
    corpus = make_corpus(tmp_path / "corpus")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.json").write_text(json.dumps({"config": {}, "corpus": str(corpus), "stages": {}}))
    res = runner.invoke(app, ["train", "--corpus", str(corpus), "--out", str(tmp_path / "run")])
    assert res.exit_code == 1 and "--resume" in res.output
    res = runner.invoke(app, ["train", "--corpus", str(corpus), "--out", str(tmp_path / "x"), "--minutes", "0"])
    assert res.exit_code == 1 and "positive" in res.output
