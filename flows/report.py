"""export_report: a provenance report of a collection, a film or the whole catalog, in any report format.

The flow is the ``export-report`` deployment of prefect.yaml, so archivists can run it from the
Prefect UI; it writes exactly what ``foleyflow report`` writes, through the same
:func:`catalog.report.export` (parquet and csv: one row per shot generation; html, premis, prov;
bagit: a new directory). Every format is written atomically (a temporary file or folder beside
``out``, then a rename), so a failed run leaves nothing half-written. Each run publishes the
markdown artifact ``report-<format>``, naming the written file(s) with their sha256.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger

from catalog.db import init_catalog, session_scope
from catalog.report import check_format, export


@flow(name="export-report", flow_run_name="report-{format}", log_prints=True)
def export_report(format: str, out: str, collection_id: int | None = None, film_id: int | None = None,
                  organization: str = "") -> dict:
    """Write the report; returns ``{"format", "path", "rows", "films", "files"}``.

    Args:
        format: parquet, csv, html, premis, prov or bagit.
        out: the report file to write (bagit: a new or empty directory).
        collection_id, film_id: only this collection / film (both: the film, if in the collection).
        organization: bagit only, its Source-Organization (default ``$FOLEYFLOW_ORGANIZATION``, as
            ``foleyflow report``, else "foleyflow").

    ``files`` lists ``{"path", "sha256"}`` of what was written: the report file, or every file of
    the bag (from its manifests, which the bag was validated against before it was put in place).

    Raises:
        ValueError: an unknown format.
        LookupError: an unknown collection or film id.
        FileExistsError: bagit, and ``out`` exists and is not an empty directory.
    """
    logger = get_run_logger()
    check_format(format)  # before the catalog is touched
    organization = organization or os.environ.get("FOLEYFLOW_ORGANIZATION", "")
    if organization and format != "bagit":
        logger.warning("organization %r is only used by the bagit format; ignored for %s", organization, format)
    init_catalog()
    with session_scope() as s:
        result = export(s, format, Path(out), collection_id=collection_id, film_id=film_id,
                        organization=organization)
    path = Path(result["path"])
    files = _written_files(format, path)
    logger.info("%s report of %d generation(s) of %d film(s) written to %s", format, result["rows"],
                result["films"], path)
    _artifact(format, path, files, result, collection_id=collection_id, film_id=film_id)
    return {"format": format, "path": str(path), "rows": int(result["rows"]), "films": int(result["films"]),
            "files": files}


def _written_files(fmt: str, path: Path) -> list[dict]:
    """``[{"path", "sha256"}]`` of the report: one file, or a bag's files (its manifests' sha256)."""
    from tasks.ingest import sha256_file

    if fmt != "bagit":
        return [{"path": str(path), "sha256": sha256_file(path)}]
    import bagit

    bag = bagit.Bag(str(path))
    files = [{"path": str(path / rel), "sha256": hashes["sha256"]} for rel, hashes in sorted(bag.entries.items())]
    tagmanifest = path / "tagmanifest-sha256.txt"  # the one file no manifest lists
    if tagmanifest.is_file():
        files.append({"path": str(tagmanifest), "sha256": sha256_file(tagmanifest)})
    return files


def _artifact(fmt: str, path: Path, files: list[dict], result: dict, *, collection_id: int | None,
              film_id: int | None) -> None:
    """The ``report-<format>`` markdown artifact; a view, so a failure is a warning, not a failed report."""
    selection = ", ".join(f"{k} {v}" for k, v in (("collection", collection_id), ("film", film_id)) if v is not None)
    selection = selection or "the whole catalog"
    lines = [f"# {fmt} report", "", f"{result['rows']} generation(s) of {result['films']} film(s) ({selection}), "
             f"written to `{_cell(path)}`.", "", "| file | sha256 |", "|---|---|"]
    lines += [f"| `{_cell(Path(f['path']).relative_to(path) if fmt == 'bagit' else f['path'])}` | `{f['sha256']}` |"
              for f in files]
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(markdown="\n".join(lines), key=f"report-{fmt}",
                                 description=f"{fmt} report of {selection}")
    except Exception:  # noqa: BLE001 - the report is written; the artifact only shows it
        get_run_logger().warning("could not write the report artifact")


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("`", "'")
