"""The task runner a film's shot tasks run on: threads, local processes or a Dask cluster.

``RunOptions.task_runner`` picks it:

* ``threads`` (default): Prefect's ``ThreadPoolTaskRunner`` in the flow's own process.
* ``processes``: Prefect's ``ProcessPoolTaskRunner``, ``max_workers`` local processes (each task and its
  arguments are pickled with cloudpickle; the workers inherit the flow's environment).
* ``dask``: prefect-dask's ``DaskTaskRunner``, on the running cluster at ``dask_address`` (a scheduler,
  ``tcp://host:8786``), or, without an address, on a ``distributed.LocalCluster`` of ``max_workers`` worker
  processes of one thread each, started for the film and closed after it.

Whatever the runner, the flow keeps at most ``max_workers`` shots in flight (``flows/film.py``) and writes
the catalog itself: tasks take and return paths and small dataclasses, and write files only. Workers on
other machines therefore need the same ``FOLEYFLOW_HOME`` (a shared volume), the same code and the same
environment variables (``FOLEYFLOW_GENERATOR``, ``PREFECT_API_URL``); see README "Scaling out".
"""

from __future__ import annotations

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.options import RunOptions

TASK_RUNNERS = ("threads", "processes", "dask")


def task_runner(options: RunOptions) -> TaskRunner:
    """A new task runner for one film's flow run, as ``options`` ask."""
    if options.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=options.max_workers)
    if options.task_runner == "processes":
        return ProcessPoolTaskRunner(max_workers=options.max_workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:  # pragma: no cover - prefect-dask is a dependency
        raise RuntimeError("task_runner dask needs prefect-dask (pip install prefect-dask)") from exc
    if options.dask_address:
        return DaskTaskRunner(address=options.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": options.max_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})
