"""rerun_shots: redo the sound of the shots that failed or that an archivist rejected, nothing else.

The shots come from the catalog (:func:`catalog.repo.shots_for_rerun`). Each
affected film runs through :func:`flows.film.process_film` again with the
options of the run that last processed it (so the finished upstream stages,
shots, cleaning and timing curves, are found and reused) and with
``only_shots`` set: the named shots get new candidates (with the new words and
the new seeds their rejection asked for), every other shot keeps the sound it
has, and the film is re-stitched and delivered again as a new version linked
to the one before.
"""

from __future__ import annotations

import sqlalchemy as sa
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from catalog import repo
from catalog.db import init_catalog, session_scope
from catalog.models import CollectionFilm, Event, Film, Run, Status
from flows.film import process_film
from flows.runners import task_runner
from flows.options import FilmInput, RunOptions
from foleyflow.provenance import code_version


def _last_options(session, film_id: int) -> RunOptions:
    """The options of the latest recorded run that processed the film (defaults when there is none)."""
    runs = session.scalars(
        sa.select(Run).join(Event, Event.run_id == Run.id).where(Event.film_id == film_id)
        .where(Run.flow_name == "process-collection").order_by(Run.id.desc())).first()
    if runs is None or "options" not in (runs.parameters or {}):
        return RunOptions()
    saved = dict(runs.parameters["options"])  # a re-run uses them too, with only_shots of its own
    saved.pop("only_shots", None)
    return RunOptions(**saved)


@flow(name="rerun-shots", flow_run_name="rerun-shots", log_prints=True)
def rerun_shots(failed: bool = True, rejected: bool = True, film_id: int | None = None,
                shot_ids: list[int] | None = None) -> dict:
    """Redo the selected shots' sound and re-deliver their films.

    Arguments:
        failed, rejected: take the shots with that status.
        film_id: only shots of this film; the film is re-delivered even when none of its shots is redone.
        shot_ids: these shots too (catalog ids), whatever their status; a shot whose latest review
            accepted it is kept (``kept_accepted``) until an archivist rejects it.

    Returns:
        ``{"run_id", "shots": [ids redone], "kept_accepted": [ids], "films": [{"film_id", "title", "status", "error", "shots"}], "failed": int}``

    Raises:
        LookupError: an unknown film or shot id.
    """
    logger = get_run_logger()
    init_catalog()
    with session_scope() as s:
        shots = repo.shots_for_rerun(s, failed=failed, rejected=rejected, film_id=film_id, shot_ids=shot_ids or ())
        by_film: dict[int, list[int]] = {}
        kept: list[int] = []
        for shot in shots:
            decisions = repo.reviews(s, shot)
            if decisions and decisions[-1].decision == "accept":
                kept.append(shot.id)  # the archivist's decision stands until they reject the shot
                logger.warning("shot %s was accepted by %s: kept; reject it first to redo it", shot.id,
                               decisions[-1].reviewer)
                by_film.setdefault(shot.film_id, [])
                continue
            if shot.id in (shot_ids or ()) and shot.status != Status.REJECTED.value:
                shot.reroll = (shot.reroll or 0) + 1  # asked for by id: something new, not the same seeds again
            by_film.setdefault(shot.film_id, []).append(shot.id)
        if film_id is not None and film_id not in by_film:
            by_film[film_id] = []  # no shot to redo: re-stitched and delivered (e.g. another candidate accepted)
        plans = []
        for fid, ids in by_film.items():
            film = s.get(Film, fid)
            link = s.scalars(sa.select(CollectionFilm.collection_id).where(CollectionFilm.film_id == fid)).first()
            options = _last_options(s, fid).model_copy(update={"only_shots": ids})
            plans.append((FilmInput(path=film.path, title=film.title or film.path, description=film.description or "",
                                    negative_prompt=film.negative_prompt or ""), options, link, ids))
        run = repo.start_run(s, flow_run_id=str(flow_run.get_id() or ""), flow_name="rerun-shots",
                             parameters={"failed": failed, "rejected": rejected, "film_id": film_id,
                                         "shot_ids": [sh.id for sh in shots]},
                             code_version=code_version())
        run_id = run.id
    if not plans:
        logger.info("nothing to re-run: no shot matches")
    results = []
    for film, options, collection_id, ids in plans:
        logger.info("film %s: re-running shot(s) %s", film.title, ids)
        flow_ = process_film.with_options(task_runner=task_runner(options))
        state = flow_(film=film, options=options, collection_id=collection_id, run_id=run_id, return_state=True)
        if state.is_completed():
            results.append({**state.result(), "title": film.title, "shots": ids})
            continue
        try:
            state.result()
            reason = state.message
        except Exception as exc:  # noqa: BLE001 - recorded, and the other films go on
            reason = str(exc)
        logger.error("film %s failed: %s", film.title, reason)
        results.append({"film_id": None, "path": film.path, "title": film.title, "status": Status.FAILED.value,
                        "error": reason, "shots": ids})
    failures = sum(r["status"] != Status.DONE.value for r in results)
    with session_scope() as s:
        repo.finish_run(s, s.get(Run, run_id), Status.FAILED if failures else Status.DONE)
    return {"run_id": run_id, "shots": [sh for r in results for sh in r["shots"]], "kept_accepted": kept,
            "films": results, "failed": failures}
