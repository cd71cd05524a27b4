"""process_collection: one collection run, one process_film subflow per film.

A film that fails is recorded as failed (with its reason) and the run goes on
with the next film. The run itself, its Prefect flow-run id, parameters and
code version are recorded in the catalog. One run of a collection at a time:
a second run of the same collection waits for the first (a Prefect global
concurrency limit per collection, :func:`one_run_per_collection`).
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from pathlib import Path

import httpx
from prefect import flow, get_client, get_run_logger
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectHTTPStatusError
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from catalog import repo
from catalog.db import init_catalog, session_scope
import sqlalchemy as sa

from catalog.models import Film, Run, Status
from flows import artifacts
from flows.film import process_film
from flows.runners import task_runner
from flows.options import FilmInput, RunOptions, ShotOverrideInput
from foleyflow.manifest import load_collection
from foleyflow.provenance import code_version


def films_from_source(source: str, shots_csv: str | None = None, name: str | None = None) -> tuple[str, str, list[FilmInput]]:
    """Read a folder or manifest into (collection name, source path, films)."""
    coll = load_collection(source, shots_csv=shots_csv, name=name)
    films = [
        FilmInput(path=str(f.path), title=f.title, description=f.description, negative_prompt=f.negative_prompt,
                  shot_overrides={i: ShotOverrideInput(description=o.description, negative_prompt=o.negative_prompt,
                                                    dialogue=o.dialogue, voice=o.voice)
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
    init_catalog()
    name, src, films = films_from_source(source, shots_csv, collection_name)
    with one_run_per_collection(name):
        return _run_collection(source, options, shots_csv, name, src, films)


def collection_limit_name(name: str) -> str:
    """The Prefect global concurrency limit that keeps one run per collection at a time."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:48] or "collection"
    return f"foleyflow-collection-{slug}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


@contextmanager
def one_run_per_collection(name: str):
    """Hold the collection's slot (limit 1, created on first use): a second run of it waits for this one.

    Runs of different collections do not wait for each other. The limit shows in the Prefect UI under
    Concurrency, where an administrator can raise it.
    """
    limit = collection_limit_name(name)
    try:
        with get_client(sync_client=True) as client:
            try:
                client.read_global_concurrency_limit_by_name(limit)
            except ObjectNotFound:
                try:
                    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=limit, limit=1))
                except ObjectAlreadyExists:
                    pass  # another run created it first
    except (httpx.HTTPError, PrefectHTTPStatusError) as exc:  # pragma: no cover (server unreachable)
        get_run_logger().warning("could not set up the concurrency limit %s (%s): running without it", limit, exc)
        yield
        return
    with concurrency(limit, occupy=1, strict=False):
        yield


def _run_collection(source: str, options: RunOptions, shots_csv: str | None, name: str, src: str,
                    films: list[FilmInput]) -> dict:
    logger = get_run_logger()
    with session_scope() as s:
        collection = repo.upsert_collection(s, name=name, source_path=src)
        run = repo.start_run(s, flow_run_id=str(flow_run.get_id() or ""), flow_name="process-collection",
                             parameters={"source": source, "options": options.model_dump(), "shots_csv": shots_csv},
                             code_version=code_version())
        collection_id, run_id = collection.id, run.id

    film_flow = process_film.with_options(task_runner=task_runner(options))
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
             "| film | id | status | delivered | error |", "|---|---|---|---|---|"]
    lines += [f"| {r['title']} | {r.get('film_id') or ''} | {r['status']} | {artifacts.delivery_link(r.get('film_id'))} "
              f"| {(r.get('error') or '').replace('|', '/')} |" for r in results]
    lines += ["", "Each film's shots: the table artifact `film-<id>-shots`; each shot's keyframe, sound and "
              "candidates for review: `film-<id>-shot-<index>`."]
    try:
        create_markdown_artifact(markdown="\n".join(lines), key="collection-progress", description=f"Run of {name}")
    except Exception:  # noqa: BLE001
        get_run_logger().warning("could not write the progress artifact")


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(process_collection(str(Path(sys.argv[1]))))
