"""Dialogue and the speech check in the pipeline: a film with an SRT speaks its lines where the
picture shows someone speaking, every delivery has its speech as RTTM, and a candidate with speech
nobody asked for loses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None and shutil.which("text2wave") is None,
                                reason="no offline speech synthesiser (apt-get install espeak-ng)")


class _Talker:
    """A generator whose candidate for ``talking_seed`` is a spoken sentence over knocks on the picture's
    onsets; the other candidates knock 0.3 s off the onsets (worse sync) and do not speak."""

    model_id, weights_sha256, scheduler_name = "test:talker", "0" * 64, "FakeScheduler"

    def __init__(self, talking_seed: int):
        self.talking_seed = talking_seed

    def generate(self, *, timing, prompt, negative_prompt, seeds, duration_s, steps=None, guidance=None):
        from models.registry import GeneratedAudio
        from tasks.tts import synthesize

        out = []
        for seed in seeds:
            n = int(round(duration_s * 16000))
            rng = np.random.default_rng(seed)
            x = 0.01 * rng.standard_normal(n).astype(np.float32)
            first = 8000 if seed == self.talking_seed else 8000 + 4800
            for i in range(first, n - 800, 16000):  # a knock every second
                x[i:i + 800] += 0.5 * rng.standard_normal(800).astype(np.float32) * np.exp(-np.arange(800) / 150)
            if seed == self.talking_seed:
                speech = synthesize("Where have you been all evening? I waited for an hour.", "espeak-ng:en-us", sr=16000)
                x[4000:4000 + speech.size] += 0.5 * speech[: n - 4000]
            out.append(GeneratedAudio(x, 16000, seed, []))
        return out


def _curve(duration: float):
    from tasks.audio_grid import impulse_curve, num_frames
    from tasks.features import TimingCurve

    n = num_frames(duration)
    onsets = np.arange(0.5, duration - 0.1, 1.0)
    return TimingCurve(onset=impulse_curve(onsets, n), sustain=np.full(n, 0.3, np.float32), fps=24.0,
                       frame_rate=62.5, motion=np.zeros(1, np.float32), strength=np.zeros(1, np.float32),
                       onset_times=onsets, duration=duration)


@pytest.mark.parametrize("transcript,negative,winner", [(False, "", 1), (True, "", 0), (True, "no voices", 1)])
def test_a_candidate_with_unwanted_speech_loses(tmp_path, transcript, negative, winner):
    from tasks.generate import GenerateConfig, generate_shot

    result = generate_shot(_Talker(talking_seed=1), _curve(5.0), prompt="knocking", negative_prompt=negative,
                           seeds=[1, 2], out_dir=tmp_path, config=GenerateConfig(), transcript=transcript)
    talking, quiet = result.candidates
    assert talking.scores["speech_s"] > 1.0 and quiet.scores["speech_s"] < 0.3
    assert talking.scores["unwanted_speech"] is (not transcript or bool(negative))
    assert not quiet.scores["unwanted_speech"]
    assert talking.scores["sync"] > quiet.scores["sync"]  # on sync alone the talking candidate would win
    assert result.selected == winner


def _write_srt(path: Path, lines: list[tuple[float, float, str]]) -> Path:
    def ts(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    path.write_text("".join(f"{i + 1}\n{ts(a)} --> {ts(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(lines)))
    return path


def _speech_event(session, film_id: int):
    import sqlalchemy as sa

    from catalog.models import Event

    rows = session.scalars(sa.select(Event).where(Event.film_id == film_id)).all()
    dialogue = [e for e in rows if (e.detail or "").startswith("dialogue:")]
    check = [e for e in rows if (e.detail or "").startswith("speech check:")]
    return dialogue, check


def test_a_film_with_an_srt_speaks_its_lines_where_the_face_speaks(prefect_harness, foleyflow_home, tmp_path):
    import sqlalchemy as sa

    from catalog.db import session_scope
    from catalog.models import Film, OutputFile
    from flows.collection import process_collection
    from tests.face_clips import speaking_face

    reel = tmp_path / "reel"
    reel.mkdir()
    clip = speaking_face(reel / "talk.mkv", seed=3, frames=168)
    # the transcript's times are rough (a second late): the picture says where the lines go
    _write_srt(reel / "talk.srt", [(a + 0.6, b + 0.6, f"MARY: {text}") for (a, b), text in
                                   zip(clip.speaking, ["Good evening.", "Come in, sit down.", "It is late."])])
    summary = process_collection(str(reel))
    assert summary["failed"] == 0, summary
    with session_scope() as s:
        film = s.scalars(sa.select(Film)).one()
        dialogue, check = _speech_event(s, film.id)
        rttm = s.scalars(sa.select(OutputFile).where(OutputFile.kind == "speech_rttm")).one()
        delivery = Path(film.delivery_path)
    assert delivery.exists()
    spoken = dialogue[-1].outcome_detail
    assert spoken["lines"] == len(clip.speaking)
    assert spoken["inside_speaking_intervals"] >= 0.8, spoken  # the target
    assert all(p["speaker"] == "MARY" for p in spoken["placed"])
    heard = check[-1].outcome_detail
    assert heard["speech_s"] > 0.5 and not heard["unwanted_speech"]
    text = Path(rttm.path).read_text()
    assert text.count("SPEAKER") == len(heard["segments"]) >= 1
    # the speech heard lies where the lines were placed
    placed = [(p["start"], p["end"]) for p in spoken["placed"]]
    for a, b in heard["segments"]:
        assert any(min(b, d) - max(a, c) > 0 for c, d in placed), (heard["segments"], placed)
    _check_speech_record(film.id, clip, spoken, heard, rttm.sha256)


def _check_speech_record(film_id: int, clip, spoken: dict, heard: dict, rttm_sha256: str) -> None:
    """The catalog's speech_segment rows and the PREMIS / PROV reports hold the film's speech record."""
    import prov.model
    from lxml import etree

    from catalog import premis, provenance, provjson, repo
    from catalog.db import session_scope
    from catalog.models import Film

    with session_scope() as s:
        film = s.get(Film, film_id)
        rows = {k: [(r.start_s, r.end_s, r.label, r.shot_id) for r in repo.speech_segments(s, film, kind=k)]
                for k in repo.SPEECH_SEGMENT_KINDS}
        p = provenance.load(s, film_id=film_id)
    # the speaking intervals seen in the picture cover the clip's true speaking times
    true_s = sum(b - a for a, b in clip.speaking)
    seen = sum(max(0.0, min(b, d) - max(a, c)) for a, b, *_ in rows["speaking"] for c, d in clip.speaking)
    assert seen >= 0.6 * true_s, (rows["speaking"], clip.speaking)
    assert all(shot is not None for *_, shot in rows["speaking"] + rows["line"])
    assert [label for _, _, label, _ in rows["line"]] == [f"MARY: {p['text']}" for p in spoken["placed"]]
    assert [[round(a, 3), round(b, 3)] for a, b, *_ in rows["speech"]] == heard["segments"]

    doc = etree.fromstring(premis.to_bytes(p))
    assert premis.schema().validate(doc)
    ns = {"p": premis.NS}
    rttm_obj = [o for o in doc.findall("p:object", ns)
                if o.findtext(".//p:messageDigest", namespaces=ns) == rttm_sha256]
    assert len(rttm_obj) == 1  # the RTTM file is an object of its own, with its fixity
    rttm_id = rttm_obj[0].findtext("p:objectIdentifier/p:objectIdentifierValue", namespaces=ns)
    check = [e for e in doc.findall("p:event", ns)
             if (e.findtext(".//p:eventDetail", namespaces=ns) or "").startswith("speech check:")]
    linked = [lo.findtext("p:linkingObjectIdentifierValue", namespaces=ns) for lo in check[-1].findall(
        "p:linkingObjectIdentifier", ns) if lo.findtext("p:linkingObjectRole", namespaces=ns) == "outcome"]
    assert rttm_id in linked  # the speech check produced it
    props = {sp.findtext("p:significantPropertiesType", namespaces=ns): sp.findtext(
        "p:significantPropertiesValue", namespaces=ns) for sp in doc.iter(f"{{{premis.NS}}}significantProperties")}
    assert props["dialogue lines (lines, s)"].startswith(f"{len(spoken['placed'])}, ")
    assert props["speech heard (segments, s)"].startswith(f"{len(heard['segments'])}, ")

    graph = prov.model.ProvDocument.deserialize(content=provjson.to_json(p), format="json")
    types = [str(r.get_asserted_types() and next(iter(r.get_asserted_types())))
             for r in graph.get_records(prov.model.ProvEntity)]
    assert sum(t.endswith("dialogue-line") for t in types) == len(spoken["placed"])
    assert sum(t.endswith("speech-segment") for t in types) == len(heard["segments"])
    assert sum(t.endswith("speaking-interval") for t in types) == len(rows["speaking"]) >= 1


def test_a_bad_srt_fails_its_film_with_the_reason_and_the_rest_finish(prefect_harness, foleyflow_home, tmp_path):
    from catalog import repo
    from catalog.db import session_scope
    from flows.collection import process_collection
    from tests.media import write_video

    reel = tmp_path / "reel"
    reel.mkdir()
    write_video(reel / "good.mp4", frames=48, fps=24)
    write_video(reel / "bad.mp4", frames=50, fps=24)  # other bytes: a film is its sha256
    (reel / "bad.srt").write_text("1\nthis is not a time line\nHello\n")
    summary = process_collection(str(reel))
    assert summary["failed"] == 1
    with session_scope() as s:
        films = {f["title"]: f for f in repo.status_report(s)["films"]}
    assert films["good"]["status"] == "done"
    assert films["bad"]["status"] == "failed"
    assert "dialogue" in films["bad"]["error"] and "bad.srt" in films["bad"]["error"]
    json.dumps(films)  # the report stays serialisable
