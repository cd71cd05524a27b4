"""Catalog behaviour on SQLite and the local PostgreSQL server.

PostgreSQL cases use FOLEYFLOW_TEST_PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), each test in its own
temporary schema that is dropped afterwards; they are skipped with the reason
when the server cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import selectinload

from catalog import repo
from catalog.db import dispose_engines, init_catalog, make_engine, session_scope
from catalog.models import CollectionFilm, Event, EventType, Film, Generation, OutputFile, Shot, Status

PG_URL = os.environ.get("FOLEYFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_problem: list[str] = []  # why PostgreSQL is unusable, probed once


def _pg_unreachable() -> str | None:
    if not _pg_problem:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            _pg_problem.append("")
        except Exception as exc:  # any failure to connect means: skip
            _pg_problem.append(f"PostgreSQL at {sa.make_url(PG_URL).render_as_string()} unreachable: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()
    return _pg_problem[0] or None


def pg_schema_url() -> Iterator[str]:
    """Yield a URL whose search_path is a new schema; drop the schema afterwards."""
    problem = _pg_unreachable()
    if problem:
        pytest.skip(problem)
    schema = f"foleyflow_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog' / 'catalog.db'}"
        dispose_engines()
    else:
        yield from pg_schema_url()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def shots(*ranges: tuple[int, int], fps: float = 24.0) -> list[dict]:
    return [{"index": i, "start_frame": a, "end_frame": b, "start_s": a / fps, "end_s": b / fps}
            for i, (a, b) in enumerate(ranges)]


def count(url: str, model: type) -> int:
    with session_scope(url) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


PROBE = {"container_format": "matroska,webm", "duration_s": 4.0, "fps": 24000 / 1001, "fps_num": 24000,
         "fps_den": 1001, "vfr": False, "frame_count": 96, "width": 320, "height": 240, "video_codec": "ffv1",
         "pix_fmt": "yuv420p", "rotation": 90, "audio_tracks": [{"codec": "pcm_s16le", "channels": 1}]}


def test_sqlite_engine_is_set_up_for_concurrent_writers(tmp_path) -> None:
    path = tmp_path / "a" / "b" / "catalog.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert (pragma("foreign_keys"), pragma("journal_mode"), pragma("busy_timeout")) == (1, "wal", 30000)
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def test_default_catalog_lives_under_foleyflow_home(tmp_path, monkeypatch) -> None:
    from foleyflow.settings import get_settings

    monkeypatch.delenv("FOLEYFLOW_CATALOG_URL", raising=False)
    monkeypatch.setenv("FOLEYFLOW_HOME", str(tmp_path / "home"))
    get_settings(fresh=True)
    try:
        with session_scope() as session:
            repo.upsert_collection(session, "default", None)
        assert (tmp_path / "home" / "catalog.db").is_file()
    finally:
        dispose_engines()
        monkeypatch.undo()
        get_settings(fresh=True)


def test_film_upsert_is_keyed_by_sha256(url: str) -> None:
    with session_scope(url) as session:
        reels = repo.upsert_collection(session, "reels", "/archive/reels")
        film = repo.upsert_film(session, sha256=sha("film"), path="/archive/a.mkv", title="A", probe=PROBE,
                                size_bytes=5_000_000_000, collection=reels)
        first_id = film.id
    with session_scope(url) as session:  # re-run: file moved and renamed
        reels = repo.upsert_collection(session, "reels", "/archive/reels2")
        film = repo.upsert_film(session, sha256=sha("film"), path="/moved/a.mkv", title="A (1926)",
                                collection=reels)
    assert film.id == first_id and film.path == "/moved/a.mkv" and film.title == "A (1926)"
    assert (film.fps_num, film.fps_den, film.rotation, film.vfr) == (24000, 1001, 90, False)
    assert film.audio_tracks == [{"codec": "pcm_s16le", "channels": 1}]
    assert film.size_bytes == 5_000_000_000 and reels.source_path == "/archive/reels2"
    assert (count(url, Film), count(url, CollectionFilm)) == (1, 1)
    with session_scope(url) as session:
        loaded = session.scalars(sa.select(Film).options(selectinload(Film.collections))).one()
        assert [c.name for c in loaded.collections] == ["reels"]
        assert loaded.created.tzinfo is not None and loaded.created <= loaded.updated


def test_unreadable_film_gets_a_failed_row(url: str) -> None:
    with session_scope(url) as session:
        film = repo.upsert_film(session, sha256=sha("corrupt"), path="/archive/bad.mp4")
        repo.set_film_status(session, film, Status.FAILED, error="moov atom not found: file is truncated")
    with session_scope(url) as session:
        film = repo.get_film_by_sha(session, sha("corrupt"))
        assert (film.status, film.fps, film.audio_tracks) == ("failed", None, None)
        assert "truncated" in film.error


def test_bad_input_is_refused_with_a_reason(url: str) -> None:
    with session_scope(url) as session:
        with pytest.raises(ValueError, match="64 lowercase hex"):
            repo.upsert_film(session, sha256="/archive/a.mkv", path="/archive/a.mkv")
        with pytest.raises(ValueError, match="unknown probe fields.*'fsp'"):
            repo.upsert_film(session, sha256=sha("x"), path="x", probe={"fsp": 24})
        film = repo.upsert_film(session, sha256=sha("x"), path="x")
        with pytest.raises(ValueError, match="end is exclusive"):
            repo.sync_shots(session, film, shots((10, 10)))
        with pytest.raises(ValueError, match="not a valid Status"):
            repo.set_film_status(session, film, "finished")
        with pytest.raises(ValueError, match="timezone-aware"):
            repo.add_event(session, event_type="ingestion", outcome="success", agent="a", film=film,
                           when=dt.datetime(2026, 1, 1))


def test_sync_shots_keeps_updates_and_deletes(url: str) -> None:
    with session_scope(url) as session:
        film = repo.upsert_film(session, sha256=sha("f"), path="f.mkv")
        first = repo.sync_shots(session, film, shots((0, 24), (24, 60), (60, 96)))
        repo.set_shot_status(session, first[0], Status.RUNNING)
        repo.set_shot_status(session, first[0], Status.DONE)
        first[1].keyframe_path = "k1.png"
        repo.set_shot_status(session, first[1], Status.RUNNING)
        repo.set_shot_status(session, first[1], Status.FAILED, error="boom")
        ids = [s.id for s in first]
    with session_scope(url) as session:  # identical re-run: nothing changes
        film = repo.get_film_by_sha(session, sha("f"))
        again = repo.sync_shots(session, film, shots((0, 24), (24, 60), (60, 96)))
        assert [s.id for s in again] == ids
        assert [(s.status, s.attempts) for s in again] == [("done", 1), ("failed", 1), ("pending", 0)]
    with session_scope(url) as session:  # shot 1 moved its cut, shot 2 merged away
        film = repo.get_film_by_sha(session, sha("f"))
        third = repo.sync_shots(session, film, shots((0, 24), (24, 96)))
        assert film.shots == third  # the film's collection is set, no lazy load needed
    assert [s.id for s in third] == ids[:2]
    assert [(s.index, s.start_frame, s.end_frame, s.end_s) for s in third] == [(0, 0, 24, 1.0), (1, 24, 96, 4.0)]
    assert (third[0].status, third[0].attempts) == ("done", 1)
    assert (third[1].status, third[1].attempts, third[1].error, third[1].keyframe_path) == ("pending", 0, None, None)
    assert count(url, Shot) == 2


def test_status_transitions(url: str) -> None:
    with session_scope(url) as session:
        film = repo.upsert_film(session, sha256=sha("s"), path="s.mkv")
        (shot,) = repo.sync_shots(session, film, shots((0, 10)))
        repo.set_shot_status(session, shot, "running")
        repo.set_shot_status(session, shot, "failed", error="decoder error at frame 7")
        repo.set_shot_status(session, shot, "running")
    assert (shot.attempts, shot.error) == (2, None)  # readable after the session closed
    with session_scope(url) as session:
        shot = session.get(Shot, shot.id)
        repo.set_shot_status(session, shot, "done", error="ignored")
        repo.set_shot_status(session, shot, "rejected", error="sounds like rain, it is a crowd")
        assert [s.index for s in repo.shots_to_run(session, repo.get_film(session, shot.film_id))] == [0]
        repo.set_shot_status(session, shot, "done")
        assert repo.shots_to_run(session, repo.get_film(session, shot.film_id)) == []
    assert (shot.status, shot.attempts, shot.error) == ("done", 2, None)


def test_events_link_objects_and_survive_deletion(url: str) -> None:
    with session_scope(url) as session:
        run = repo.start_run(session, flow_run_id=str(uuid.uuid4()), flow_name="process-collection",
                             parameters={"root": __import__("pathlib").Path("/archive"), "n": 2},
                             code_version="0.1.0")
        film = repo.upsert_film(session, sha256=sha("e"), path="e.mkv")
        doomed = repo.sync_shots(session, film, shots((0, 10), (10, 20)))[1]
        agent = repo.agent_string("PySceneDetect 0.7.2")
        repo.add_event(session, event_type=EventType.INGESTION, outcome="success", agent=agent, film=film, run=run)
        shot_event = repo.add_event(session, event_type=EventType.SHOT_DETECTION, outcome="failure", agent=agent,
                                    shot=doomed, run=run, detail="cut missed", outcome_detail={"score": 0.25})
        repo.finish_run(session, run, Status.DONE)
    assert agent == "foleyflow 0.1.0 / PySceneDetect 0.7.2"
    assert run.parameters == {"root": "/archive", "n": 2} and run.finished >= run.started
    assert shot_event.film_id == film.id  # the shot's film is linked too
    with session_scope(url) as session:
        repo.sync_shots(session, repo.get_film(session, film.id), shots((0, 20)))
    with session_scope(url) as session:
        events = repo.events_for(session, run=run)
        assert [e.event_type for e in events] == ["ingestion", "shot detection"]
        survivor = events[1]
        assert (survivor.shot_id, survivor.film_id, survivor.outcome_detail) == (None, film.id, {"score": 0.25})
        assert survivor.object_identifier == f"sha256:{sha('e')}#shot=1"
        assert len({e.uuid for e in events}) == 2 and survivor.datetime.tzinfo is not None
        session.delete(session.get(Film, film.id))
    with session_scope(url) as session:
        assert session.scalars(sa.select(Event.film_id)).all() == [None, None]
    assert count(url, Shot) == 0  # the film's shots went with it


def test_record_file_is_idempotent(url: str) -> None:
    for _ in range(2):
        with session_scope(url) as session:
            film = repo.upsert_film(session, sha256=sha("o"), path="o.mkv")
            (shot,) = repo.sync_shots(session, film, shots((0, 10)))
            out = repo.record_file(session, kind="keyframe", path="films/o/0000.png", sha256=sha("png"),
                                   size_bytes=1234, shot=shot)
    assert (out.film_id, out.shot_id, count(url, OutputFile)) == (film.id, shot.id, 1)
    with session_scope(url) as session:  # new content at the same path is a new record
        repo.record_file(session, kind="keyframe", path="films/o/0000.png", sha256=sha("png2"), size_bytes=1)
    assert count(url, OutputFile) == 2


def _candidate(seed: int, selected: bool, **extra) -> dict:
    return {"seed": seed, "prompt": "door slams", "negative_prompt": "voices", "model_id": "builtin:foley-mini",
            "weights_sha256": sha("weights"), "scheduler": "DPMSolverMultistepScheduler", "steps": 20,
            "guidance": 3.0, "duration_s": 2.1, "params_hash": "a" * 32, "audio_path": f"c{seed}.wav",
            "audio_sha256": sha(f"audio{seed}"), "scores": {"sync": seed / 10}, "selected": selected,
            "attributions": [], **extra}


def test_generations_keep_every_attempt_and_one_selection(url: str) -> None:
    with session_scope(url) as session:
        film = repo.upsert_film(session, sha256=sha("g"), path="g.mkv")
        (shot,) = repo.sync_shots(session, film, shots((0, 50)))
        first = repo.add_generations(session, shot, [_candidate(1, False), _candidate(2, True)])
        second = repo.add_generations(session, shot, [_candidate(3, True, params_hash="b" * 32), _candidate(4, False)])
        assert [(g.attempt, g.candidate) for g in first + second] == [(1, 0), (1, 1), (2, 0), (2, 1)]
        assert repo.selected_generation(session, shot).seed == 3  # the latest attempt wins
        assert repo.selected_generation(session, shot, params_hash="a" * 32).seed == 2
        assert repo.selected_generation(session, shot, params_hash="c" * 32) is None
    with pytest.raises(ValueError, match="exactly one"):
        with session_scope(url) as session:
            shot = session.scalars(sa.select(Shot)).one()
            repo.add_generations(session, shot, [_candidate(5, True), _candidate(6, True)])
    with pytest.raises(ValueError, match="audio_sha256"):
        with session_scope(url) as session:
            shot = session.scalars(sa.select(Shot)).one()
            repo.add_generations(session, shot, [_candidate(7, True, audio_sha256="nope")])
    assert count(url, Generation) == 4  # refused attempts left nothing behind


def test_status_report(url: str) -> None:
    with session_scope(url) as session:
        b = repo.upsert_film(session, sha256=sha("b"), path="b.mkv", title="B")
        a = repo.upsert_film(session, sha256=sha("a"), path="a.mkv")
        repo.sync_shots(session, b, list(reversed(shots((0, 5), (5, 9)))))
        repo.set_film_status(session, a, "failed", error="unreadable")
    with session_scope(url) as session:
        report = repo.status_report(session)
        single = repo.status_report(session, film_id=b.id)
        with pytest.raises(LookupError, match=f"no film with id {a.id + 100}"):
            repo.status_report(session, film_id=a.id + 100)
    assert report == {"films": [
        {"id": b.id, "title": "B", "path": "b.mkv", "sha256": sha("b"), "status": "pending", "error": None,
         "delivery_path": None, "delivery_sha256": None, "shots": [{"id": report["films"][0]["shots"][i]["id"], "index": i, "start_frame": s, "end_frame": e,
                    "status": "pending", "error": None} for i, (s, e) in enumerate([(0, 5), (5, 9)])]},
        {"id": a.id, "title": None, "path": "a.mkv", "sha256": sha("a"), "status": "failed",
         "error": "unreadable", "delivery_path": None, "delivery_sha256": None, "shots": []},
    ]}
    assert single == {"films": report["films"][:1]}


def test_relationships_never_load_implicitly(url: str) -> None:
    with session_scope(url) as session:
        repo.upsert_film(session, sha256=sha("l"), path="l.mkv")
    with session_scope(url) as session:
        film = repo.get_film_by_sha(session, sha("l"))
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            film.shots  # noqa: B018


def test_failed_block_leaves_no_trace(url: str) -> None:
    with pytest.raises(RuntimeError, match="stop"):
        with session_scope(url) as session:
            repo.upsert_film(session, sha256=sha("r"), path="r.mkv")
            raise RuntimeError("stop")
    assert count(url, Film) == 0


def test_concurrent_writers_make_one_row_each(url: str) -> None:
    init_catalog(url)
    rounds, workers = 4, 2
    barrier = threading.Barrier(workers, timeout=60)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for r in range(rounds):
                with session_scope(url) as session:
                    barrier.wait()  # start the transactions together
                    collection = repo.upsert_collection(session, f"c{r}", "/archive")
                    film = repo.upsert_film(session, sha256=sha(f"race{r}"), path=f"w{worker}.mkv",
                                            collection=collection)
                    rows = repo.sync_shots(session, film, shots((0, 10), (10, 30), (30, 31)))
                    repo.record_file(session, kind="keyframe", path=f"{r}.png", sha256=sha(f"k{r}"),
                                     size_bytes=9, shot=rows[0])
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert [count(url, model) for model in (Film, CollectionFilm, Shot, OutputFile)] == [
        rounds, rounds, 3 * rounds, rounds]
