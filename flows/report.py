"""export_report: a provenance report of a collection, a film or the whole catalog.

The tabular formats (Parquet, CSV) hold one row per shot generation
(:func:`catalog.report.generation_table`). The flow is the ``export-report``
deployment of prefect.yaml, so archivists can run it from the Prefect UI.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from catalog.db import init_catalog, session_scope
from catalog.report import FORMATS, generation_table, write_report


@flow(name="export-report", flow_run_name="report-{format}", log_prints=True)
def export_report(format: str, out: str, collection_id: int | None = None, film_id: int | None = None) -> dict:
    """Write the report; returns ``{"format", "path", "rows", "films"}``.

    Raises:
        ValueError: an unknown format.
        LookupError: an unknown collection or film id.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown report format {format!r}: choose one of {', '.join(FORMATS)}")
    init_catalog()
    with session_scope() as s:
        frame = generation_table(s, collection_id=collection_id, film_id=film_id)
    path = write_report(frame, format, Path(out))
    get_run_logger().info("%s report of %d generation(s) of %d film(s) written to %s", format, len(frame),
                          frame["film_id"].nunique(), path)
    return {"format": format, "path": str(path), "rows": int(len(frame)), "films": int(frame["film_id"].nunique())}
