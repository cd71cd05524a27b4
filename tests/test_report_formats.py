"""foleyflow report --format html|premis|prov|bagit on a delivered film (from the real flow)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foleyflow.cli import app

pytestmark = pytest.mark.slow


def _report(fmt: str, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(app, ["report", "--format", fmt, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output


def test_document_formats_from_the_catalog(delivered, tmp_path):
    import bagit
    import prov.model
    from lxml import etree
    import sqlalchemy as sa

    from catalog.db import session_scope
    from catalog.models import Event
    from catalog.premis import schema

    with session_scope() as s:
        n_events = s.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.film_id == delivered["id"]))

    html = tmp_path / "report.html"
    _report("html", html, "--film", str(delivered["id"]))
    text = html.read_text()
    images = re.findall(r'src="data:image/(png|jpeg);base64,([^"]+)"', text)
    assert len(images) >= len(delivered["shots"])  # a keyframe per shot at least
    assert all(base64.b64decode(data)[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"\xff\xd8\xff\xe1")
               or base64.b64decode(data)[:2] == b"\xff\xd8" for _, data in images)

    premis = tmp_path / "premis.xml"
    _report("premis", premis, "--film", str(delivered["id"]))
    doc = etree.parse(str(premis))
    assert schema().validate(doc)
    ns = {"p": "http://www.loc.gov/premis/v3"}
    assert len(doc.findall(".//p:event", ns)) == n_events

    provfile = tmp_path / "prov.json"
    _report("prov", provfile, "--film", str(delivered["id"]))
    document = prov.model.ProvDocument.deserialize(content=provfile.read_text(), format="json")
    kinds = {type(r).__name__ for r in document.get_records()}
    assert {"ProvGeneration", "ProvUsage", "ProvAssociation", "ProvDerivation"} <= kinds, kinds

    bag_dir = tmp_path / "bag"
    _report("bagit", bag_dir, "--film", str(delivered["id"]), "--organization", "Test Archive")
    bag = bagit.Bag(str(bag_dir))
    assert bag.is_valid() and bag.info["Source-Organization"] == "Test Archive"
    mp4s = [p for p in (bag_dir / "data").rglob("*.mp4")]
    assert len(mp4s) == 1
    assert hashlib.sha256(mp4s[0].read_bytes()).hexdigest() == delivered["delivery_sha256"]
    # a bag is never written into a folder that holds something
    result = CliRunner().invoke(app, ["report", "--format", "bagit", "--out", str(bag_dir)])
    assert result.exit_code == 1 and "foleyflow: error:" in result.stderr
