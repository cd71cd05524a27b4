"""Test-wide setup: an isolated Prefect home and foleyflow home, a Prefect test server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="foleyflow-tests-"))
# Before anything imports prefect: never touch the user's ~/.prefect or foleyflow-data.
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "prefect")
os.environ["FOLEYFLOW_HOME"] = str(_SESSION_DIR / "home")
os.environ.pop("FOLEYFLOW_CATALOG_URL", None)
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import foleyflow  # noqa: E402,F401  (offline defaults)
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FOOTAGE = SHARED / "footage"
DAMAGE = SHARED / "damage"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def tiny_generator():
    """A tiny, untrained foley-mini pipeline on disk, the session's default generator.

    Flow and end-to-end tests exercise the whole chain (timing, generation, checks, stitching,
    delivery) in seconds with it; the shipped weights have tests of their own (tests/test_registry.py).
    """
    import torch

    from models.foley_mini.config import PRESETS, build_pipeline

    folder = _SESSION_DIR / "tiny-generator"
    torch.manual_seed(0)
    build_pipeline(PRESETS["tiny"], mel_mean=0.0).save_pretrained(str(folder))  # audible, not silent
    os.environ["FOLEYFLOW_GENERATOR"] = f"local:{folder}"
    from foleyflow.settings import get_settings

    get_settings(fresh=True)
    yield f"local:{folder}"


@pytest.fixture(scope="session")
def prefect_harness():
    """A Prefect test server for the whole session (started on first use)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@contextlib.contextmanager
def _isolated_home(home: Path, monkeypatch: pytest.MonkeyPatch):
    """FOLEYFLOW_HOME (and so the SQLite catalog) at ``home`` while inside; the previous one after."""
    from catalog.db import dispose_engines
    from foleyflow.settings import get_settings

    monkeypatch.setenv("FOLEYFLOW_HOME", str(home))
    monkeypatch.delenv("FOLEYFLOW_CATALOG_URL", raising=False)
    get_settings(fresh=True)
    try:
        yield home
    finally:
        dispose_engines()
        monkeypatch.undo()
        get_settings(fresh=True)


@pytest.fixture()
def foleyflow_home(tmp_path, monkeypatch):
    """A fresh FOLEYFLOW_HOME (and so a fresh SQLite catalog) for one test."""
    with _isolated_home(tmp_path / "ff-home", monkeypatch) as home:
        yield home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_shared(*names: str) -> Path:
    """Skip the test unless ../shared/footage holds these files."""
    for name in names:
        if not (FOOTAGE / name).exists():
            pytest.skip(f"../shared/footage/{name} not present")
    return FOOTAGE


def _deliver_film(folder: Path) -> dict:
    """A three-shot film made in ``folder``, run once through process-collection; its status row."""
    from catalog import repo
    from catalog.db import session_scope
    from flows.collection import process_collection
    from tests.media import write_video

    folder.mkdir()
    write_video(folder / "film.mp4", frames=72, fps=24, scenes=3)
    summary = process_collection(str(folder))
    assert summary["failed"] == 0
    with session_scope() as s:
        film = repo.status_report(s)["films"][0]
    return film


@pytest.fixture()
def delivered(prefect_harness, foleyflow_home, tmp_path):
    """A three-shot film (made here), run once: delivered, every shot with two candidates; its status row."""
    return _deliver_film(tmp_path / "reel")


@pytest.fixture(scope="module")
def delivered_once(prefect_harness, tmp_path_factory):
    """``delivered``, made once for a module's tests in a home of their own: tests that only read the catalog."""
    with pytest.MonkeyPatch.context() as mp, _isolated_home(tmp_path_factory.mktemp("ff-home"), mp):
        yield _deliver_film(tmp_path_factory.mktemp("delivered") / "reel")
