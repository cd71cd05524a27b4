"""The environment: the product brief's packages import together, cleanly, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import free_port

BRIEF_PACKAGES = ["prefect", "torch", "torchaudio", "diffusers", "av", "scenedetect", "pyannote.audio",
                  "sqlalchemy", "pandas", "pyarrow", "torchcodec", "transformers", "cv2"]

# Words that mark a warning about a native library that failed to load.
BROKEN_NATIVE = ("could not load", "cannot load", "failed to load", "undefined symbol", ".so", "libtorch",
                 "libc10", "torchcodec", "dlopen", "no module named", "will fail", "not properly installed")

_IMPORT_ALL = f"""
import json, warnings, importlib
warnings.simplefilter("always")
caught = []
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    versions = {{}}
    for name in {BRIEF_PACKAGES!r}:
        mod = importlib.import_module(name)
        versions[name] = getattr(mod, "__version__", "?")
    import torch, torchaudio
    torch.zeros(2) + 1
caught = [f"{{x.category.__name__}}: {{x.message}}" for x in w]
print(json.dumps({{"versions": versions, "warnings": caught}}))
"""


def test_brief_packages_import_together_without_native_library_warnings():
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    messages = data["warnings"] + [line for line in proc.stderr.splitlines() if "warn" in line.lower()]
    broken = [m for m in messages if any(word in m.lower() for word in BROKEN_NATIVE)]
    assert not broken, "import warnings about broken native libraries:\n" + "\n".join(broken)
    assert data["versions"]["torch"].startswith("2.9.1")
    assert data["versions"]["torchaudio"].startswith("2.9.1")


def test_offline_defaults_are_set_before_prefect_and_hub_imports():
    code = ("import foleyflow, os, json; print(json.dumps({k: os.environ.get(k) for k in "
            "['HF_HUB_OFFLINE', 'PYANNOTE_METRICS_ENABLED', 'PREFECT_SERVER_ANALYTICS_ENABLED', 'DO_NOT_TRACK']}))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "PYANNOTE_METRICS_ENABLED", "PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK")}
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                    check=True).stdout)
    assert out == {"HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "false",
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@pytest.mark.timeout(180)
def test_prefect_server_starts_and_serves_api_and_ui(tmp_path):
    port = free_port()
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"),
               PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    prefect = [sys.executable, "-m", "prefect"]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(prefect + ["server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 150
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    health = r.status
                    break
            except OSError:
                time.sleep(1)
        assert health == 200, f"server did not become healthy:\n{(tmp_path / 'server.log').read_text()[-3000:]}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_second_bootstrap_reinstalls_nothing():
    """`make test` / `make demo` again with an unchanged lock: no pip, no apt, same environment."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    venv = repo / ".venv"
    if not venv.exists():
        pytest.skip("not running from a bootstrapped checkout")
    marker = venv / ".foleyflow-env-complete"
    before = marker.stat().st_mtime_ns
    proc = subprocess.run(["bash", str(repo / "infra" / "bootstrap.sh")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "reusing" in proc.stderr
    assert "building the environment" not in proc.stderr and "installing Debian" not in proc.stderr
    assert marker.stat().st_mtime_ns == before
    # the environment's foleyflow is this checkout's, whatever other clones share the cache
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import flows, foleyflow, models; "
                            "print(foleyflow.__file__); print(models.__file__)"],
                           capture_output=True, text=True, cwd="/", timeout=120)
    assert where.returncode == 0, where.stderr
    assert all(Path(line).resolve().is_relative_to(repo) for line in where.stdout.split()), where.stdout
