"""The export-report flow writes every format `foleyflow report` does, atomically, with a sha256 artifact.

One delivered film (``delivered_once``) serves the whole module: these tests only read the catalog.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from catalog.report import COLUMNS, DOCUMENT_FORMATS, FORMATS
from tests.report_checks import check_bag, check_html, check_premis, check_prov, film_events

pytestmark = pytest.mark.slow

OUT = {"parquet": "r.parquet", "csv": "r.csv", "html": "report.html", "premis": "premis.xml", "prov": "prov.json",
       "bagit": "bag"}


def _artifact_rows(fmt: str) -> dict[str, str]:
    """The latest ``report-<fmt>`` artifact's table: file -> sha256."""
    from prefect.artifacts import Artifact

    artifact = Artifact.get(f"report-{fmt}")
    assert artifact is not None and artifact.type == "markdown"
    return dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", artifact.data, re.M))


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("fmt", FORMATS + DOCUMENT_FORMATS)
def test_the_flow_writes_each_format_and_names_its_files_with_their_sha256(delivered_once, tmp_path, fmt):
    from flows.report import export_report
    from tasks.ingest import sha256_file

    film = delivered_once
    out = tmp_path / OUT[fmt]
    result = export_report(format=fmt, out=str(out), film_id=film["id"], organization="Test Archive")
    assert result["format"] == fmt and Path(result["path"]) == out and result["films"] == 1
    assert result["rows"] == 2 * len(film["shots"])  # two candidates per shot
    assert _leftovers(tmp_path) == []

    if fmt == "parquet":
        frame = pd.read_parquet(out)
        assert list(frame.columns) == list(COLUMNS) and len(frame) == result["rows"]
    elif fmt == "csv":
        frame = pd.read_csv(out)
        assert list(frame.columns) == list(COLUMNS) and len(frame) == result["rows"]
    elif fmt == "html":
        check_html(out, film)
    elif fmt == "premis":
        check_premis(out, film_events(film["id"]))
    elif fmt == "prov":
        check_prov(out)
    else:
        bag = check_bag(out, film, "Test Archive")
        named = {Path(f["path"]).relative_to(out).as_posix() for f in result["files"]}
        assert set(bag.payload_files()) <= named and "manifest-sha256.txt" in named
        assert "tagmanifest-sha256.txt" in named

    assert all(sha256_file(f["path"]) == f["sha256"] for f in result["files"])
    rows = _artifact_rows(fmt)
    expected = {(Path(f["path"]).relative_to(out).as_posix() if fmt == "bagit" else f["path"]): f["sha256"]
                for f in result["files"]}
    assert rows == expected


def test_a_bad_format_or_selection_fails_clearly_and_writes_nothing(delivered_once, tmp_path):
    from flows.report import export_report

    with pytest.raises(ValueError, match=r"unknown report format 'xlsx': choose one of parquet, csv, html, premis, "
                                         r"prov, bagit"):
        export_report(format="xlsx", out=str(tmp_path / "r.xlsx"))
    with pytest.raises(LookupError, match="no film with id 999"):
        export_report(format="premis", out=str(tmp_path / "r.xml"), film_id=999)
    with pytest.raises(LookupError, match="no collection with id 999"):
        export_report(format="bagit", out=str(tmp_path / "bag"), collection_id=999)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        export_report(format="bagit", out=str(full))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"] and [p.name for p in full.iterdir()] == ["keep.txt"]


def test_a_report_that_fails_while_writing_leaves_nothing_behind(delivered_once, tmp_path, monkeypatch):
    import catalog.report
    from flows.report import export_report

    def broken(p):
        raise RuntimeError("writer broke")

    monkeypatch.setattr(catalog.report, "_prov", broken)
    (tmp_path / "prov.json").write_text("the previous report")
    for fmt, name in (("prov", "prov.json"), ("bagit", "bag")):  # a file; a bag (prov.json is one of its reports)
        with pytest.raises(RuntimeError, match="writer broke"):
            export_report(format=fmt, out=str(tmp_path / name), film_id=delivered_once["id"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prov.json"]  # no bag, no temporary file or folder
    assert (tmp_path / "prov.json").read_text() == "the previous report"
