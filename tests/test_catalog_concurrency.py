"""Two OS processes updating the same film's shots at once on PostgreSQL: no lost update, no duplicate row."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import sqlalchemy as sa

from tests.test_catalog import pg_schema_url, sha, shots

pytestmark = pytest.mark.postgres
ROUNDS = 8


@pytest.fixture()
def pg_url():
    yield from pg_schema_url()


def _candidate(seed: int, selected: bool) -> dict:
    return {"seed": seed, "prompt": "hammer", "negative_prompt": "", "model_id": "m", "weights_sha256": sha("w"),
            "scheduler": "dpm", "steps": 2, "guidance": 1.0, "duration_s": 1.0, "params_hash": "p",
            "audio_path": f"{seed}.wav", "audio_sha256": sha(str(seed)), "scores": {"sync": 1.0},
            "selected": selected, "attributions": []}


def _worker(url: str, worker: int, start, errors) -> None:
    try:
        from catalog import repo
        from catalog.db import session_scope
        from catalog.models import Shot

        start.wait(60)
        for r in range(ROUNDS):
            with session_scope(url) as s:  # both processes: the same film, the same shots
                film = repo.upsert_film(s, sha256=sha("film"), path=f"w{worker}.mkv", title=f"w{worker}")
                rows = repo.sync_shots(s, film, shots((0, 10), (10, 30), (30, 31)))
                shot_id = rows[1].id
            with session_scope(url) as s:
                repo.set_shot_status(s, s.get(Shot, shot_id), "running")  # an attempt each time
            with session_scope(url) as s:
                repo.add_generations(s, s.get(Shot, shot_id), [_candidate(worker * 100 + r, True),
                                                                _candidate(worker * 100 + r + 50, False)])
    except BaseException as exc:  # reported by the parent
        errors.put(f"worker {worker}: {type(exc).__name__}: {exc}")


def test_two_processes_updating_one_film_lose_nothing_and_duplicate_nothing(pg_url: str) -> None:
    from catalog.db import init_catalog, session_scope
    from catalog.models import Film, Generation, Shot

    init_catalog(pg_url)  # migrated once, before the race
    ctx = mp.get_context("spawn")
    start, errors = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(pg_url, w, start, errors)) for w in (1, 2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(180)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, problems
    assert [p.exitcode for p in procs] == [0, 0]
    with session_scope(pg_url) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Film)) == 1
        assert sorted(s.scalars(sa.select(Shot.index))) == [0, 1, 2]
        shot = s.scalars(sa.select(Shot).where(Shot.index == 1)).one()
        assert shot.attempts == 2 * ROUNDS  # no lost increment
        attempts = list(s.execute(sa.select(Generation.attempt, Generation.candidate)))
        assert sorted(a for a, c in attempts if c == 0) == list(range(1, 2 * ROUNDS + 1))
        assert len(attempts) == 4 * ROUNDS
