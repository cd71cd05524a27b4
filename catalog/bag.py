"""A BagIt bag (the Library of Congress ``bagit`` package) of a selection: deliveries, stems and every report.

Layout of the payload (``data/``)::

    films/<film id>-<title>/<delivery MP4>            the film's latest delivery
    films/<film id>-<title>/<delivery stem WAV>       its generated soundtrack stem
    reports/generations.parquet, generations.csv, report.html, premis.xml, prov.json

Manifests are sha256. Each copied file is checked against the catalog's sha256 first (a file that
changed on disk is a fixity failure, not something to bag). The bag is built in a temporary folder
beside ``out``, validated with ``bagit.Bag(...).validate()`` and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Callable

import bagit

from catalog.provenance import Provenance


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_target(out: Path) -> None:
    """Raise FileExistsError unless ``out`` is absent or an empty directory."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty directory: give a new --out folder for the bag")


def write_bag(p: Provenance, out: Path, reports: dict[str, Callable[[Path], None]], *,
              organization: str) -> dict:
    """Write the bag of ``p`` to the directory ``out``; ``reports`` maps file names to writers.

    Returns:
        ``{"path", "films", "payload_files"}``.

    Raises:
        FileExistsError: ``out`` exists and is not an empty directory.
        FileNotFoundError: a delivered file of the catalog is missing.
        ValueError: a delivered file's sha256 differs from the catalog's.
    """
    out = Path(out)
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        delivered = []
        for film in p.films:
            deliveries = p.deliveries.get(film.id, [])
            if not deliveries:
                continue
            d = deliveries[-1]
            folder = tmp / "films" / f"{film.id}-{_slug(film.title or Path(film.path).stem)}"
            folder.mkdir(parents=True)
            for src, sha in ((d.path, d.sha256), (d.soundtrack_path, d.soundtrack_sha256)):
                src = Path(src)
                if not src.is_file():
                    raise FileNotFoundError(f"film {film.id}: delivered file {src} is missing; re-deliver it with "
                                            f"`foleyflow rerun --film {film.id}`")
                dst = folder / src.name
                shutil.copyfile(src, dst)
                if _sha256(dst) != sha:
                    raise ValueError(f"film {film.id}: {src} no longer matches the catalog's sha256 {sha} "
                                     "(fixity failure); re-deliver the film before bagging it")
            delivered.append(f"{film.title or film.path} (film {film.id}, delivery v{d.version})")
        (tmp / "reports").mkdir()
        for name, write in reports.items():
            write(tmp / "reports" / name)
        description = (f"foleyflow provenance bag of {p.selection}: {len(p.films)} film(s), "
                       f"{len(delivered)} delivered with a generated soundtrack"
                       + (f" ({'; '.join(delivered)})" if delivered else "")
                       + ". Each film's latest delivery MP4 and its WAV stem; reports in Parquet, CSV, HTML, "
                         "PREMIS 3 XML and W3C PROV-JSON.")
        info = {"Source-Organization": organization, "External-Description": description,
                "Bag-Group-Identifier": "; ".join(sorted({c for cs in p.collections.values() for c in cs})) or p.selection}
        bag = bagit.make_bag(str(tmp), info, checksums=["sha256"])  # adds Bagging-Date, Payload-Oxum
        bag = bagit.Bag(str(tmp))
        bag.validate()
        files = sum(1 for _ in bag.payload_files())
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {"path": str(out), "films": len(p.films), "payload_files": files}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "film"
