"""Archivists' decisions and re-runs: reject a shot with new words, re-run, only that shot changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner


pytestmark = pytest.mark.slow


def _generation_events(session) -> dict[int, int]:
    from catalog.models import Event

    rows = session.execute(sa.select(Event.shot_id, sa.func.count()).where(Event.event_type == "generation")
                           .group_by(Event.shot_id)).all()
    return dict(rows)


def _events(session, event_type: str) -> int:
    from catalog.models import Event

    return session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.event_type == event_type))


def _snapshot(film_id: int) -> dict:
    from catalog import repo
    from catalog.db import session_scope
    from catalog.models import Film, Shot

    with session_scope() as s:
        shots = s.scalars(sa.select(Shot).where(Shot.film_id == film_id).order_by(Shot.index)).all()
        selected = {sh.index: repo.selected_generation(s, sh) for sh in shots}
        film = s.get(Film, film_id)
        return {"selected": {i: (g.id, g.audio_sha256, g.prompt, g.seed) for i, g in selected.items()},
                "generations": {sh.index: len(repo.generations(s, sh)) for sh in shots},
                "events": _generation_events(s), "cleaning": _events(s, "cleaning"),
                "delivery": (film.delivery_path, film.delivery_sha256),
                "versions": [(d.version, d.predecessor_id, d.path, d.sha256) for d in repo.deliveries(s, film)],
                "ids": [sh.id for sh in shots], "status": [sh.status for sh in shots]}


def test_rejecting_a_shot_with_a_new_prompt_redoes_only_that_shot_and_redelivers(delivered):
    from foleyflow.cli import app

    runner = CliRunner()
    before = _snapshot(delivered["id"])
    target = before["ids"][1]
    assert len(before["versions"]) == 1 and before["versions"][0][1] is None

    out = runner.invoke(app, ["review", str(target), "--reject", "--prompt", "a door slams twice",
                              "--note", "too quiet for the slam", "--by", "M. Archivist", "--json"])
    assert out.exit_code == 0, out.output
    decision = json.loads(out.stdout)
    assert decision["decision"] == "reject" and decision["reviewer"] == "M. Archivist"
    assert decision["note"] == "too quiet for the slam" and decision["when"]
    assert _snapshot(delivered["id"])["status"][1] == "rejected"

    out = runner.invoke(app, ["rerun", "--rejected", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["failed"] == 0 and summary["shots"] == [target]
    after = _snapshot(delivered["id"])

    # the rejected shot: one new attempt with the new words and new seeds
    assert after["generations"][1] == before["generations"][1] + 2
    assert after["selected"][1][2] == "a door slams twice"
    assert after["selected"][1][0] != before["selected"][1][0] and after["selected"][1][3] != before["selected"][1][3]
    assert after["events"][target] == before["events"][target] + 1
    # every other shot: untouched (same selected generation, no new generation event), nothing cleaned again
    for i in (0, 2):
        assert after["selected"][i] == before["selected"][i]
        assert after["events"][before["ids"][i]] == before["events"][before["ids"][i]]
        assert after["generations"][i] == before["generations"][i]
    assert after["cleaning"] == before["cleaning"]
    assert after["status"] == ["done", "done", "done"]

    # re-delivered as version 2, linked to version 1, whose file is kept
    assert after["delivery"][1] != before["delivery"][1]
    (v1, p1, path1, sha1), (v2, p2, path2, sha2) = after["versions"]
    assert (v1, v2) == (1, 2) and p2 is not None and path1 == before["delivery"][0] and Path(path1).exists()
    assert path2 == after["delivery"][0] and Path(path2).exists() and sha2 == after["delivery"][1]


def test_an_accepted_shot_keeps_its_sound_and_a_chosen_candidate_is_delivered(delivered):
    from catalog import repo
    from catalog.db import session_scope
    from catalog.models import Generation, Shot
    from foleyflow.cli import app

    runner = CliRunner()
    before = _snapshot(delivered["id"])
    target = before["ids"][0]
    with session_scope() as s:
        other = s.scalars(sa.select(Generation).where(Generation.shot_id == target, Generation.selected.is_(False))
                          ).one()
        other_id, other_candidate = other.id, other.candidate

    out = runner.invoke(app, ["review", str(target), "--accept", "--candidate", str(other_candidate), "--by", "ana"])
    assert out.exit_code == 0, out.output
    with session_scope() as s:
        assert repo.selected_generation(s, s.get(Shot, target)).id == other_id
        assert repo.reviews(s, s.get(Shot, target))[-1].generation_id == other_id

    # nothing failed or rejected: --film re-delivers with the chosen candidate and generates nothing
    out = runner.invoke(app, ["rerun", "--film", str(delivered["id"])])
    assert out.exit_code == 0, out.output
    after = _snapshot(delivered["id"])
    assert after["events"] == before["events"]
    assert after["selected"][0][0] == other_id
    assert len(after["versions"]) == 2

    # an accepted shot is not recomputed even when asked for by id (reject it first); the film's other shots are
    out = runner.invoke(app, ["rerun", "--shot", str(target), "--shot", str(before["ids"][2]), "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["shots"] == [before["ids"][2]] and summary["kept_accepted"] == [target]
    again = _snapshot(delivered["id"])
    assert again["selected"][0][0] == other_id and again["events"][target] == before["events"][target]
    assert again["events"][before["ids"][2]] == before["events"][before["ids"][2]] + 1


def test_review_refuses_bad_input_with_a_clear_message(delivered):
    from foleyflow.cli import app

    runner = CliRunner()
    shot = str(delivered["shots"][0]["id"])
    cases = [
        (["review", shot], "exactly one of --accept or --reject"),
        (["review", shot, "--accept", "--reject"], "exactly one of --accept or --reject"),
        (["review", "99999", "--accept"], "no shot with id 99999"),
        (["review", shot, "--accept", "--candidate", "7"], "no candidate 7"),
        (["review", shot, "--accept", "--prompt", "rain"], "give them with --reject"),
        (["rerun", "--shot", "99999"], "no shot with id 99999"),
        (["rerun", "--film", "4242"], "4242"),
    ]
    for args, message in cases:
        out = runner.invoke(app, args)
        assert out.exit_code == 1, (args, out.output)
        assert message in out.output, (args, out.output)
    # nothing was recorded by the refused commands
    from catalog.db import session_scope

    with session_scope() as s:
        assert _events(s, "review") == 0
