"""The README's promises, through the real command line in fresh processes.

`foleyflow demo` runs under a network guard (tests/netguard) installed in every
Python process it starts, Prefect's ephemeral server included: any connection
or name look-up outside loopback fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.media import write_video

pytestmark = pytest.mark.slow
NETGUARD = Path(__file__).parent / "netguard"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "FOLEYFLOW_CATALOG"))}
    env.update(FOLEYFLOW_HOME=str(tmp_path / "home"), PREFECT_HOME=str(tmp_path / "prefect"),
               FOLEYFLOW_NETGUARD_LOG=str(tmp_path / "netguard.log"),
               PYTHONPATH=os.pathsep.join([str(NETGUARD), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.update(extra)
    return env


def _catalog_counts(home: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{home / 'catalog.db'}")
    with engine.connect() as c:
        counts = {t: c.execute(sa.text(f"select count(*) from {t}")).scalar()
                  for t in ("film", "shot", "output_file", "collection", "collection_film")}
        counts["cleaning_events"] = c.execute(sa.text("select count(*) from event where event_type='cleaning'")).scalar()
        counts["shot_events"] = c.execute(sa.text("select count(distinct shot_id) from event where shot_id is not null")).scalar()
        counts["done_shots"] = c.execute(sa.text("select count(*) from shot where status='done'")).scalar()
    engine.dispose()
    return counts


@pytest.mark.timeout(1200)
def test_demo_runs_offline_and_a_second_demo_adds_no_rows(tmp_path):
    env = _env(tmp_path)
    out = tmp_path / "demo"
    first = subprocess.run([sys.executable, "-m", "foleyflow", "demo", "--out", str(out)], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=1100)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    log = tmp_path / "netguard.log"
    assert not log.exists() or not log.read_text().strip(), f"outbound connections attempted:\n{log.read_text()}"
    counts = _catalog_counts(tmp_path / "home")
    assert counts["film"] == 1 and counts["shot"] >= 5
    assert counts["done_shots"] == counts["shot"]
    assert counts["shot_events"] == counts["shot"]  # every shot has its events
    assert counts["cleaning_events"] == counts["shot"]
    assert list((tmp_path / "home").rglob("cleaned-*.mkv")), "no cleaned output"
    assert "demo film:" in first.stdout

    second = subprocess.run([sys.executable, "-m", "foleyflow", "demo", "--out", str(out)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=1100)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _catalog_counts(tmp_path / "home") == counts
    # the second run only re-checked fixity and re-read the metadata: nothing was redone
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}")
    with engine.connect() as c:
        redone = c.execute(sa.text("select distinct event_type from event where run_id = "
                                   "(select max(id) from run)")).scalars().all()
    engine.dispose()
    assert sorted(redone) == ["fixity check", "metadata extraction"]


@pytest.mark.timeout(900)
def test_run_on_two_good_films_and_a_corrupt_one_exits_2(tmp_path):
    folder = tmp_path / "reels"
    folder.mkdir()
    write_video(folder / "one.mp4", frames=48, scenes=2)
    write_video(folder / "two.mp4", frames=50, scenes=2)  # different bytes: films are identified by sha256
    (folder / "three.mp4").write_bytes(os.urandom(5000))
    env = _env(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "foleyflow", "run", str(folder)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=800)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "2 of 3 film(s) finished" in proc.stdout
    assert "[failed] three" in proc.stdout and "not a readable video" in proc.stdout
    status = subprocess.run([sys.executable, "-m", "foleyflow", "status", "--json"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    import json

    films = {f["title"]: f for f in json.loads(status.stdout)["films"]}
    assert films["one"]["status"] == films["two"]["status"] == "done"
    assert films["three"]["status"] == "failed" and films["three"]["shots"] == []
