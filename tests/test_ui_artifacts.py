"""Per-shot review artifacts, seen in a real browser; the read-only media server their links play from.

The slow test starts ``prefect server start``, runs a film with ``foleyflow run`` against it, opens
the shot's artifact page in headless Chromium (Debian's, driven by playwright), checks that every
image loaded and that the audio links play from ``foleyflow media-server``, and saves a screenshot
(also to ``$FOLEYFLOW_SCREENSHOT_DIR`` when set).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import free_port
from tests.media import write_video


# --- the media server (fast) ---------------------------------------------------


@pytest.fixture()
def media(tmp_path):
    """A media server on a free port serving ``tmp_path/films``, with a secret beside it; yields (port, root)."""
    from foleyflow.media import bind, server
    from tasks.stitch import write_wav

    root = tmp_path / "films"
    sound = root / "abc" / "shots" / "0000-0-24" / "sound"
    write_wav(sound / "candidate 0.wav", np.sin(np.linspace(0, 400, 8000)) * 0.3, 16000)
    (root / "abc" / "delivery").mkdir(parents=True)
    (root / "abc" / "delivery" / "film.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    (sound / ".candidate-1.wav.partial").write_bytes(b"half")
    (tmp_path / "catalog.db").write_text("SECRET catalog")
    (root / "abc" / "escape").symlink_to(tmp_path / "catalog.db")
    sock = bind(0)
    srv = server(root, sock)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield sock.getsockname(), root
    srv.should_exit = True
    thread.join(timeout=10)


def _raw(addr, method: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request with the path sent exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection(*addr, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_media_server_plays_files_under_its_root(media):
    addr, root = media
    assert addr[0] == "127.0.0.1"  # this machine only
    wav = root / "abc" / "shots" / "0000-0-24" / "sound" / "candidate 0.wav"
    status, headers, body = _raw(addr, "GET", "/abc/shots/0000-0-24/sound/candidate%200.wav")
    assert status == 200 and headers["content-type"] == "audio/wav" and body == wav.read_bytes()
    status, headers, body = _raw(addr, "HEAD", "/abc/shots/0000-0-24/sound/candidate%200.wav")
    assert status == 200 and int(headers["content-length"]) == wav.stat().st_size and body == b""
    status, headers, body = _raw(addr, "GET", "/abc/shots/0000-0-24/sound/candidate%200.wav", {"Range": "bytes=0-3"})
    assert status == 206 and body == b"RIFF" and headers["content-range"].startswith("bytes 0-3/")
    status, headers, _ = _raw(addr, "GET", "/abc/delivery/film.mp4")
    assert status == 200 and headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("path", [
    "/../catalog.db", "/%2e%2e/catalog.db", "/abc/..%2f..%2fcatalog.db", "/abc/%2e%2e/%2e%2e/catalog.db",
    "//etc/passwd", "/%2Fetc%2Fpasswd", "/abc/escape", "/abc/shots/0000-0-24/sound/.candidate-1.wav.partial",
    "/abc/", "/", "/abc/nothing.wav", "/abc\\..\\..\\catalog.db",
])
def test_media_server_refuses_anything_outside_its_root(media, path):
    addr, _ = media
    status, _, body = _raw(addr, "GET", path)
    assert status in (403, 404) and b"SECRET" not in body and b"root:" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_media_server_is_read_only(media, method):
    addr, _ = media
    status, headers, _ = _raw(addr, method, "/abc/delivery/film.mp4")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_media_links_name_files_under_the_root_only(tmp_path):
    from foleyflow.media import media_url

    root = tmp_path / "films"
    (root / "a b").mkdir(parents=True)
    assert media_url(root / "a b" / "x#1.wav", root=root, base="http://127.0.0.1:9/") == \
        "http://127.0.0.1:9/a%20b/x%231.wav"
    assert media_url(tmp_path / "catalog.db", root=root, base="http://127.0.0.1:9") is None
    assert media_url(root / ".." / "catalog.db", root=root, base="http://127.0.0.1:9") is None


def test_media_server_command_says_what_is_wrong(tmp_path):
    from typer.testing import CliRunner

    from foleyflow.cli import app

    result = CliRunner().invoke(app, ["media-server", "--root", str(tmp_path / "missing"), "--port", "0"])
    assert result.exit_code == 1 and "is not a folder" in result.output
    with socket_taken() as port:
        result = CliRunner().invoke(app, ["media-server", "--root", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 1 and "choose another --port" in result.output


class socket_taken:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


def test_spectrogram_shows_when_and_how_high_it_sounds():
    from flows.artifacts import png_data_uri, spectrogram

    sr = 16000
    t = np.arange(sr * 2) / sr
    audio = np.where(t >= 1.0, 0.5 * np.sin(2 * np.pi * 300 * t), 0.0)  # silent, then a low tone
    image = spectrogram(audio, sr, width=200, height=100, marks_s=[1.0])
    assert image.shape == (112, 200, 3)
    body = image[12:].astype(float).sum(axis=2)
    assert body[:, 120:180].mean() > body[:, 20:80].mean() + 20  # brighter where it sounds
    rows = body[:, 120:180].mean(axis=1)
    assert rows.argmax() > 50  # a low tone lights the lower half
    assert image[2:10, 95:105].max() > 200  # the contact's tick
    assert png_data_uri(image).startswith("data:image/png;base64,")


# --- the UI, in a real browser (slow) -------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _wait_http(url: str, proc: subprocess.Popen, timeout_s: float, what: str) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with code {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise AssertionError(f"{what} did not answer at {url} within {timeout_s:.0f} s")


@pytest.mark.slow
def test_shot_review_artifact_renders_in_a_real_browser(tmp_path):
    import httpx

    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("Debian's chromium is not installed (infra/bootstrap.sh installs it: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed in this environment (it is pinned in requirements.lock)")

    port, media_port = free_port(), free_port()
    api, ui = f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    (home / "films").mkdir(parents=True)
    reel = tmp_path / "reel"
    reel.mkdir()
    write_video(reel / "smithy.mp4", frames=48, fps=24, scenes=2)
    (reel / "films.csv").write_text("path,title,description,negative_prompt\n"
                                    "smithy.mp4,The Smithy,hammer strikes on an anvil,\"music, voices\"\n")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), FOLEYFLOW_HOME=str(home),
               FOLEYFLOW_MEDIA_URL=f"http://127.0.0.1:{media_port}")
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        with open(logs / "server.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                           "--port", str(port)], env={**env, "PREFECT_UI_API_URL": api},
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        with open(logs / "media.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "foleyflow", "media-server", "--port",
                                           str(media_port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        from foleyflow.serve import wait_healthy

        wait_healthy(api, timeout_s=180, process=procs[0])
        _wait_http(f"http://127.0.0.1:{media_port}/", procs[1], 60, "foleyflow media-server")

        run = subprocess.run([sys.executable, "-m", "foleyflow", "run", str(reel / "films.csv"), "--candidates", "2",
                              "--json"], env={**env, "PREFECT_API_URL": api}, cwd=tmp_path, capture_output=True,
                             text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        film_id = json.loads(run.stdout)["films"][0]["film_id"]

        artifacts = httpx.post(f"{api}/artifacts/filter", json={"sort": "CREATED_DESC"}, timeout=10).json()
        keys = {a["key"] for a in artifacts}
        assert {f"film-{film_id}-shot-0", f"film-{film_id}-shot-1", f"film-{film_id}-shots",
                "collection-progress"} <= keys, keys
        shot = next(a for a in artifacts if a["key"] == f"film-{film_id}-shot-1")
        assert "hammer strikes on an anvil" in shot["data"] and "music, voices" in shot["data"]
        table = next(a for a in artifacts if a["key"] == f"film-{film_id}-shots")
        table_rows = json.loads(table["data"]) if isinstance(table["data"], str) else table["data"]
        assert all(r["review artifact"] and r["listen"].startswith(f"http://127.0.0.1:{media_port}/")
                   for r in table_rows)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{ui}/v2/artifacts/artifact/{shot['id']}", wait_until="networkidle", timeout=120_000)
                page.wait_for_function("document.images.length >= 2", timeout=60_000)
                page.wait_for_timeout(3000)
                # every image that has something to load (the Raw tab's code editor adds empty
                # src-less <img> spacers of its own, class cm-widgetBuffer: nothing to load there)
                images = page.evaluate("[...document.images].filter(i => i.getAttribute('src'))"
                                       ".map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, "
                                       "h: i.naturalHeight, src: i.src.slice(0, 40)}))")
                spacers = page.evaluate("[...document.images].filter(i => !i.getAttribute('src'))"
                                        ".map(i => i.className)")
                links = page.evaluate("[...document.querySelectorAll('a')].map(a => ({text: a.textContent.trim(), "
                                      "href: a.href}))")
                text = page.inner_text("body")
                shot_png = tmp_path / "shot-artifact.png"
                page.screenshot(path=str(shot_png), full_page=True)
            finally:
                browser.close()
        if os.environ.get("FOLEYFLOW_SCREENSHOT_DIR"):
            out = Path(os.environ["FOLEYFLOW_SCREENSHOT_DIR"])
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot_png, out / f"film-{film_id}-shot-1.png")
        assert shot_png.stat().st_size > 10_000

        alts = [i["alt"] for i in images]
        assert any(a.startswith("keyframe") for a in alts) and any(a.startswith("spectrogram") for a in alts), images
        assert set(spacers) <= {"cm-widgetBuffer"}, spacers
        assert len(images) >= 2 and all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in images), json.dumps(images)
        assert "hammer strikes on an anvil" in text and "music, voices" in text
        assert re.search(r"\bselected\b", text) and "foleyflow review" in text
        plays = [a["href"] for a in links if "play" in a["text"]]
        assert len(plays) == 2, links  # one per candidate
        for href in plays:
            assert href.startswith(f"http://127.0.0.1:{media_port}/") and href.endswith(".wav")
            resp = httpx.get(href, timeout=10)
            assert resp.status_code == 200 and resp.headers["content-type"] == "audio/wav"
            assert resp.content[:4] == b"RIFF"
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
