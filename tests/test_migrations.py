"""Alembic migrations of the catalog, on SQLite and the local PostgreSQL server.

PostgreSQL cases use FOLEYFLOW_TEST_PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), each test in its own
temporary schema, and are skipped with the reason when the server is unreachable.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from catalog import repo
from catalog.db import (
    MIGRATIONS_DIR, alembic_config, current_revision, dispose_engines, downgrade, head_revision, make_engine,
    session_scope, upgrade,
)
from catalog.models import Base, Event, Film, Generation, Shot

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("FOLEYFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TABLES = {"collection", "collection_film", "film", "shot", "run", "event", "output_file", "corpus_clip", "generation",
          "review", "delivery", "watermark", "speech_segment"}


def _pg_unreachable() -> str | None:
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # any failure to connect means: skip
        return (f"PostgreSQL at {sa.make_url(PG_URL).render_as_string()} unreachable: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        dispose_engines()
        return
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


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def fill(url: str) -> None:
    """One of everything, with links between them."""
    with session_scope(url) as session:
        run = repo.start_run(session, flow_run_id="r1", flow_name="process-film", parameters={}, code_version="0")
        collection = repo.upsert_collection(session, "c", "/c")
        film = repo.upsert_film(session, sha256=hashlib.sha256(b"f").hexdigest(), path="f.mkv",
                                probe={"fps": 24.0}, collection=collection)
        shot = repo.sync_shots(session, film, [{"index": 0, "start_frame": 0, "end_frame": 9,
                                                "start_s": 0.0, "end_s": 0.375}])[0]
        repo.add_event(session, event_type="ingestion", outcome="success", agent="t", shot=shot, run=run)
        repo.record_file(session, kind="keyframe", path="k.png", sha256=hashlib.sha256(b"k").hexdigest(),
                         size_bytes=3, shot=shot, run=run)
        repo.add_generations(session, shot, [{
            "seed": 2**40, "prompt": "hooves", "negative_prompt": "", "model_id": "builtin:foley-mini",
            "weights_sha256": hashlib.sha256(b"w").hexdigest(), "scheduler": "DPMSolverMultistepScheduler",
            "steps": 20, "guidance": 3.0, "duration_s": 0.475, "params_hash": "p" * 32, "audio_path": "a.wav",
            "audio_sha256": hashlib.sha256(b"a").hexdigest(), "scores": {"sync": 0.5}, "selected": True,
            "attributions": [{"clip_id": "c1", "licence": "CC0-1.0"}]}], run=run)


def test_single_head_and_date_prefixed_files() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1 and head_revision() == script.get_current_head()
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None  # one linear history down to the base
    for revision in revisions:
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\w+\.py", Path(revision.path).name), revision.path
    assert {p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")} == {
        Path(r.path).name for r in revisions}


def test_downgrade_then_upgrade_with_data(url: str) -> None:
    upgrade(url)
    assert current_revision(url) == head_revision() and tables(url) == TABLES
    fill(url)
    dispose_engines()  # PostgreSQL: no pooled connection may hold locks on the tables
    downgrade(url, "base")
    assert current_revision(url) is None and tables(url) == set()
    upgrade(url)
    assert tables(url) == TABLES
    fill(url)  # the rebuilt schema takes the same data again
    with session_scope(url) as session:
        counts = [session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Film, Shot, Event, Generation)]
    assert counts == [1, 1, 1, 1]


def test_models_and_migrations_agree(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_unknown_revision_is_explained(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match="made by a newer foleyflow"):
        upgrade(url)


def test_processes_starting_together_migrate_once(url: str, tmp_path) -> None:
    """Two fresh processes, any cwd, no alembic.ini: both see a migrated catalog."""
    code = ("import sys\nfrom catalog.db import session_scope\nfrom catalog import repo\n"
            "with session_scope(sys.argv[1]) as s:\n    repo.upsert_collection(s, 'shared', None)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=tmp_path, env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stderr.close()
    assert [rc for rc, _ in results] == [0, 0], results
    assert current_revision(url) == head_revision()
    with session_scope(url) as session:
        assert repo.get_collection(session, "shared") is not None
