"""Scale-out: a collection whose shot tasks run on a real Dask cluster (prefect-dask), and the runner choice."""

from __future__ import annotations

from pathlib import Path

import pytest
from dask.utils import key_split
from distributed.diagnostics.plugin import SchedulerPlugin

from tests.media import write_video


def test_the_options_pick_the_task_runner() -> None:
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.options import RunOptions
    from flows.runners import task_runner

    assert isinstance(task_runner(RunOptions(max_workers=3)), ThreadPoolTaskRunner)
    assert isinstance(task_runner(RunOptions(task_runner="processes")), ProcessPoolTaskRunner)
    local = task_runner(RunOptions(task_runner="dask", max_workers=3))
    assert isinstance(local, DaskTaskRunner) and local.address is None and local.cluster_kwargs["n_workers"] == 3
    remote = task_runner(RunOptions(task_runner="dask", dask_address="tcp://scheduler:8786"))
    assert remote.address == "tcp://scheduler:8786"


def test_the_command_line_refuses_an_address_without_dask(tmp_path) -> None:
    from typer.testing import CliRunner

    from foleyflow.cli import app

    (tmp_path / "reel").mkdir()
    write_video(tmp_path / "reel" / "film.mp4", frames=24, fps=24)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "reel"), "--dask-address", "tcp://127.0.0.1:8786"])
    assert result.exit_code != 0
    assert "foleyflow: error: --dask-address" in result.output and "--task-runner dask" in result.output
    result = CliRunner().invoke(app, ["run", str(tmp_path / "reel"), "--task-runner", "spark"])
    assert result.exit_code != 0 and "--task-runner" in result.output


@pytest.mark.slow
def test_a_collection_runs_its_shot_tasks_on_a_dask_cluster(prefect_harness, foleyflow_home, tmp_path) -> None:
    from distributed import LocalCluster

    from catalog import repo
    from catalog.db import session_scope
    from flows.collection import process_collection
    from flows.options import RunOptions

    folder = tmp_path / "reels"
    folder.mkdir()
    write_video(folder / "alpha.mp4", frames=48, fps=24, scenes=2)
    write_video(folder / "beta.mp4", frames=40, fps=24, scenes=2)  # not the same file
    # Started after foleyflow_home: the worker processes inherit FOLEYFLOW_HOME and the session's generator.
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        ran = _RanOn()
        cluster.scheduler.add_plugin(ran)
        workers = set(cluster.scheduler.workers)
        options = RunOptions(task_runner="dask", dask_address=cluster.scheduler_address, max_workers=2,
                             clean_steps=["deflicker"], candidates=1)
        summary = process_collection(str(folder), options=options)

    assert summary["failed"] == 0, summary
    with session_scope() as s:
        films = repo.status_report(s)["films"]
    assert sorted(f["title"] for f in films) == ["alpha", "beta"]
    for film in films:
        assert film["status"] == "done" and [sh["status"] for sh in film["shots"]] == ["done", "done"]
        assert film["delivery_path"] and Path(film["delivery_path"]).stat().st_size > 0
    # every shot's cleaning (2 films x 2 shots) ran on the cluster, on its worker processes
    assert sorted(name for name, _ in ran.finished) == ["clean_shot"] * 4, ran.finished
    assert {worker for _, worker in ran.finished} <= workers


class _RanOn(SchedulerPlugin):
    """Records (task name, worker address) for every task the scheduler saw finish on a worker."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, str]] = []

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if start == "processing" and finish == "memory":
            self.finished.append((key_split(key), kwargs.get("worker")))
