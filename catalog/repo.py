"""Catalog operations the flows call.

Every function takes a :class:`~sqlalchemy.orm.Session` first, flushes, and
leaves the commit to :func:`catalog.db.session_scope`. Upserts are idempotent
and safe under concurrent callers (threads or processes, SQLite or
PostgreSQL): rows are created with ``INSERT ... ON CONFLICT DO NOTHING`` on
their unique key and then selected, so two callers never make two rows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

import foleyflow
from catalog.models import (
    PROBE_FIELDS, Collection, CollectionFilm, CorpusClip, Delivery, Event, EventType, Film, Generation, Outcome,
    OutputFile, Review, Run, Shot, Status,
)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHOT_KEYS = ("index", "start_frame", "end_frame", "start_s", "end_s")


def agent_string(*tools: str) -> str:
    """PREMIS agent: ``agent_string("PySceneDetect 0.7.2")`` -> ``"foleyflow 0.1.0 / PySceneDetect 0.7.2"``."""
    return " / ".join((f"foleyflow {foleyflow.__version__}", *tools))


def _check_sha256(sha256: str, what: str = "sha256") -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"{what} must be 64 lowercase hex digits (hashlib.sha256().hexdigest()), got {sha256!r}")
    return sha256


def _insert_ignore(session: Session, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, silently skipping those whose unique ``keys`` already exist."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(table).on_conflict_do_nothing(index_elements=list(keys)), list(rows))
        return
    for row in rows:  # other backends: one savepoint per row
        try:
            with session.begin_nested():
                session.execute(sa.insert(table), [dict(row)])
        except IntegrityError:
            pass


def upsert_collection(session: Session, name: str, source_path: str | None = None) -> Collection:
    """The collection called ``name``, created if new; ``source_path`` is updated when given."""
    if not name:
        raise ValueError("a collection needs a non-empty name")
    _insert_ignore(session, Collection.__table__, [{"name": name, "source_path": source_path}], ["name"])
    collection = session.scalars(sa.select(Collection).where(Collection.name == name)).one()
    if source_path is not None and collection.source_path != str(source_path):
        collection.source_path = str(source_path)
    session.flush()
    return collection


def upsert_film(
    session: Session,
    *,
    sha256: str,
    path: str,
    title: str | None = None,
    description: str | None = None,
    negative_prompt: str | None = None,
    size_bytes: int | None = None,
    probe: Mapping[str, Any] | None = None,
    collection: Collection | None = None,
) -> Film:
    """Create or update the film identified by ``sha256``.

    Arguments:
        sha256: hex digest of the film file; the film's identity.
        path: where the file is now (updated on every call).
        title, description, negative_prompt, size_bytes: updated when not None.
        probe: values for :data:`catalog.models.PROBE_FIELDS`; replaces every
            probe field (absent keys become NULL). None leaves them alone.
        collection: linked once, however often the film is upserted.

    Returns:
        The :class:`Film` (status untouched on update, ``pending`` when new).

    Raises:
        ValueError: malformed sha256 or unknown probe keys.
    """
    _check_sha256(sha256)
    unknown = set(probe or {}) - set(PROBE_FIELDS)
    if unknown:
        raise ValueError(f"unknown probe fields {sorted(unknown)}; allowed: {', '.join(PROBE_FIELDS)}")
    _insert_ignore(session, Film.__table__, [{"sha256": sha256, "path": str(path)}], ["sha256"])
    film = session.scalars(sa.select(Film).where(Film.sha256 == sha256)).one()
    film.path = str(path)
    for field, value in (("title", title), ("description", description),
                         ("negative_prompt", negative_prompt), ("size_bytes", size_bytes)):
        if value is not None:
            setattr(film, field, value)
    if probe is not None:
        for field in PROBE_FIELDS:
            setattr(film, field, probe.get(field))
    session.flush()
    if collection is not None:
        _insert_ignore(session, CollectionFilm.__table__,
                       [{"collection_id": collection.id, "film_id": film.id}], ["collection_id", "film_id"])
    return film


def _check_shots(shots: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    wanted: dict[int, Mapping[str, Any]] = {}
    for shot in shots:
        missing = [key for key in _SHOT_KEYS if key not in shot]
        if missing:
            raise ValueError(f"shot {dict(shot)} lacks {missing}; each shot needs {', '.join(_SHOT_KEYS)}")
        if shot["index"] in wanted:
            raise ValueError(f"shot index {shot['index']} given twice; indexes must be unique per film")
        if not 0 <= shot["start_frame"] < shot["end_frame"]:
            raise ValueError(f"shot {shot['index']}: need 0 <= start_frame < end_frame (end is exclusive), "
                             f"got [{shot['start_frame']}, {shot['end_frame']})")
        wanted[int(shot["index"])] = shot
    return wanted


def sync_shots(session: Session, film: Film, shots: Sequence[Mapping[str, Any]]) -> list[Shot]:
    """Make the film's shot rows match ``shots`` (the output of shot detection).

    Idempotent: a shot whose frame range is unchanged keeps its row, status,
    attempts and files; a shot whose range changed is updated in place and
    reset (status pending, attempts 0, error and derived files cleared; its
    prompt overrides stay); rows whose index is no longer present are deleted
    (their events keep a NULL shot link).

    Arguments:
        film: the film (must be flushed, i.e. have an id).
        shots: dicts with index, start_frame, end_frame (exclusive), start_s, end_s.

    Returns:
        The film's shots ordered by index (also set as ``film.shots``).

    Raises:
        ValueError: a shot lacks a key, repeats an index or has an empty range.
    """
    wanted = _check_shots(shots)
    have = set(session.scalars(sa.select(Shot.index).where(Shot.film_id == film.id)))
    new_rows = [{"film_id": film.id, **{key: wanted[i][key] for key in _SHOT_KEYS}}
                for i in sorted(wanted) if i not in have]
    _insert_ignore(session, Shot.__table__, new_rows, ["film_id", "index"])

    kept: list[Shot] = []
    for shot in session.scalars(sa.select(Shot).where(Shot.film_id == film.id).order_by(Shot.index)):
        want = wanted.get(shot.index)
        if want is None:
            session.delete(shot)
            continue
        if (shot.start_frame, shot.end_frame) != (want["start_frame"], want["end_frame"]):
            shot.start_frame, shot.end_frame = want["start_frame"], want["end_frame"]
            shot.status, shot.attempts, shot.error = Status.PENDING, 0, None
            shot.keyframe_path = shot.keyframe_sha256 = shot.cleaned_path = shot.cleaned_sha256 = None
        shot.start_s, shot.end_s = float(want["start_s"]), float(want["end_s"])
        kept.append(shot)
    session.flush()
    set_committed_value(film, "shots", kept)
    return kept


def _lock(session: Session, obj: Film | Shot) -> None:
    """Hold ``obj``'s row until the transaction ends (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers), so read-then-write updates of it cannot interleave."""
    session.execute(sa.select(type(obj).id).where(type(obj).id == obj.id).with_for_update())


def _set_status(obj: Film | Shot, status: str, error: str | None) -> None:
    status = Status(status)  # ValueError for unknown values
    if status is Status.RUNNING:
        obj.attempts = (obj.attempts or 0) + 1
    obj.status = status
    obj.error = None if status is Status.DONE else error


def set_film_status(session: Session, film: Film, status: str, error: str | None = None) -> Film:
    """Set a film's status; "running" counts an attempt, "done" clears the error."""
    if Status(status) is Status.RUNNING:  # count on the committed value: concurrent attempts all count
        session.refresh(film, ["attempts"], with_for_update=True)
    _set_status(film, status, error)
    session.flush()
    return film


def set_shot_status(session: Session, shot: Shot, status: str, error: str | None = None) -> Shot:
    """Set a shot's status; "running" counts an attempt, "done" clears the error."""
    if Status(status) is Status.RUNNING:  # count on the committed value: concurrent attempts all count
        session.refresh(shot, ["attempts"], with_for_update=True)
    _set_status(shot, status, error)
    session.flush()
    return shot


def add_event(
    session: Session,
    *,
    event_type: str,
    outcome: str,
    agent: str,
    detail: str = "",
    outcome_detail: Mapping[str, Any] | None = None,
    film: Film | None = None,
    shot: Shot | None = None,
    run: Run | None = None,
    when: dt.datetime | None = None,
) -> Event:
    """Record a PREMIS-style event (see :class:`catalog.models.EventType` for event types).

    Arguments:
        outcome: "success", "failure" or "skipped".
        agent: software and versions (:func:`agent_string`).
        film, shot: the object; the shot's film is linked when no film is given.
        when: timezone-aware time of the event; default now.

    Raises:
        ValueError: unknown outcome, empty event type or agent, naive ``when``.
    """
    if not event_type or not agent:
        raise ValueError("an event needs an event_type and an agent (e.g. agent_string('PySceneDetect 0.7.2'))")
    if when is not None and when.tzinfo is None:
        raise ValueError("`when` must be timezone-aware, e.g. datetime.now(timezone.utc)")
    if film is None and shot is not None:
        film = session.get(Film, shot.film_id)
    identifier = None
    if film is not None:
        identifier = f"sha256:{film.sha256}" + (f"#shot={shot.index}" if shot is not None else "")
    event = Event(
        event_type=str(event_type), outcome=Outcome(outcome), agent=agent, detail=detail,
        outcome_detail=_jsonable(outcome_detail) if outcome_detail is not None else None,
        object_identifier=identifier, film_id=film.id if film is not None else None,
        shot_id=shot.id if shot is not None else None, run_id=run.id if run is not None else None,
    )
    if when is not None:
        event.datetime = when
    session.add(event)
    session.flush()
    return event


def record_file(
    session: Session, *, kind: str, path: str, sha256: str, size_bytes: int,
    film: Film | None = None, shot: Shot | None = None, run: Run | None = None,
) -> OutputFile:
    """Record a file the pipeline wrote; recording the same (kind, path, sha256) again is a no-op."""
    _check_sha256(sha256)
    row = {"kind": kind, "path": str(path), "sha256": sha256, "size_bytes": int(size_bytes),
           "film_id": film.id if film is not None else (shot.film_id if shot is not None else None),
           "shot_id": shot.id if shot is not None else None, "run_id": run.id if run is not None else None}
    _insert_ignore(session, OutputFile.__table__, [row], ["kind", "path", "sha256"])
    return session.scalars(sa.select(OutputFile).where(
        OutputFile.kind == kind, OutputFile.path == str(path), OutputFile.sha256 == sha256)).one()


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy: values JSON cannot hold (paths, dates, models) become strings."""
    return json.loads(json.dumps(dict(value), default=str))


def start_run(
    session: Session, *, flow_run_id: str | None, flow_name: str,
    parameters: Mapping[str, Any] | None, code_version: str | None,
) -> Run:
    """Record the start of a pipeline run (status running); parameters are stored as JSON."""
    run = Run(flow_run_id=str(flow_run_id) if flow_run_id is not None else None, flow_name=flow_name,
              parameters=_jsonable(parameters or {}), code_version=code_version, status=Status.RUNNING)
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run: Run, status: str) -> Run:
    """Record the end of a run with its final status (e.g. "done" or "failed")."""
    run.status = Status(status)
    run.finished = dt.datetime.now(dt.UTC)
    session.flush()
    return run


def get_film(session: Session, film_id: int) -> Film:
    """The film with this id.

    Raises:
        LookupError: no such film.
    """
    film = session.get(Film, film_id)
    if film is None:
        raise LookupError(f"no film with id {film_id} in the catalog; list films with `foleyflow status`")
    return film


def get_film_by_sha(session: Session, sha256: str) -> Film | None:
    """The film whose file has this sha256, or None."""
    return session.scalars(sa.select(Film).where(Film.sha256 == sha256)).one_or_none()


def get_collection(session: Session, name: str) -> Collection | None:
    """The collection with this name, or None."""
    return session.scalars(sa.select(Collection).where(Collection.name == name)).one_or_none()


def list_films(session: Session, collection: Collection | None = None) -> list[Film]:
    """Films (of one collection, or all) ordered by id, with their shots loaded."""
    query = _films_with_shots()
    if collection is not None:
        query = query.join(CollectionFilm, CollectionFilm.film_id == Film.id).where(
            CollectionFilm.collection_id == collection.id)
    return list(session.scalars(query))


def _films_with_shots() -> sa.Select[tuple[Film]]:
    # populate_existing: reload shots even for films already in the session
    return (sa.select(Film).options(selectinload(Film.shots)).order_by(Film.id)
            .execution_options(populate_existing=True))


def shots_to_run(session: Session, film: Film) -> list[Shot]:
    """The film's shots that are not done (pending, running, failed or rejected), by index."""
    return list(session.scalars(sa.select(Shot).where(
        Shot.film_id == film.id, Shot.status != Status.DONE.value).order_by(Shot.index)))


def events_for(session: Session, *, film: Film | None = None, shot: Shot | None = None,
               run: Run | None = None) -> list[Event]:
    """Events linked to the given film / shot / run (all given must match), oldest first."""
    query = sa.select(Event).order_by(Event.datetime, Event.id)
    for column, obj in ((Event.film_id, film), (Event.shot_id, shot), (Event.run_id, run)):
        if obj is not None:
            query = query.where(column == obj.id)
    return list(session.scalars(query))


def status_report(session: Session, film_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Status of every film (or one) and its shots, as plain data for the CLI and reports.

    Returns:
        ``{"films": [{"id", "title", "path", "sha256", "status", "error", "delivery_path", "delivery_sha256",
        "shots": [{"id", "index", "start_frame", "end_frame", "status", "error"}]}]}``
        ordered by film id and shot index.

    Raises:
        LookupError: ``film_id`` is not in the catalog.
    """
    query = _films_with_shots()
    if film_id is not None:
        query = query.where(Film.id == film_id)
    films = list(session.scalars(query))
    if film_id is not None and not films:
        get_film(session, film_id)  # raises the LookupError
    return {"films": [{
        "id": film.id, "title": film.title, "path": film.path, "sha256": film.sha256,
        "status": str(film.status), "error": film.error, "delivery_path": film.delivery_path,
        "delivery_sha256": film.delivery_sha256,
        "shots": [{"id": s.id, "index": s.index, "start_frame": s.start_frame, "end_frame": s.end_frame,
                   "status": str(s.status), "error": s.error} for s in film.shots],
    } for film in films]}



#: Columns of a generation row that ``add_generations`` takes from each candidate.
GENERATION_FIELDS: tuple[str, ...] = (
    "seed", "prompt", "negative_prompt", "model_id", "weights_sha256", "scheduler", "steps", "guidance",
    "duration_s", "params_hash", "audio_path", "audio_sha256", "scores", "selected", "attributions",
)


def add_generations(session: Session, shot: Shot, candidates: Sequence[Mapping[str, Any]],
                    run: Run | None = None) -> list[Generation]:
    """Record one generation attempt of a shot: a row per candidate, numbered 0..N-1.

    The attempt number is one more than the shot's last, so earlier attempts stay
    in the catalog (what was generated, and which one was picked, is history).

    Raises:
        ValueError: no candidates, not exactly one selected, a missing field or a bad sha256.
    """
    if not candidates:
        raise ValueError("a generation attempt needs at least one candidate")
    if sum(bool(c.get("selected")) for c in candidates) != 1:
        raise ValueError("exactly one candidate of a generation attempt must be selected")
    for c in candidates:
        missing = [k for k in GENERATION_FIELDS if k not in c]
        if missing:
            raise ValueError(f"generation candidate lacks {', '.join(missing)}")
        _check_sha256(c["weights_sha256"], "weights_sha256")
        _check_sha256(c["audio_sha256"], "audio_sha256")
    _lock(session, shot)  # two processes generating for one shot get attempts n and n+1, not n twice
    last = session.scalar(sa.select(sa.func.max(Generation.attempt)).where(Generation.shot_id == shot.id)) or 0
    rows = [Generation(shot_id=shot.id, run_id=run.id if run else None, attempt=last + 1, candidate=i,
                       **{k: (_jsonable(c[k]) if k == "scores" else c[k]) for k in GENERATION_FIELDS})
            for i, c in enumerate(candidates)]
    session.add_all(rows)
    session.flush()
    return rows


def selected_generation(session: Session, shot: Shot, params_hash: str | None = None) -> Generation | None:
    """The selected candidate of the shot's latest attempt (made with ``params_hash``, when given)."""
    query = sa.select(Generation).where(Generation.shot_id == shot.id, Generation.selected.is_(True))
    if params_hash is not None:
        query = query.where(Generation.params_hash == params_hash)
    return session.scalars(query.order_by(Generation.attempt.desc())).first()


def generations(session: Session, shot: Shot) -> list[Generation]:
    """Every candidate of every attempt of a shot, oldest attempt first."""
    return list(session.scalars(sa.select(Generation).where(Generation.shot_id == shot.id)
                                .order_by(Generation.attempt, Generation.candidate)))


def get_shot(session: Session, shot_id: int) -> Shot:
    """The shot with this id.

    Raises:
        LookupError: no such shot (with what to run to find the ids).
    """
    shot = session.get(Shot, shot_id)
    if shot is None:
        raise LookupError(f"no shot with id {shot_id} in the catalog; `foleyflow status` lists the shots and their ids")
    return shot


def review_shot(session: Session, shot: Shot, *, accept: bool, reviewer: str, candidate: int | None = None,
                prompt: str | None = None, negative_prompt: str | None = None, note: str = "") -> Review:
    """Record an archivist's decision on a shot's sound, and act on it.

    * accept: the shot is done; with ``candidate`` that candidate of the latest
      attempt becomes the selected one (the film is re-delivered with it on the next re-run).
    * reject: the shot is marked rejected, so ``foleyflow rerun --rejected`` redoes it, with
      ``prompt`` / ``negative_prompt`` as the shot's new words where given, and with new seeds
      (a rejection asks for something else even when the words stay).

    A ``REVIEW`` event records the decision with the reviewer as agent.

    Raises:
        ValueError: an empty reviewer; new words on an accept; a candidate that the shot's
            latest attempt does not have; accepting a shot that has no generated sound.
    """
    if not reviewer or not reviewer.strip():
        raise ValueError("a review needs a reviewer (the archivist's name, --by NAME)")
    if accept and (prompt is not None or negative_prompt is not None):
        raise ValueError("--prompt/--negative change the next generation: give them with --reject, not --accept")
    latest = session.scalar(sa.select(sa.func.max(Generation.attempt)).where(Generation.shot_id == shot.id))
    rows = [] if latest is None else list(session.scalars(sa.select(Generation).where(
        Generation.shot_id == shot.id, Generation.attempt == latest).order_by(Generation.candidate)))
    chosen = next((g for g in rows if g.selected), None)
    if candidate is not None:
        chosen = next((g for g in rows if g.candidate == candidate), None)
        if chosen is None:
            have = ", ".join(str(g.candidate) for g in rows) or "none"
            raise ValueError(f"shot {shot.id} has no candidate {candidate} in its latest attempt "
                             f"(candidates: {have})")
    if accept and chosen is None:
        raise ValueError(f"shot {shot.id} has no generated sound to accept; run the film first")
    if accept:
        if candidate is not None:
            for g in rows:
                g.selected = g is chosen
        _set_status(shot, Status.DONE, None)
    else:
        if prompt is not None:
            shot.prompt = prompt
        if negative_prompt is not None:
            shot.negative_prompt = negative_prompt
        shot.reroll = (shot.reroll or 0) + 1
        _set_status(shot, Status.REJECTED, f"rejected by {reviewer}" + (f": {note}" if note else ""))
    review = Review(shot_id=shot.id, generation_id=chosen.id if chosen is not None else None,
                    decision="accept" if accept else "reject", reviewer=reviewer.strip(), note=note or "",
                    prompt=prompt, negative_prompt=negative_prompt)
    session.add(review)
    session.flush()
    what = "accepted" if accept else "rejected"
    detail = f"{what} by {reviewer.strip()}" + (f" candidate {chosen.candidate} (seed {chosen.seed})" if chosen else "")
    if prompt is not None:
        detail += f"; new prompt {prompt!r}"
    if negative_prompt is not None:
        detail += f"; new negative prompt {negative_prompt!r}"
    if note:
        detail += f"; note: {note}"
    add_event(session, event_type=EventType.REVIEW, outcome=Outcome.SUCCESS, agent=f"archivist {reviewer.strip()}",
              detail=detail, outcome_detail={"review_id": review.id, "decision": review.decision,
                                             "generation_id": review.generation_id}, shot=shot)
    return review


def reviews(session: Session, shot: Shot) -> list[Review]:
    """The shot's reviews, oldest first."""
    return list(session.scalars(sa.select(Review).where(Review.shot_id == shot.id).order_by(Review.id)))


def shots_for_rerun(session: Session, *, failed: bool = False, rejected: bool = False, film_id: int | None = None,
                    shot_ids: Sequence[int] = ()) -> list[Shot]:
    """The shots a re-run redoes: failed and/or rejected ones, and those named, within a film when given.

    Raises:
        LookupError: an unknown film or shot id, or a named shot outside ``film_id``.
    """
    if film_id is not None:
        get_film(session, film_id)
    named = [get_shot(session, i) for i in shot_ids]
    for shot in named:
        if film_id is not None and shot.film_id != film_id:
            raise LookupError(f"shot {shot.id} belongs to film {shot.film_id}, not film {film_id}")
    statuses = [st.value for st, on in ((Status.FAILED, failed), (Status.REJECTED, rejected)) if on]
    found: dict[int, Shot] = {s.id: s for s in named}
    if statuses:
        query = sa.select(Shot).where(Shot.status.in_(statuses))
        if film_id is not None:
            query = query.where(Shot.film_id == film_id)
        found.update({s.id: s for s in session.scalars(query)})
    return sorted(found.values(), key=lambda s: (s.film_id, s.index))


def add_delivery(session: Session, film: Film, *, path: str, sha256: str, soundtrack_path: str,
                 soundtrack_sha256: str, generation_ids: Sequence[int], run: Run | None = None) -> Delivery:
    """Record a delivered version of a film, linked to the version before it (kept, not replaced).

    Delivering the very same file again is a no-op that returns the existing row.
    """
    _check_sha256(sha256)
    _check_sha256(soundtrack_sha256, "soundtrack_sha256")
    _lock(session, film)  # versions are numbered from the last one: one deliverer at a time per film
    last = deliveries(session, film)[-1:]
    if last and last[0].sha256 == sha256 and last[0].path == str(path):
        return last[0]
    row = Delivery(film_id=film.id, run_id=run.id if run else None, version=(last[0].version + 1) if last else 1,
                   predecessor_id=last[0].id if last else None, path=str(path), sha256=sha256,
                   soundtrack_path=str(soundtrack_path), soundtrack_sha256=soundtrack_sha256,
                   generation_ids=[int(i) for i in generation_ids])
    session.add(row)
    session.flush()
    return row


def deliveries(session: Session, film: Film) -> list[Delivery]:
    """Every delivered version of a film, oldest first."""
    return list(session.scalars(sa.select(Delivery).where(Delivery.film_id == film.id).order_by(Delivery.version)))


#: Columns of a corpus clip row that ``upsert_corpus_clips`` sets (``sha256`` is the key).
CORPUS_CLIP_FIELDS: tuple[str, ...] = (
    "clip_id", "path", "flac_sha256", "package", "package_version", "deb_sha256", "source_file", "author",
    "licence", "caption", "description", "category", "duration_s", "sample_rate", "is_ambience", "fingerprint",
    "dup_group", "split",
)


def upsert_corpus_clips(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Create or update corpus clips keyed by their source file's sha256; a re-run never duplicates rows.

    Arguments:
        rows: dicts with ``sha256`` and every name in :data:`CORPUS_CLIP_FIELDS`.

    Returns:
        How many rows were inserted (the others were updated in place).

    Raises:
        ValueError: a malformed sha256 or a missing field.
    """
    wanted: dict[str, dict[str, Any]] = {}
    for row in rows:
        _check_sha256(row.get("sha256", ""))
        missing = [f for f in CORPUS_CLIP_FIELDS if f not in row]
        if missing:
            raise ValueError(f"corpus clip {row.get('sha256')} lacks {missing}")
        wanted[row["sha256"]] = {"sha256": row["sha256"], **{f: row[f] for f in CORPUS_CLIP_FIELDS}}
    before = session.scalar(sa.select(sa.func.count()).select_from(CorpusClip)) or 0
    keys = list(wanted)
    for start in range(0, len(keys), 500):
        _insert_ignore(session, CorpusClip.__table__, [wanted[k] for k in keys[start:start + 500]], ["sha256"])
    inserted = (session.scalar(sa.select(sa.func.count()).select_from(CorpusClip)) or 0) - before
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for clip in session.scalars(sa.select(CorpusClip).where(CorpusClip.sha256.in_(chunk))):
            for field, value in wanted[clip.sha256].items():
                if getattr(clip, field) != value:
                    setattr(clip, field, value)
    session.flush()
    return inserted


def corpus_clips(session: Session, *, package: str | None = None) -> list[CorpusClip]:
    """Corpus clips (of one package, or all) ordered by package and source file."""
    query = sa.select(CorpusClip).order_by(CorpusClip.package, CorpusClip.source_file)
    if package is not None:
        query = query.where(CorpusClip.package == package)
    return list(session.scalars(query))


def add_corpus_event(session: Session, *, outcome: str, agent: str, detail: str, object_identifier: str,
                     outcome_detail: Mapping[str, Any] | None = None, run: Run | None = None) -> Event:
    """A ``corpus build`` event about a package or corpus file (``object_identifier`` says which)."""
    event = add_event(session, event_type="corpus build", outcome=outcome, agent=agent, detail=detail,
                      outcome_detail=outcome_detail, run=run)
    event.object_identifier = object_identifier
    session.flush()
    return event


def issue_watermark(session: Session, film: Film, *, method: str, key_fingerprint: str,
                    generation_ids: Sequence[int]) -> "Watermark":
    """A new watermark row for ``film``'s track; its id is the payload to embed (fits 32 bits)."""
    from catalog.models import Watermark

    row = Watermark(film_id=film.id, method=method, key_fingerprint=key_fingerprint,
                    generation_ids=[int(i) for i in generation_ids])
    session.add(row)
    session.flush()
    if not 0 < row.id < 2**32:
        raise OverflowError(f"watermark id {row.id} does not fit the 32-bit payload")
    return row


def watermark_record(session: Session, payload: int) -> dict | None:
    """What a detected payload points to: the mark, its film, delivery and generations (None: unknown payload)."""
    from catalog.models import Watermark

    mark = session.get(Watermark, int(payload))
    if mark is None:
        return None
    film = session.get(Film, mark.film_id)
    delivery = session.get(Delivery, mark.delivery_id) if mark.delivery_id else None
    return {"watermark_id": mark.id, "method": mark.method, "key_fingerprint": mark.key_fingerprint,
            "generation_ids": list(mark.generation_ids), "marked_sha256": mark.marked_sha256,
            "film": {"id": film.id, "title": film.title, "path": film.path, "sha256": film.sha256} if film else None,
            "delivery": {"id": delivery.id, "version": delivery.version, "path": delivery.path,
                         "sha256": delivery.sha256, "soundtrack_path": delivery.soundtrack_path,
                         "soundtrack_sha256": delivery.soundtrack_sha256} if delivery else None}


def record_speech_segments(session: Session, film: Film, delivery: Delivery,
                           rows: Sequence[Mapping[str, Any]]) -> list["SpeechSegment"]:
    """Replace ``delivery``'s speech record with ``rows`` (``kind``, ``start_s``, ``end_s``, optional
    ``shot_id`` and ``label``; film seconds).

    Raises:
        ValueError: an unknown kind or a segment that ends before it starts (nothing is written).
    """
    from catalog.models import SpeechSegment

    checked = []
    for r in rows:
        kind, a, b = str(r["kind"]), float(r["start_s"]), float(r["end_s"])
        if kind not in SPEECH_SEGMENT_KINDS:
            raise ValueError(f"speech segment kind {kind!r}: use one of {', '.join(SPEECH_SEGMENT_KINDS)}")
        if b < a:
            raise ValueError(f"speech segment {a:.3f}-{b:.3f} s ends before it starts")
        checked.append(SpeechSegment(film_id=film.id, delivery_id=delivery.id, shot_id=r.get("shot_id"), kind=kind,
                                     start_s=a, end_s=b, label=r.get("label")))
    session.execute(sa.delete(SpeechSegment).where(SpeechSegment.delivery_id == delivery.id))
    session.add_all(checked)
    session.flush()
    return checked


#: What a speech_segment row records (see catalog.models.SpeechSegment).
SPEECH_SEGMENT_KINDS: tuple[str, ...] = ("speaking", "line", "speech")


def speech_segments(session: Session, film: Film, *, kind: str | None = None) -> list["SpeechSegment"]:
    """The speech record of ``film``'s latest delivery, in time order (empty: not delivered yet)."""
    from catalog.models import SpeechSegment

    last = deliveries(session, film)[-1:]
    if not last:
        return []
    q = sa.select(SpeechSegment).where(SpeechSegment.delivery_id == last[0].id)
    if kind is not None:
        q = q.where(SpeechSegment.kind == kind)
    return list(session.scalars(q.order_by(SpeechSegment.start_s, SpeechSegment.id)))
