"""Everything the catalog knows about a selection of films, as plain data for the non-tabular reports.

:func:`load` reads films, shots, generations, reviews, deliveries, speech segments, output files, runs and events of a
collection, a film or the whole catalog in one session and returns a :class:`Provenance` of detached
ORM rows (every column loaded), which the HTML, PREMIS, PROV and BagIt writers read without a session.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from catalog.models import (Collection, CollectionFilm, Delivery, Event, Film, Generation, OutputFile, Review, Run,
                            Shot, SpeechSegment)


@dataclasses.dataclass
class Provenance:
    """The selected films and every row that belongs to them, ordered for display."""

    films: list[Film]
    collections: dict[int, list[str]]  # film id -> collection names
    shots: dict[int, list[Shot]]  # film id -> shots by index
    generations: dict[int, list[Generation]]  # shot id -> by attempt, candidate
    reviews: dict[int, list[Review]]  # shot id -> oldest first
    deliveries: dict[int, list[Delivery]]  # film id -> by version
    files: list[OutputFile]
    runs: dict[int, Run]
    events: list[Event]  # by time
    selection: str  # "collection 1", "film 2" or "the whole catalog"
    speech: dict[int, list[SpeechSegment]] = dataclasses.field(default_factory=dict)  # delivery id -> by start

    def speech_summary(self, delivery_id: int) -> dict[str, float | int]:
        """Counts and seconds per kind of a delivery's speech record (speaking intervals, lines, heard speech)."""
        rows = self.speech.get(delivery_id, [])
        out: dict[str, float | int] = {}
        for kind in ("speaking", "line", "speech"):
            mine = [r for r in rows if r.kind == kind]
            out[f"{kind}_segments"] = len(mine)
            out[f"{kind}_s"] = round(sum(r.end_s - r.start_s for r in mine), 3)
        return out

    def all_generations(self) -> list[Generation]:
        return [g for shots in self.shots.values() for s in shots for g in self.generations.get(s.id, [])]

    def agents(self) -> list[str]:
        """Every agent named by an event, one per software/person part ("foleyflow 0.1.0 (abc)", "av 18.1.0")."""
        seen: dict[str, None] = {}
        for e in self.events:
            for part in split_agent(e.agent):
                seen.setdefault(part, None)
        return list(seen)


def split_agent(agent: str) -> list[str]:
    """An event's agent string ("foleyflow 0.1.0; av 18.1.0") as its parts."""
    return [p.strip() for p in (agent or "").split(";") if p.strip()]


def is_person(agent: str) -> bool:
    """Whether an agent part names a person (the review command writes "archivist NAME")."""
    return agent.startswith("archivist ")


def load(session: Session, *, collection_id: int | None = None, film_id: int | None = None) -> Provenance:
    """Read the selection from the catalog.

    Raises:
        LookupError: an unknown collection or film id.
    """
    from catalog.report import check_selection

    check_selection(session, collection_id=collection_id, film_id=film_id)
    q = sa.select(Film).order_by(Film.id)
    if film_id is not None:
        q = q.where(Film.id == film_id)
    if collection_id is not None:
        q = q.where(Film.id.in_(sa.select(CollectionFilm.film_id).where(CollectionFilm.collection_id == collection_id)))
    films = list(session.scalars(q))
    ids = [f.id for f in films]
    selection = (f"film {film_id}" if film_id is not None else f"collection {collection_id}"
                 if collection_id is not None else "the whole catalog")

    collections: dict[int, list[str]] = defaultdict(list)
    for fid, name in session.execute(sa.select(CollectionFilm.film_id, Collection.name)
                                     .join(Collection, Collection.id == CollectionFilm.collection_id)
                                     .where(CollectionFilm.film_id.in_(ids)).order_by(Collection.name)):
        collections[fid].append(name)
    shots: dict[int, list[Shot]] = defaultdict(list)
    for shot in session.scalars(sa.select(Shot).where(Shot.film_id.in_(ids)).order_by(Shot.film_id, Shot.index)):
        shots[shot.film_id].append(shot)
    shot_ids = [s.id for ss in shots.values() for s in ss]
    generations: dict[int, list[Generation]] = defaultdict(list)
    for g in session.scalars(sa.select(Generation).where(Generation.shot_id.in_(shot_ids))
                             .order_by(Generation.shot_id, Generation.attempt, Generation.candidate)):
        generations[g.shot_id].append(g)
    reviews: dict[int, list[Review]] = defaultdict(list)
    for r in session.scalars(sa.select(Review).where(Review.shot_id.in_(shot_ids)).order_by(Review.id)):
        reviews[r.shot_id].append(r)
    deliveries: dict[int, list[Delivery]] = defaultdict(list)
    for d in session.scalars(sa.select(Delivery).where(Delivery.film_id.in_(ids))
                             .order_by(Delivery.film_id, Delivery.version)):
        deliveries[d.film_id].append(d)
    speech: dict[int, list[SpeechSegment]] = defaultdict(list)
    for seg in session.scalars(sa.select(SpeechSegment).where(SpeechSegment.film_id.in_(ids))
                               .order_by(SpeechSegment.delivery_id, SpeechSegment.start_s, SpeechSegment.id)):
        speech[seg.delivery_id].append(seg)
    files = list(session.scalars(sa.select(OutputFile).where(OutputFile.film_id.in_(ids)).order_by(OutputFile.id)))
    eq = sa.select(Event).order_by(Event.datetime, Event.id)
    if film_id is not None or collection_id is not None:
        eq = eq.where(Event.film_id.in_(ids))
    events = list(session.scalars(eq))
    run_ids = {e.run_id for e in events} | {g.run_id for gs in generations.values() for g in gs}
    runs = {r.id: r for r in session.scalars(sa.select(Run).where(Run.id.in_([i for i in run_ids if i])))}
    session.expunge_all()  # detached, every column loaded: the writers need no session
    return Provenance(films=films, collections=dict(collections), shots=dict(shots), generations=dict(generations),
                      reviews=dict(reviews), deliveries=dict(deliveries), files=files, runs=runs, events=events,
                      selection=selection, speech=dict(speech))
