"""process_collection: one collection run, one process_film subflow per film.

A film that fails is recorded as failed (with its reason) and the run goes on
with the next film. The run itself, its Prefect flow-run id, parameters and
code version are recorded in the catalog.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from catalog import repo
from catalog.db import init_catalog, session_scope
import sqlalchemy as sa

from catalog.models import Film, Run, Status
from flows.film import process_film
from flows.options import FilmInput, RunOptions, ShotOverrideInput
from foleyflow.manifest import load_collection
from foleyflow.provenance import code_version


def films_from_source(source: str, shots_csv: str | None = None, name: str | None = None) -> tuple[str, str, list[FilmInput]]:
    """Read a folder or manifest into (collection name, source path, films)."""
    coll = load_collection(source, shots_csv=shots_csv, name=name)
    films = [
        FilmInput(path=str(f.path), title=f.title, description=f.description, negative_prompt=f.negative_prompt,
                  shot_overrides={i: ShotOverrideInput(description=o.description, negative_prompt=o.negative_prompt)
                                  for i, o in f.shot_overrides.items()})
        for f in coll.films
    ]
    return coll.name, str(coll.source), films


@flow(name="process-collection", flow_run_name="collection-{source}", log_prints=True)
def process_collection(source: str, options: RunOptions | None = None, shots_csv: str | None = None,
                       collection_name: str | None = None) -> dict:
    """Process every film of a folder or manifest CSV.

    Returns:
        ``{"collection_id", "run_id", "films": [{"path", "film_id", "status", "error"}], "failed": int}``
    """
    options = options or RunOptions()
    logger = get_run_logger()
    init_catalog()
    name, src, films = films_from_source(source, shots_csv, collection_name)
    with session_scope() as s:
        collection = repo.upsert_collection(s, name=name, source_path=src)
        run = repo.start_run(s, flow_run_id=str(flow_run.get_id() or ""), flow_name="process-collection",
                             parameters={"source": source, "options": options.model_dump(), "shots_csv": shots_csv},
                             code_version=code_version())
        collection_id, run_id = collection.id, run.id

    film_flow = process_film.with_options(task_runner=ThreadPoolTaskRunner(max_workers=options.max_workers))
    results = []
    for film in films:
        state = film_flow(film=film, options=options, collection_id=collection_id, run_id=run_id, return_state=True)
        if state.is_completed():
            results.append({**state.result(), "title": film.title})
        else:
            try:
                state.result()
                reason = state.message
            except Exception as exc:  # noqa: BLE001
                reason = str(exc)
            logger.error("film %s failed: %s", film.title, reason)
            results.append({"path": film.path, "title": film.title, "film_id": _film_id(film.path),
                            "status": Status.FAILED.value, "error": reason})
    failed = sum(r["status"] != Status.DONE.value for r in results)
    with session_scope() as s:
        repo.finish_run(s, s.get(Run, run_id), Status.FAILED if failed else Status.DONE)
    _progress(name, results)
    return {"collection_id": collection_id, "run_id": run_id, "films": results, "failed": failed}


def _film_id(path: str) -> int | None:
    with session_scope() as s:
        return s.scalars(sa.select(Film.id).where(Film.path == path).order_by(Film.id.desc())).first()


def _progress(name: str, results: list[dict]) -> None:
    done = sum(r["status"] == Status.DONE.value for r in results)
    lines = [f"# Collection {name}", "", f"{done} of {len(results)} film(s) finished.", "",
             "| film | id | status | error |", "|---|---|---|---|"]
    lines += [f"| {r['title']} | {r.get('film_id') or ''} | {r['status']} | {(r.get('error') or '').replace('|', '/')} |"
              for r in results]
    try:
        create_markdown_artifact(markdown="\n".join(lines), key="collection-progress", description=f"Run of {name}")
    except Exception:  # noqa: BLE001
        get_run_logger().warning("could not write the progress artifact")


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(process_collection(str(Path(sys.argv[1]))))
