"""Deployments on a real Prefect server: `foleyflow serve` deploys prefect.yaml, a worker runs collection-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import REPO, free_port
from tests.media import write_video

pytestmark = pytest.mark.slow

DEPLOYMENTS = {"process-collection/collection-run", "rerun-shots/rerun-shots", "export-report/export-report",
               "train-model/train-model"}


def test_prefect_yaml_declares_the_four_deployments_on_the_process_pool():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in spec["deployments"]}
    assert set(by_name) == {d.split("/")[1] for d in DEPLOYMENTS}
    assert all(d["work_pool"]["name"] == "foleyflow-cpu" for d in by_name.values())
    schedule = by_name["collection-run"]["schedules"][0]
    assert schedule["cron"] and schedule["active"] is False
    for d in by_name.values():  # every entrypoint names a flow that exists
        module, func = d["entrypoint"].split(":")
        text = (REPO / module).read_text()
        assert f"def {func}(" in text and "@flow(" in text


def test_every_deployment_parameter_is_a_parameter_of_its_flow():
    import importlib
    import inspect

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    for d in spec["deployments"]:
        module, func = d["entrypoint"].split(":")
        flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), func)
        signature = inspect.signature(flow.fn)
        assert set(d.get("parameters", {})) <= set(signature.parameters), d["name"]
        required = {n for n, p in signature.parameters.items() if p.default is inspect.Parameter.empty}
        assert required <= set(d.get("parameters", {})), d["name"]  # the deployment runs without -p


def _wait_for(proc: subprocess.Popen, word: str, timeout_s: float) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip())
        if line.strip() == word:
            return lines
    raise AssertionError(f"serve never said {word!r}: {lines} / {proc.stderr.read() if proc.poll() is not None else ''}")


def test_serve_deploys_everything_and_a_worker_runs_collection_run(tmp_path):
    port = free_port()
    collection = tmp_path / "reels"
    collection.mkdir()
    write_video(collection / "film.mp4", frames=48, fps=24, scenes=2)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), FOLEYFLOW_HOME=str(tmp_path / "home"))
    serve = subprocess.Popen([sys.executable, "-m", "foleyflow", "serve", "--port", str(port), "--collection",
                              str(collection)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        lines = _wait_for(serve, "ready", 300)
        assert f"Prefect UI: http://127.0.0.1:{port}" in lines
        api = f"http://127.0.0.1:{port}/api"
        from foleyflow.serve import deployment_names

        assert set(deployment_names(api)) == DEPLOYMENTS
        dep = httpx.get(f"{api}/deployments/name/process-collection/collection-run", timeout=10).json()
        assert dep["parameters"]["source"] == str(collection)  # the scheduled default
        assert [s["active"] for s in dep["schedules"]] == [False]

        cli_env = {**env, "PREFECT_API_URL": api}
        run = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run",
                              "process-collection/collection-run", "--watch", "--watch-timeout", "600"],
                             env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=700)
        assert run.returncode == 0 and "Completed" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]

        status = subprocess.run([sys.executable, "-m", "foleyflow", "status", "--json"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120, check=True)
        (film,) = json.loads(status.stdout)["films"]
        assert film["status"] == "done" and Path(film["delivery_path"]).is_file()
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
        assert any(r["deployment_id"] == dep["id"] and r["state_type"] == "COMPLETED" for r in flow_runs)
    finally:
        serve.terminate()
        code = serve.wait(timeout=60)
    assert code == 0
    with pytest.raises(httpx.HTTPError):  # the server serve started is gone with it
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
