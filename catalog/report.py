"""Provenance reports from the catalog: one row per shot generation (Parquet and CSV).

:func:`generation_table` is the table every tabular report is written from; its columns are
:data:`COLUMNS` (documented in the README, "Provenance reports"). :func:`write_report` writes it
atomically (a temporary file beside the target, then a rename), so a failed export never leaves
half a report behind.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.orm import Session

from catalog.models import Collection, CollectionFilm, Film, Generation, Review, Shot

FORMATS = ("parquet", "csv")

#: column -> (pyarrow type, meaning); the README's schema table is this list.
COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "collection": (pa.string(), "collection name(s) the film belongs to, ';'-joined"),
    "film_id": (pa.int64(), "catalog id of the film"),
    "film_title": (pa.string(), "film title"),
    "film_sha256": (pa.string(), "sha256 of the ingested film file"),
    "shot_id": (pa.int64(), "catalog id of the shot"),
    "shot_index": (pa.int64(), "0-based position of the shot in the film"),
    "start_s": (pa.float64(), "shot start in the film, seconds"),
    "end_s": (pa.float64(), "shot end in the film, seconds"),
    "shot_status": (pa.string(), "pending, running, done, failed or rejected"),
    "generation_id": (pa.int64(), "catalog id of the generation (the watermark payload points here)"),
    "attempt": (pa.int64(), "generation attempt of the shot (1, 2, ... as it is re-run)"),
    "candidate": (pa.int64(), "candidate number within the attempt"),
    "selected": (pa.bool_(), "whether this candidate is the shot's sound"),
    "seed": (pa.int64(), "seed of the candidate"),
    "prompt": (pa.string(), "text prompt used"),
    "negative_prompt": (pa.string(), "negative prompt used"),
    "model_id": (pa.string(), "generator id, e.g. builtin:foley-mini"),
    "weights_sha256": (pa.string(), "sha256 of the generator weights"),
    "scheduler": (pa.string(), "diffusion scheduler class"),
    "steps": (pa.int64(), "denoising steps"),
    "guidance": (pa.float64(), "classifier-free guidance scale"),
    "duration_s": (pa.float64(), "length of the generated audio, seconds"),
    "audio_path": (pa.string(), "path of the candidate's WAV"),
    "audio_sha256": (pa.string(), "sha256 of the candidate's WAV"),
    "score_sync": (pa.float64(), "sync score (audio onsets against visual activity)"),
    "score_lufs": (pa.float64(), "integrated loudness, LUFS"),
    "scores_json": (pa.string(), "every automatic check of the candidate, JSON"),
    "attributions_json": (pa.string(), "corpus clips the candidate was conditioned on (id, author, licence), JSON"),
    "review": (pa.string(), "latest archivist decision on the shot: accept, reject or empty"),
    "reviewer": (pa.string(), "who made that decision"),
    "created": (pa.timestamp("us", tz="UTC"), "when the generation was recorded"),
}


def check_selection(session: Session, *, collection_id: int | None, film_id: int | None) -> None:
    """Raises LookupError for a collection or film id the catalog does not hold."""
    if collection_id is not None and session.get(Collection, collection_id) is None:
        raise LookupError(f"no collection with id {collection_id} in the catalog (`foleyflow status` lists them)")
    if film_id is not None and session.get(Film, film_id) is None:
        raise LookupError(f"no film with id {film_id} in the catalog (`foleyflow status` lists them)")


def generation_table(session: Session, *, collection_id: int | None = None, film_id: int | None = None) -> pd.DataFrame:
    """Every generation of the selected films, one row each, columns :data:`COLUMNS`.

    Raises:
        LookupError: an unknown collection or film id.
    """
    check_selection(session, collection_id=collection_id, film_id=film_id)
    q = (sa.select(Generation, Shot, Film).join(Shot, Generation.shot_id == Shot.id).join(Film, Shot.film_id == Film.id)
         .order_by(Film.id, Shot.index, Generation.attempt, Generation.candidate))
    if film_id is not None:
        q = q.where(Film.id == film_id)
    if collection_id is not None:
        q = q.where(Film.id.in_(sa.select(CollectionFilm.film_id).where(CollectionFilm.collection_id == collection_id)))
    names: dict[int, list[str]] = {}
    for fid, name in session.execute(sa.select(CollectionFilm.film_id, Collection.name)
                                     .join(Collection, Collection.id == CollectionFilm.collection_id)):
        names.setdefault(fid, []).append(name)
    latest: dict[int, Review] = {}
    for r in session.scalars(sa.select(Review).order_by(Review.id)):
        latest[r.shot_id] = r
    rows = []
    for g, shot, film in session.execute(q):
        review = latest.get(shot.id)
        scores = g.scores or {}
        rows.append({
            "collection": ";".join(sorted(names.get(film.id, []))), "film_id": film.id, "film_title": film.title,
            "film_sha256": film.sha256, "shot_id": shot.id, "shot_index": shot.index, "start_s": shot.start_s,
            "end_s": shot.end_s, "shot_status": shot.status, "generation_id": g.id, "attempt": g.attempt,
            "candidate": g.candidate, "selected": bool(g.selected), "seed": g.seed, "prompt": g.prompt,
            "negative_prompt": g.negative_prompt, "model_id": g.model_id, "weights_sha256": g.weights_sha256,
            "scheduler": g.scheduler, "steps": g.steps, "guidance": g.guidance, "duration_s": g.duration_s,
            "audio_path": g.audio_path, "audio_sha256": g.audio_sha256,
            "score_sync": _number(scores.get("sync")), "score_lufs": _number(scores.get("lufs")),
            "scores_json": json.dumps(scores, sort_keys=True), "attributions_json": json.dumps(g.attributions or []),
            "review": review.decision if review else "", "reviewer": review.reviewer if review else "",
            "created": g.created,
        })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    return frame


def _number(v) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def schema() -> pa.Schema:
    """The Parquet schema of :func:`generation_table`, with each column's meaning as field metadata."""
    return pa.schema([pa.field(k, t, metadata={"description": d}) for k, (t, d) in COLUMNS.items()])


def write_report(frame: pd.DataFrame, fmt: str, out: Path) -> Path:
    """Write ``frame`` as ``fmt`` (parquet or csv) to ``out``, atomically; returns ``out``.

    Raises:
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if fmt == "parquet":
            table = pa.Table.from_pandas(frame, schema=schema(), preserve_index=False)
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


#: Formats made from the whole provenance record (catalog.provenance) rather than the generation table.
DOCUMENT_FORMATS = ("html", "premis", "prov", "bagit")


def check_format(fmt: str) -> None:
    """Raises ValueError, naming every format, unless ``fmt`` is one :func:`export` writes."""
    if fmt not in FORMATS + DOCUMENT_FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS + DOCUMENT_FORMATS)}")


def _write_text(out: Path, data: bytes) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def export(session: Session, fmt: str, out: Path, *, collection_id: int | None = None, film_id: int | None = None,
           organization: str = "") -> dict:
    """Any report format to ``out`` (a file; for bagit a new directory); returns ``{"path", "rows", "films"}``.

    Raises:
        ValueError: an unknown format; LookupError: an unknown film or collection;
        FileExistsError: a bag's directory exists and is not empty.
    """
    check_format(fmt)
    frame = generation_table(session, collection_id=collection_id, film_id=film_id)  # before provenance.load
    if fmt in FORMATS:
        return {"path": write_report(frame, fmt, out), "rows": len(frame), "films": int(frame["film_id"].nunique())}
    from catalog import provenance

    p = provenance.load(session, collection_id=collection_id, film_id=film_id)
    writers = {
        "html": lambda path: _write_text(path, _html(p).encode()),
        "premis": lambda path: _write_text(path, _premis(p)),
        "prov": lambda path: _write_text(path, _prov(p).encode()),
    }
    if fmt == "bagit":
        from catalog.bag import write_bag

        reports = {"generations.parquet": lambda path: write_report(frame, "parquet", path),
                   "generations.csv": lambda path: write_report(frame, "csv", path),
                   "report.html": writers["html"], "premis.xml": writers["premis"], "prov.json": writers["prov"]}
        result = write_bag(p, Path(out), reports, organization=organization or "foleyflow")
        return {"path": Path(result["path"]), "rows": len(frame), "films": len(p.films)}
    return {"path": writers[fmt](Path(out)), "rows": len(frame), "films": len(p.films)}


def _html(p) -> str:
    from catalog.report_html import render

    return render(p)


def _premis(p) -> bytes:
    from catalog.premis import to_bytes

    return to_bytes(p)


def _prov(p) -> str:
    from catalog.provjson import to_json

    return to_json(p)
