"""What makes each document report valid: shared by the CLI test (test_report_formats) and the flow test."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path


def film_events(film_id: int) -> int:
    """How many events the catalog holds for the film (the PREMIS report holds one each)."""
    import sqlalchemy as sa

    from catalog.db import session_scope
    from catalog.models import Event

    with session_scope() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.film_id == film_id))


def check_html(path: Path, film: dict) -> None:
    text = Path(path).read_text()
    images = re.findall(r'src="data:image/(png|jpeg);base64,([^"]+)"', text)
    assert len(images) >= len(film["shots"])  # a keyframe per shot at least
    assert all(base64.b64decode(data)[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"\xff\xd8\xff\xe1")
               or base64.b64decode(data)[:2] == b"\xff\xd8" for _, data in images)


def check_premis(path: Path, n_events: int) -> None:
    from lxml import etree

    from catalog.premis import schema

    doc = etree.parse(str(path))
    assert schema().validate(doc)
    ns = {"p": "http://www.loc.gov/premis/v3"}
    assert len(doc.findall(".//p:event", ns)) == n_events


def check_prov(path: Path) -> None:
    import prov.model

    document = prov.model.ProvDocument.deserialize(content=Path(path).read_text(), format="json")
    kinds = {type(r).__name__ for r in document.get_records()}
    assert {"ProvGeneration", "ProvUsage", "ProvAssociation", "ProvDerivation"} <= kinds, kinds


def check_bag(bag_dir: Path, film: dict, organization: str):
    """The bag validates, names the organization and holds the film's delivery; returns the bagit.Bag."""
    import bagit

    bag = bagit.Bag(str(bag_dir))
    assert bag.is_valid() and bag.info["Source-Organization"] == organization
    mp4s = list((Path(bag_dir) / "data").rglob("*.mp4"))
    assert len(mp4s) == 1
    assert hashlib.sha256(mp4s[0].read_bytes()).hexdigest() == film["delivery_sha256"]
    return bag
