"""``foleyflow serve``: what one workstation needs, in one command.

A Prefect server (unless ``--api-url`` names a running one), the process work pool
``foleyflow-cpu``, every deployment of prefect.yaml (``prefect deploy --all``), a worker for
the pool and ``foleyflow media-server`` (the review artifacts' links to candidate WAVs and
delivered films; a busy port is reported and skipped, the rest still runs). The addresses are
printed once everything is up; Ctrl-C (or SIGTERM) stops the worker, the media server and the
server this command started, and nothing else.

The deployments run the code of this checkout: the pull step of prefect.yaml changes into
``FOLEYFLOW_REPO``, which is set here. The children inherit ``FOLEYFLOW_HOME`` (so the worker's
flow runs write the same catalog) and ``FOLEYFLOW_COLLECTION`` (the default source of the
``collection-run`` deployment and its schedule).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

POOL = "foleyflow-cpu"
REPO = Path(__file__).resolve().parents[1]


class ServeError(RuntimeError):
    """Something ``serve`` needs did not come up; the message says what and what to do."""


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def wait_healthy(api_url: str, timeout_s: float = 120.0, process: subprocess.Popen | None = None) -> None:
    """Wait until ``api_url``/health answers; raises :class:`ServeError` on timeout or a dead server."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServeError(f"the Prefect server exited with code {process.returncode} before it was ready "
                             "(is the port in use? try --port)")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServeError(f"no Prefect server answered at {api_url} within {timeout_s:.0f} s")


def deployment_names(api_url: str) -> list[str]:
    """``flow/deployment`` names registered on the server."""
    flows = {f["id"]: f["name"] for f in httpx.post(f"{api_url}/flows/filter", json={}, timeout=10).json()}
    deps = httpx.post(f"{api_url}/deployments/filter", json={}, timeout=10).json()
    return sorted(f"{flows.get(d['flow_id'], '?')}/{d['name']}" for d in deps)


def _run(cmd: list[str], env: dict, what: str) -> str:
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ServeError(f"{what} failed (exit {proc.returncode}): " + " / ".join(tail))
    return proc.stdout


@dataclass
class Served:
    """The running pieces; :meth:`stop` ends the ones this process started."""

    api_url: str
    ui_url: str
    deployments: list[str]
    children: list[subprocess.Popen] = field(default_factory=list)
    media_url: str = ""  # the media server this command started ("" when none)
    media_note: str = ""  # why there is none, when one was asked for

    def stop(self, timeout_s: float = 20.0) -> None:
        for p in reversed(self.children):  # the worker first, then the server
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def start(*, host: str = "127.0.0.1", port: int = 4200, api_url: str | None = None, worker: bool = True,
          collection: Path | None = None, log_dir: Path | None = None, media: bool = True,
          media_port: int | None = None) -> Served:
    """Start (or join) a server, create the pool, deploy everything, start a worker.

    Arguments:
        host, port: where a new server listens (ignored with ``api_url``).
        api_url: a running server's API (``http://host:port/api``) to use instead of starting one.
        worker: start a worker for the pool.
        collection: the default source of the ``collection-run`` deployment.
        log_dir: where the server's and worker's output go (default ``$FOLEYFLOW_HOME/serve``).
        media, media_port: start ``foleyflow media-server`` (default port: that of ``FOLEYFLOW_MEDIA_URL``).

    Raises:
        ServeError: the server did not come up, or the pool or deployments could not be made.
    """
    from foleyflow.settings import get_settings

    if not (REPO / "prefect.yaml").is_file():
        raise ServeError(f"prefect.yaml not found in {REPO}: run serve from a checkout of foleyflow "
                         "(pip install -e .)")
    home = get_settings().resolved_home
    logs = Path(log_dir) if log_dir else home / "serve"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FOLEYFLOW_REPO": str(REPO), "FOLEYFLOW_HOME": str(home),
           "FOLEYFLOW_COLLECTION": str(Path(collection).resolve() if collection else home / "collection")}
    children: list[subprocess.Popen] = []
    try:
        if api_url is None:
            api_url = f"http://{host}:{port}/api"
            server_log = open(logs / "server.log", "ab")  # noqa: SIM115 (the child keeps it)
            children.append(subprocess.Popen(_prefect("server", "start", "--host", host, "--port", str(port)),
                                             env={**env, "PREFECT_API_URL": ""}, stdout=server_log,
                                             stderr=subprocess.STDOUT, start_new_session=True))
        wait_healthy(api_url, process=children[0] if children else None)
        env["PREFECT_API_URL"] = api_url
        pools = _run(_prefect("work-pool", "ls"), env, "listing work pools")
        if POOL not in pools:
            _run(_prefect("work-pool", "create", POOL, "--type", "process"), env, f"creating work pool {POOL}")
        _run(_prefect("--no-prompt", "deploy", "--all"), env, "prefect deploy --all")
        names = deployment_names(api_url)
        media_url, media_note = _start_media(env, logs, media_port, children) if media else ("", "")
        if worker:
            worker_log = open(logs / "worker.log", "ab")  # noqa: SIM115
            children.append(subprocess.Popen(_prefect("worker", "start", "--pool", POOL), env=env, cwd=REPO,
                                             stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True))
    except BaseException:
        Served(api_url or "", "", [], children).stop()
        raise
    return Served(api_url=api_url, ui_url=api_url.removesuffix("/api"), deployments=names, children=children,
                  media_url=media_url, media_note=media_note)


def _start_media(env: dict, logs: Path, port: int | None, children: list) -> tuple[str, str]:
    """Start the media server; ``(its URL, "")``, or ``("", why not)`` (a busy port never stops serve)."""
    from foleyflow.media import HOST, default_port

    port = default_port() if port is None else port
    log_path = logs / "media.log"
    start_at = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "foleyflow", "media-server", "--port", str(port)], env=env,
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # up when it says so (after it bound the port), gone when it exits
        with open(log_path, "rb") as fh:
            fh.seek(start_at)
            said = fh.read().decode(errors="replace")
        if "media server: http" in said:
            children.append(proc)
            url = f"http://{HOST}:{port}"
            env.setdefault("FOLEYFLOW_MEDIA_URL", url)  # the worker's artifacts link here
            return url, ""
        if proc.poll() is not None:
            why = said.strip().splitlines()[-1] if said.strip() else f"exit code {proc.returncode}"
            return "", f"media server not started ({why.removeprefix('foleyflow: error: ')})"
        time.sleep(0.2)
    proc.terminate()
    proc.wait()
    return "", "media server not started (it did not come up within 60 s; see media.log)"


def serve_forever(served: Served, echo=print) -> int:
    """Print where the UI is and block until a signal or a child's death; stops what was started."""
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    echo(f"Prefect UI: {served.ui_url}")
    if served.media_url:
        echo(f"media server: {served.media_url} (the review artifacts' audio and film links; read-only)")
    elif served.media_note:
        echo(f"{served.media_note}: the review artifacts' links will not play; try --media-port")
    echo(f"deployments: {', '.join(served.deployments)} (pool {POOL}); Ctrl-C stops")
    echo("ready")
    sys.stdout.flush()
    code = 0
    try:
        while not stop["now"]:
            dead = [p for p in served.children if p.poll() is not None]
            if dead:
                echo(f"a child process exited with code {dead[0].returncode}; stopping (logs in $FOLEYFLOW_HOME/serve)")
                code = 1
                break
            time.sleep(0.5)
    finally:
        served.stop()
    return code
