"""PREMIS 3 XML of a selection: objects (films, shots, their files, generated tracks, deliveries), events, agents.

Built with lxml and validated against the official PREMIS 3.0 schema (``catalog/schemas/premis-v3-0.xsd``,
see ``catalog/schemas/README.md``) before it is written, so an exported file always validates.

Identifiers: a film is ``sha256:<film sha256>`` and a shot ``sha256:<film sha256>#shot=<index>`` (the
catalog's ``Event.object_identifier``, so every event links to an object in the file); files are
``urn:foleyflow:file:<id>``, generated tracks ``urn:foleyflow:generation:<id>``, deliveries
``urn:foleyflow:delivery:<id>`` and their WAV stems ``urn:foleyflow:delivery:<id>:stem``.
"""

from __future__ import annotations

import json
import mimetypes
from functools import lru_cache
from pathlib import Path

from lxml import etree

from catalog.models import EventType
from catalog.provenance import Provenance, is_person, split_agent

NS = "http://www.loc.gov/premis/v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = "http://www.loc.gov/premis/v3 https://www.loc.gov/standards/premis/premis.xsd"
XSD_PATH = Path(__file__).with_name("schemas") / "premis-v3-0.xsd"
EVENT_TYPE_SCHEME = "http://id.loc.gov/vocabulary/preservation/eventType"
#: EventType values that are Library of Congress PREMIS event-type terms (the rest are foleyflow's own).
_LOC_TERMS = {EventType.INGESTION, EventType.MESSAGE_DIGEST_CALCULATION, EventType.FIXITY_CHECK,
              EventType.METADATA_EXTRACTION, EventType.VALIDATION, EventType.MODIFICATION, EventType.CREATION,
              EventType.NORMALIZATION, EventType.DIGITAL_SIGNATURE_GENERATION, EventType.DELETION,
              EventType.EXPORTING}
#: which output-file kinds an event of a type produced (linked as the event's "outcome" objects)
_OUTCOME_KINDS = {"keyframe extraction": {"keyframe"}, "cleaning": {"cleaned_video"},
                  "feature extraction": {"timing_curve"}, "stitching": {"soundtrack"},
                  "quality check": {"speech_rttm"}}
_FILE_ROLES = {"keyframe": "keyframe", "cleaned_video": "cleaned shot", "cleaned_film": "cleaned film",
               "timing_curve": "timing curve", "soundtrack": "soundtrack stem", "delivery": "delivery",
               "speech_rttm": "speech segments heard in the delivered track (RTTM)"}


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    """The PREMIS 3.0 XML schema."""
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def _el(parent, tag: str, text=None, **attrs):
    e = etree.SubElement(parent, f"{{{NS}}}{tag}", {k: str(v) for k, v in attrs.items()})
    if text is not None:
        e.text = str(text)
    return e


def _ident(parent, tag: str, type_: str, value: str) -> None:
    e = _el(parent, tag)
    _el(e, f"{tag}Type", type_)
    _el(e, f"{tag}Value", value)


def _sig(parent, kind: str, value) -> None:
    if value in (None, ""):
        return
    e = _el(parent, "significantProperties")
    _el(e, "significantPropertiesType", kind)
    _el(e, "significantPropertiesValue", value)


def _file(root, ident: str, *, sha256: str | None, path: str | None, size: int | None = None, props=(),
          derived_from=(), part_of: str | None = None, fmt: str | None = None) -> None:
    obj = _el(root, "object", **{f"{{{XSI}}}type": "file"})
    _ident(obj, "objectIdentifier", "foleyflow", ident)
    for kind, value in props:
        _sig(obj, kind, value)
    ch = _el(obj, "objectCharacteristics")
    _el(ch, "compositionLevel", 0)
    if sha256:
        fx = _el(ch, "fixity")
        _el(fx, "messageDigestAlgorithm", "SHA-256", authority="cryptographicHashFunctions",
            authorityURI="http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions",
            valueURI="http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions/sha256")
        _el(fx, "messageDigest", sha256)
        _el(fx, "messageDigestOriginator", "foleyflow")
    if size is None and path and Path(path).is_file():
        size = Path(path).stat().st_size
    if size is not None:
        _el(ch, "size", int(size))
    fd = _el(_el(ch, "format"), "formatDesignation")
    _el(fd, "formatName", fmt or mimetypes.guess_type(path or "")[0] or "application/octet-stream")
    if path:
        _el(obj, "originalName", path)
    if part_of:
        _rel(obj, "structural", "is part of", part_of)
    for src in derived_from:
        _rel(obj, "derivation", "has source", src)


def _rel(obj, type_: str, sub: str, target: str) -> None:
    r = _el(obj, "relationship")
    _el(r, "relationshipType", type_)
    _el(r, "relationshipSubType", sub)
    _ident(r, "relatedObjectIdentifier", "foleyflow", target)


def film_id(film) -> str:
    return f"sha256:{film.sha256}"


def shot_id(film, shot) -> str:
    return f"sha256:{film.sha256}#shot={shot.index}"


def build(p: Provenance) -> etree._ElementTree:
    """The PREMIS document of ``p`` (not yet validated)."""
    root = etree.Element(f"{{{NS}}}premis", nsmap={None: NS, "xsi": XSI}, version="3.0")
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    outcomes: dict[tuple, list[str]] = {}  # (event type, run id, film id, shot id) -> object ids

    def outcome(key, ident):
        outcomes.setdefault(key, []).append(ident)

    gen_files = {g.audio_path for g in p.all_generations()}
    files_by_film: dict[int, list] = {}
    for f in p.files:
        files_by_film.setdefault(f.film_id, []).append(f)
    for film in p.films:
        fid = film_id(film)
        _file(root, fid, sha256=film.sha256, path=film.path, size=film.size_bytes, fmt=_film_format(film),
              props=[("title", film.title), ("description", film.description),
                     ("negative prompt", film.negative_prompt), ("duration (s)", film.duration_s),
                     ("frame rate", film.fps), ("frames", film.frame_count),
                     ("frame size", f"{film.width}x{film.height}" if film.width else None),
                     ("video codec", film.video_codec), ("collection", "; ".join(p.collections.get(film.id, [])))])
        shots = {s.id: s for s in p.shots.get(film.id, [])}
        for shot in shots.values():
            ent = _el(root, "object", **{f"{{{XSI}}}type": "intellectualEntity"})
            _ident(ent, "objectIdentifier", "foleyflow", shot_id(film, shot))
            _sig(ent, "frames", f"[{shot.start_frame}, {shot.end_frame})")
            _sig(ent, "time (s)", f"{shot.start_s:.3f}-{shot.end_s:.3f}")
            _sig(ent, "status", shot.status)
            _rel(ent, "structural", "is part of", fid)
        for f in files_by_film.get(film.id, []):
            if f.kind in ("generated_audio", "delivery", "soundtrack") or f.path in gen_files:
                continue  # written below, with their generation / delivery
            ident = f"urn:foleyflow:file:{f.id}"
            part = shot_id(film, shots[f.shot_id]) if f.shot_id in shots else fid
            _file(root, ident, sha256=f.sha256, path=f.path, size=f.size_bytes, part_of=part, derived_from=[fid],
                  props=[("role", _FILE_ROLES.get(f.kind, f.kind))])
            outcome((f.run_id, film.id, f.shot_id, f.kind), ident)
        for shot in shots.values():
            for g in p.generations.get(shot.id, []):
                ident = f"urn:foleyflow:generation:{g.id}"
                _file(root, ident, sha256=g.audio_sha256, path=g.audio_path, part_of=shot_id(film, shot),
                      derived_from=[fid], fmt="audio/x-wav",
                      props=[("role", "generated candidate"), ("attempt", g.attempt), ("candidate", g.candidate),
                             ("selected", "yes" if g.selected else "no"), ("seed", g.seed), ("prompt", g.prompt),
                             ("negative prompt", g.negative_prompt), ("model", g.model_id),
                             ("weights sha256", g.weights_sha256), ("scheduler", g.scheduler), ("steps", g.steps),
                             ("guidance", g.guidance), ("scores", json.dumps(g.scores or {}, sort_keys=True)),
                             ("attributions", json.dumps(g.attributions)) if g.attributions else ("attributions", None)])
                outcome((g.run_id, film.id, shot.id, "generation"), ident)
        for d in p.deliveries.get(film.id, []):
            ident = f"urn:foleyflow:delivery:{d.id}"
            gens = [f"urn:foleyflow:generation:{i}" for i in d.generation_ids or []]
            _file(root, f"{ident}:stem", sha256=d.soundtrack_sha256, path=d.soundtrack_path, fmt="audio/x-wav",
                  derived_from=gens, props=[("role", "soundtrack stem"), ("delivery version", d.version)])
            derived = [fid, f"{ident}:stem"] + ([f"urn:foleyflow:delivery:{d.predecessor_id}"] if d.predecessor_id else [])
            sp = p.speech_summary(d.id)
            _file(root, ident, sha256=d.sha256, path=d.path, fmt="video/mp4", derived_from=derived,
                  props=[("role", "delivery"), ("version", d.version),
                         ("speech heard (segments, s)", f"{sp['speech_segments']}, {sp['speech_s']}"),
                         ("dialogue lines (lines, s)", f"{sp['line_segments']}, {sp['line_s']}"),
                         ("speaking intervals seen (intervals, s)", f"{sp['speaking_segments']}, {sp['speaking_s']}")])
            outcome((d.run_id, film.id, None, "delivery"), ident)
            outcome((d.run_id, film.id, None, "soundtrack"), f"{ident}:stem")

    agents = p.agents()
    for e in p.events:
        ev = _el(root, "event")
        _ident(ev, "eventIdentifier", "UUID", e.uuid)
        if e.event_type in _LOC_TERMS:
            _el(ev, "eventType", e.event_type, authority="eventType", authorityURI=EVENT_TYPE_SCHEME)
        else:
            _el(ev, "eventType", e.event_type)
        _el(ev, "eventDateTime", e.datetime.isoformat())
        if e.detail:
            _el(_el(ev, "eventDetailInformation"), "eventDetail", e.detail)
        oi = _el(ev, "eventOutcomeInformation")
        _el(oi, "eventOutcome", e.outcome)
        if e.outcome_detail:
            _el(_el(oi, "eventOutcomeDetail"), "eventOutcomeDetailNote", json.dumps(e.outcome_detail, sort_keys=True))
        for part in split_agent(e.agent):
            la = _el(ev, "linkingAgentIdentifier")
            _el(la, "linkingAgentIdentifierType", "foleyflow")
            _el(la, "linkingAgentIdentifierValue", _agent_id(agents.index(part)))
            _el(la, "linkingAgentRole", "implementer" if is_person(part) else "executing program")
        if e.object_identifier:
            lo = _el(ev, "linkingObjectIdentifier")
            _el(lo, "linkingObjectIdentifierType", "foleyflow")
            _el(lo, "linkingObjectIdentifierValue", e.object_identifier)
            _el(lo, "linkingObjectRole", "source")
        for ident in _event_outcomes(e, outcomes):
            lo = _el(ev, "linkingObjectIdentifier")
            _el(lo, "linkingObjectIdentifierType", "foleyflow")
            _el(lo, "linkingObjectIdentifierValue", ident)
            _el(lo, "linkingObjectRole", "outcome")
    for i, name in enumerate(agents):
        ag = _el(root, "agent")
        _ident(ag, "agentIdentifier", "foleyflow", _agent_id(i))
        person = is_person(name)
        label, _, version = (name.removeprefix("archivist "), "", "") if person else name.partition(" ")
        _el(ag, "agentName", label)
        _el(ag, "agentType", "person" if person else "software",
            authority="agentType", authorityURI="http://id.loc.gov/vocabulary/preservation/agentType")
        if version:
            _el(ag, "agentVersion", version)
    return etree.ElementTree(root)


def _agent_id(i: int) -> str:
    return f"urn:foleyflow:agent:{i + 1}"


def _event_outcomes(e, outcomes: dict) -> list[str]:
    if e.event_type == EventType.GENERATION:
        return outcomes.get((e.run_id, e.film_id, e.shot_id, "generation"), [])
    if e.event_type == EventType.CREATION and e.shot_id is None:
        return outcomes.get((e.run_id, e.film_id, None, "delivery"), [])
    out = []
    for kind in _OUTCOME_KINDS.get(e.event_type, ()):
        out += outcomes.get((e.run_id, e.film_id, e.shot_id, kind), [])
    return out


def _film_format(film) -> str:
    return mimetypes.guess_type(film.path or "")[0] or (film.container_format or "application/octet-stream")


def to_bytes(p: Provenance) -> bytes:
    """The validated PREMIS XML of ``p``.

    Raises:
        ValueError: the document does not validate (a bug: the message names the first error).
    """
    tree = build(p)
    xsd = schema()
    if not xsd.validate(tree):
        raise ValueError(f"the PREMIS report does not validate against PREMIS 3.0: {xsd.error_log.last_error}")
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
