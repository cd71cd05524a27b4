"""foleyflow report --format html|premis|prov|bagit on a delivered film (from the real flow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from foleyflow.cli import app
from tests.report_checks import check_bag, check_html, check_premis, check_prov, film_events

pytestmark = pytest.mark.slow


def _report(fmt: str, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(app, ["report", "--format", fmt, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output


def test_document_formats_from_the_catalog(delivered, tmp_path):
    film = ["--film", str(delivered["id"])]
    _report("html", tmp_path / "report.html", *film)
    check_html(tmp_path / "report.html", delivered)

    _report("premis", tmp_path / "premis.xml", *film)
    check_premis(tmp_path / "premis.xml", film_events(delivered["id"]))

    _report("prov", tmp_path / "prov.json", *film)
    check_prov(tmp_path / "prov.json")

    bag_dir = tmp_path / "bag"
    _report("bagit", bag_dir, *film, "--organization", "Test Archive")
    check_bag(bag_dir, delivered, "Test Archive")
    # a bag is never written into a folder that holds something
    result = CliRunner().invoke(app, ["report", "--format", "bagit", "--out", str(bag_dir)])
    assert result.exit_code == 1 and "foleyflow: error:" in result.stderr
