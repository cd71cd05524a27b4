"""Provenance reports: Parquet and CSV with one row per shot generation, true to the catalog and the files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.slow


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_parquet_and_csv_reports_hold_one_row_per_generation_matching_the_files(delivered, tmp_path):
    from catalog.report import COLUMNS
    from foleyflow.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["report", "--format", "parquet", "--out", str(tmp_path / "r.parquet")])
    assert out.exit_code == 0, out.output
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.schema.names == list(COLUMNS)
    assert table.schema.field("prompt").metadata[b"description"]
    frame = table.to_pandas()
    shots = delivered["shots"]
    assert len(frame) == 2 * len(shots)  # two candidates per shot
    assert sorted(frame["shot_id"].unique()) == sorted(s["id"] for s in shots)
    assert frame.groupby("shot_id")["selected"].sum().eq(1).all()
    assert frame["generation_id"].is_unique
    assert all(_sha(p) == h for p, h in zip(frame["audio_path"], frame["audio_sha256"]))
    assert frame["weights_sha256"].str.len().eq(64).all() and frame["score_lufs"].notna().all()
    assert (frame.groupby("shot_id")["seed"].nunique() == 2).all()

    out = runner.invoke(app, ["report", "--format", "csv", "--film", str(delivered["id"]), "--out",
                              str(tmp_path / "r.csv")])
    assert out.exit_code == 0, out.output
    csv = pd.read_csv(tmp_path / "r.csv")
    assert list(csv.columns) == list(COLUMNS)
    assert csv["generation_id"].tolist() == frame["generation_id"].tolist()
    assert csv["audio_sha256"].tolist() == frame["audio_sha256"].tolist()


def test_a_bad_report_request_says_what_is_wrong_and_writes_nothing(delivered, tmp_path):
    from foleyflow.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["report", "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")])
    assert out.exit_code == 1 and "parquet" in out.output
    out = runner.invoke(app, ["report", "--format", "csv", "--film", "999", "--out", str(tmp_path / "r.csv")])
    assert out.exit_code == 1 and "no film with id 999" in out.output
    assert list(tmp_path.glob("r.*")) == [] and list(tmp_path.glob(".r.*")) == []


def test_the_export_report_flow_writes_the_collection_report(delivered, tmp_path):
    from flows.report import export_report

    result = export_report(format="parquet", out=str(tmp_path / "c.parquet"), collection_id=1)
    assert result["rows"] == 2 * len(delivered["shots"]) and result["films"] == 1
    assert len(pd.read_parquet(tmp_path / "c.parquet")) == result["rows"]
