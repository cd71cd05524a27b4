"""W3C PROV-JSON of a selection, built with the ``prov`` package.

Entities are files with their sha256 (the film scan, keyframes, cleaned shots, timing curves, every
generated candidate, the WAV stems and delivered MP4s); activities are the catalog's events (one per
pipeline stage and shot, ``ff:event/<uuid>``) and the archivists' reviews; agents are the software parts
named in each event's agent string, the generator model (``ff:model/<weights sha256>``) and the archivists.
Relations: ``wasGeneratedBy`` (file <- the event that wrote it), ``used`` (event -> the film or its
files), ``wasAssociatedWith`` (event -> software / model / archivist), ``wasDerivedFrom`` (delivery <-
film, stem, selected generations; generation <- film), ``wasRevisionOf`` (delivery v2 <- v1).
"""

from __future__ import annotations

import re

from prov.model import PROV, ProvDocument

from catalog.models import EventType
from catalog.provenance import Provenance, is_person, split_agent

NAMESPACE = "urn:foleyflow:"
_KIND_EVENT = {"keyframe": EventType.KEYFRAME_EXTRACTION, "cleaned_video": EventType.CLEANING,
               "timing_curve": EventType.FEATURE_EXTRACTION, "speech_rttm": EventType.QUALITY_CHECK}

_SEGMENT_TYPES = {"speaking": "speaking-interval", "line": "dialogue-line", "speech": "speech-segment"}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "agent"


def build(p: Provenance) -> ProvDocument:
    """The PROV document of ``p``."""
    doc = ProvDocument()
    doc.add_namespace("ff", NAMESPACE)
    agents: dict[str, object] = {}

    def agent(name: str):
        if name not in agents:
            person = is_person(name)
            agents[name] = doc.agent(f"ff:{'archivist' if person else 'software'}/{_slug(name)}", {
                "prov:type": PROV["Person"] if person else PROV["SoftwareAgent"],
                "prov:label": name.removeprefix("archivist ") if person else name})
        return agents[name]

    models: dict[str, object] = {}
    associated: set = set()
    events: dict[tuple, object] = {}  # (type, run, film, shot) -> activity
    for e in p.events:
        act = doc.activity(f"ff:event/{e.uuid}", e.datetime, e.datetime, {
            "prov:type": f"ff:{_slug(e.event_type)}", "prov:label": e.event_type, "ff:outcome": e.outcome,
            "ff:detail": e.detail or ""})
        for part in split_agent(e.agent):
            doc.wasAssociatedWith(act, agent(part))
        events.setdefault((e.event_type, e.run_id, e.film_id, e.shot_id), act)

    def stage(type_, run_id, film_id, shot_id=None):
        return events.get((type_, run_id, film_id, shot_id))

    for film in p.films:
        fe = doc.entity(f"ff:film/{film.id}", {"prov:type": "ff:film-scan", "ff:sha256": film.sha256,
                                                "prov:label": film.title or film.path, "ff:path": film.path})
        for (type_, _run, fid, _shot), act in events.items():
            if fid == film.id:
                doc.used(act, fe)
        shots = {s.id: s for s in p.shots.get(film.id, [])}
        for f in p.files:
            if f.film_id != film.id or f.kind not in _KIND_EVENT:
                continue
            ent = doc.entity(f"ff:file/{f.id}", {"prov:type": f"ff:{f.kind}", "ff:sha256": f.sha256, "ff:path": f.path})
            doc.wasDerivedFrom(ent, fe)
            act = stage(_KIND_EVENT[f.kind], f.run_id, film.id, f.shot_id)
            if act is not None:
                doc.wasGeneratedBy(ent, act)
            if f.kind in ("cleaned_video", "timing_curve"):
                gen_act = stage(EventType.GENERATION, f.run_id, film.id, f.shot_id)
                if gen_act is not None:
                    doc.used(gen_act, ent)
        gens = {}
        for shot in shots.values():
            for g in p.generations.get(shot.id, []):
                ge = doc.entity(f"ff:generation/{g.id}", {
                    "prov:type": "ff:generated-audio", "ff:sha256": g.audio_sha256, "ff:path": g.audio_path,
                    "ff:shot": shot.index, "ff:seed": g.seed, "ff:prompt": g.prompt,
                    "ff:negative_prompt": g.negative_prompt, "ff:selected": bool(g.selected),
                    "ff:sync": float((g.scores or {}).get("sync") or 0.0)})
                gens[g.id] = ge
                doc.wasDerivedFrom(ge, fe)
                if g.weights_sha256 not in models:
                    models[g.weights_sha256] = doc.agent(f"ff:model/{g.weights_sha256}", {
                        "prov:type": PROV["SoftwareAgent"], "prov:label": g.model_id,
                        "ff:weights_sha256": g.weights_sha256})
                act = stage(EventType.GENERATION, g.run_id, film.id, shot.id)
                if act is not None:
                    doc.wasGeneratedBy(ge, act)
                    if (act, g.weights_sha256) not in associated:
                        associated.add((act, g.weights_sha256))
                        doc.wasAssociatedWith(act, models[g.weights_sha256])
                for r in p.reviews.get(shot.id, []):
                    if r.generation_id == g.id:
                        rev = doc.activity(f"ff:review/{r.id}", r.created, r.created, {
                            "prov:type": "ff:review", "ff:decision": r.decision, "ff:note": r.note or ""})
                        doc.used(rev, ge)
                        doc.wasAssociatedWith(rev, agent(f"archivist {r.reviewer}"))
        previous = {}
        for d in p.deliveries.get(film.id, []):
            stem = doc.entity(f"ff:delivery/{d.id}/stem", {"prov:type": "ff:soundtrack-stem",
                                                           "ff:sha256": d.soundtrack_sha256, "ff:path": d.soundtrack_path})
            de = doc.entity(f"ff:delivery/{d.id}", {"prov:type": "ff:delivery", "ff:sha256": d.sha256,
                                                    "ff:path": d.path, "ff:version": d.version,
                                                    **{f"ff:{k}": v for k, v in p.speech_summary(d.id).items()}})
            for seg in p.speech.get(d.id, []):  # heard speech comes from the delivery; the rest from the film
                se = doc.entity(f"ff:delivery/{d.id}/{seg.kind}/{seg.id}", {
                    "prov:type": f"ff:{_SEGMENT_TYPES[seg.kind]}", "ff:start_s": float(seg.start_s),
                    "ff:end_s": float(seg.end_s), "ff:label": seg.label or ""})
                doc.wasDerivedFrom(se, de if seg.kind == "speech" else fe)
            doc.wasDerivedFrom(de, fe)
            doc.wasDerivedFrom(de, stem)
            for gid in d.generation_ids or []:
                if gid in gens:
                    doc.wasDerivedFrom(stem, gens[gid])
            if d.predecessor_id in previous:
                doc.wasRevisionOf(de, previous[d.predecessor_id])
            previous[d.id] = de
            stitch = stage(EventType.STITCHING, d.run_id, film.id)
            if stitch is not None:
                doc.wasGeneratedBy(stem, stitch)
            create = stage(EventType.CREATION, d.run_id, film.id)
            if create is not None:
                doc.wasGeneratedBy(de, create)
                doc.used(create, stem)
    return doc


def to_json(p: Provenance) -> str:
    """PROV-JSON text of ``p``."""
    return build(p).serialize(format="json", indent=2)
