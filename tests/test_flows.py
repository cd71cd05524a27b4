"""Flows end to end on real (synthetic) video files, a real SQLite catalog and a Prefect test server."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.media import write_video

pytestmark = pytest.mark.slow


@pytest.fixture()
def collection_dir(tmp_path):
    folder = tmp_path / "reels"
    folder.mkdir()
    write_video(folder / "alpha.mp4", frames=72, fps=24, scenes=3)
    write_video(folder / "beta.mp4", frames=48, fps=24, scenes=2, audio=True)
    (folder / "gamma.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but then nothing useful" * 40)
    return folder


def _counts(session) -> dict[str, int]:
    from catalog.models import Event, Film, Generation, OutputFile, Shot

    return {m.__name__: session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (Film, Shot, OutputFile, Event, Generation)}


def _cleaning_events(session) -> int:
    from catalog.models import Event

    return session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.event_type == "cleaning"))


def test_collection_finishes_good_films_and_records_the_corrupt_one(prefect_harness, foleyflow_home, collection_dir):
    from catalog import repo
    from catalog.db import session_scope
    from flows.collection import process_collection

    summary = process_collection(str(collection_dir))
    assert summary["failed"] == 1
    with session_scope() as s:
        report = repo.status_report(s)
        counts, cleanings = _counts(s), _cleaning_events(s)
    by_title = {f["title"]: f for f in report["films"]}
    assert by_title["alpha"]["status"] == "done" and len(by_title["alpha"]["shots"]) == 3
    assert by_title["beta"]["status"] == "done" and len(by_title["beta"]["shots"]) == 2
    assert all(sh["status"] == "done" for f in ("alpha", "beta") for sh in by_title[f]["shots"])
    assert by_title["gamma"]["status"] == "failed"
    assert "not a readable video" in by_title["gamma"]["error"]
    assert [sh["start_frame"] for sh in by_title["alpha"]["shots"]] == [0, 24, 48]

    # Every good shot has a cleaned file and a keyframe on disk, with its sha256 in the catalog.
    from catalog.models import Shot

    with session_scope() as s:
        shots = s.scalars(sa.select(Shot)).all()
        for shot in shots:
            assert shot.cleaned_sha256 and shot.keyframe_sha256
            from pathlib import Path

            assert Path(shot.cleaned_path).exists() and Path(shot.keyframe_path).exists()

    # Every good film is delivered with a generated soundtrack as long as its picture; every shot has
    # two recorded candidates (seed, model, scores), one of them selected.
    import av

    from catalog.models import Film, Generation

    with session_scope() as s:
        for f in ("alpha", "beta"):
            film = s.get(Film, by_title[f]["id"])
            assert Path(film.delivery_path).exists() and Path(film.soundtrack_path).exists()
            with av.open(film.delivery_path) as c:
                kinds = [st.type for st in c.streams]
                picture = c.streams.video[0].frames / float(c.streams.video[0].average_rate)
                samples = sum(fr.samples for fr in c.decode(c.streams.audio[0]))
                rate = c.streams.audio[0].sample_rate
                assert c.metadata.get("foleyflow_film_id") == str(film.id)
            # beta has a sound track of its own: kept as a second track
            assert kinds == (["video", "audio", "audio"] if f == "beta" else ["video", "audio"])
            assert abs(samples / rate - picture) <= 1024 / rate
        gens = s.scalars(sa.select(Generation)).all()
        assert len(gens) == 2 * 5
        by_shot = {}
        for g in gens:
            by_shot.setdefault(g.shot_id, []).append(g)
            assert g.model_id.startswith("local:") and len(g.weights_sha256) == 64 and Path(g.audio_path).exists()
            assert {"sync", "lufs", "clipping", "silent"} <= set(g.scores)
        assert all(sum(g.selected for g in c) == 1 and len({g.seed for g in c}) == 2 for c in by_shot.values())

    # Shot-level task runs read like a shot list in the UI.
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = {tr.name for tr in client.read_task_runs()}
    film_id = by_title["alpha"]["id"]
    assert {f"film-{film_id}-shot-{i:04d}-{stage}" for i in range(3) for stage in ("clean", "timing", "generate")} <= names

    # A second run adds no rows and redoes no cleaning.
    again = process_collection(str(collection_dir))
    assert again["failed"] == 1
    with session_scope() as s:
        counts2, cleanings2 = _counts(s), _cleaning_events(s)
    assert counts2["Film"] == counts["Film"] and counts2["Shot"] == counts["Shot"]
    assert counts2["OutputFile"] == counts["OutputFile"]
    assert counts2["Generation"] == counts["Generation"]  # nothing generated again
    assert cleanings2 == cleanings


def test_a_failing_shot_fails_alone_and_a_rerun_redoes_only_it(prefect_harness, foleyflow_home, tmp_path, monkeypatch):
    from catalog import repo
    from catalog.db import session_scope
    from flows.collection import process_collection
    import tasks.stages

    folder = tmp_path / "one"
    folder.mkdir()
    write_video(folder / "film.mp4", frames=72, fps=24, scenes=3)
    real = tasks.stages.clean_video

    def flaky(src, dst, *, start=0, stop=None, config=None):
        if start == 24:
            raise RuntimeError("simulated decoder crash in shot 1")
        return real(src, dst, start=start, stop=stop, config=config)

    monkeypatch.setattr(tasks.stages, "clean_video", flaky)
    summary = process_collection(str(folder))
    assert summary["failed"] == 1
    with session_scope() as s:
        film = repo.status_report(s)["films"][0]
        before = _cleaning_events(s)
    assert [sh["status"] for sh in film["shots"]] == ["done", "failed", "done"]
    assert "simulated decoder crash" in film["shots"][1]["error"]
    assert film["status"] == "failed" and "shot 1" in film["error"]

    monkeypatch.setattr(tasks.stages, "clean_video", real)
    summary = process_collection(str(folder))
    assert summary["failed"] == 0
    with session_scope() as s:
        film = repo.status_report(s)["films"][0]
        after = _cleaning_events(s)
    assert [sh["status"] for sh in film["shots"]] == ["done", "done", "done"]
    assert film["status"] == "done" and film["error"] is None
    assert after == before + 1  # only the failed shot was cleaned again


def test_the_film_flow_cleans_at_most_max_workers_shots_at_once(prefect_harness, foleyflow_home, tmp_path, monkeypatch):
    """Memory stays flat only if a long film never has all its shots in flight (any task runner)."""
    import threading
    import time

    import tasks.stages
    from flows.film import process_film
    from flows.options import FilmInput, RunOptions

    write_video(tmp_path / "film.mp4", frames=96, fps=24, scenes=6)
    real = tasks.stages.clean_video
    lock = threading.Lock()
    active, peak = [0], [0]

    def counting(src, dst, *, start=0, stop=None, config=None):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.2)  # long enough that an unbounded runner would overlap every shot
            return real(src, dst, start=start, stop=stop, config=config)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(tasks.stages, "clean_video", counting)
    # process_film called on its own runs with Prefect's default (unbounded) thread pool.
    result = process_film(FilmInput(path=str(tmp_path / "film.mp4"), title="six"), options=RunOptions(max_workers=2))
    assert result["shots"] == 6 and result["status"] == "done"
    assert peak[0] == 2


def test_a_second_run_of_a_collection_waits_for_the_first_and_other_collections_do_not(prefect_harness,
                                                                                     foleyflow_home, tmp_path):
    import threading
    import time

    from catalog.db import session_scope
    from catalog.models import Run
    from flows.collection import one_run_per_collection, process_collection

    for name in ("reel-a", "reel-b"):
        (tmp_path / name).mkdir()
        write_video(tmp_path / name / "film.mp4", frames=24, fps=24, scenes=1)

    def runs() -> list[str]:
        with session_scope() as s:
            return [r.parameters["source"] for r in s.scalars(sa.select(Run).order_by(Run.id))]

    results: dict[str, dict] = {}
    with one_run_per_collection("reel-a"):  # a run of reel-a is going on
        waiting = threading.Thread(target=lambda: results.setdefault("a", process_collection(str(tmp_path / "reel-a"))))
        waiting.start()
        results["b"] = process_collection(str(tmp_path / "reel-b"))  # another collection: not held up
        time.sleep(2)
        assert results["b"]["failed"] == 0 and runs() == [str(tmp_path / "reel-b")]
        assert waiting.is_alive()
    waiting.join(timeout=300)
    assert not waiting.is_alive() and results["a"]["failed"] == 0
    assert runs() == [str(tmp_path / "reel-b"), str(tmp_path / "reel-a")]
