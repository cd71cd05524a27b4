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


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError as exc:
        return f"({path}: {exc})"


def _start_prefect_server(env: dict, log_path: Path, attempts: int = 3) -> tuple[subprocess.Popen, int]:
    """``prefect server start`` on a free port, healthy; yields (process, port).

    The port is chosen before the server binds it (prefect cannot be told port 0 and report the
    port it got), so another program can take it in between: then the server exits before it is
    healthy, and another port is tried. A server that answers while ours has exited is not ours.
    """
    from foleyflow.serve import ServeError, wait_healthy

    failures = []
    for _ in range(attempts):
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                     "--port", str(port)], env={**env, "PREFECT_UI_API_URL": api},
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(api, timeout_s=300, process=proc)
            if proc.poll() is None:
                return proc, port
            failures.append(f"port {port}: exited with {proc.returncode} after another program answered")
        except ServeError as exc:
            failures.append(f"port {port}: {exc}")
        _stop(proc)
        if "already in use" not in _tail(log_path).lower():
            break  # not a port race: retrying would hide the real failure
    raise AssertionError("the Prefect server did not start: " + "; ".join(failures) + "\n" + _tail(log_path))


def _start_media_server(env: dict, log_path: Path, timeout_s: float = 120) -> tuple[subprocess.Popen, int]:
    """``foleyflow media-server --port 0`` (the kernel picks a free port: no race), serving; yields (process, port)."""
    import httpx

    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-u", "-m", "foleyflow", "media-server", "--port", "0"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"foleyflow media-server exited with code {proc.returncode}:\n{_tail(log_path)}")
        found = re.search(r"media server: http://127\.0\.0\.1:(\d+) ", _tail(log_path))
        if found:
            port = int(found.group(1))
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=5)  # any answer (404 for /) means it serves
                return proc, port
            except httpx.HTTPError:
                pass
        time.sleep(0.25)
    _stop(proc)
    raise AssertionError(f"foleyflow media-server did not serve within {timeout_s:.0f} s:\n{_tail(log_path)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# The page is ready when the artifact's markdown has rendered (its text, both kinds of image) and
# every image that has something to load has finished loading, well or badly (`complete` is true
# for a broken image too, so the checks below still see a failure: waiting never hides one). The
# Raw tab's code editor adds src-less <img> spacers of its own (class cm-widgetBuffer): they are
# not images to wait for, and must not count as the artifact's images either.
_IMAGES_JS = ("[...document.images].filter(i => i.getAttribute('src'))"
              ".map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, "
              "src: i.src.slice(0, 60), srcLength: i.src.length}))")
_READY_JS = """() => {
    const text = document.body ? document.body.innerText : "";
    const imgs = [...document.images].filter(i => i.getAttribute('src'));
    const ready = text.includes("hammer strikes on an anvil")
        && imgs.some(i => i.alt.startsWith("keyframe")) && imgs.some(i => i.alt.startsWith("spectrogram"))
        && [...document.querySelectorAll('a')].filter(a => a.textContent.includes("play")).length >= 2
        && imgs.every(i => i.complete);
    return ready ? (%s)() : null;
}"""
# One snapshot of what the checks read, taken at once (the UI re-renders the artifact while it loads:
# separate reads can see different renders).
_SNAPSHOT_JS = """() => ({
    images: %s,
    spacers: [...document.images].filter(i => !i.getAttribute('src')).map(i => i.className),
    links: [...document.querySelectorAll('a')].map(a => ({text: a.textContent.trim(), href: a.href})),
    playCells: [...document.querySelectorAll('td')].filter(t => t.textContent.includes('play')).map(t => t.innerHTML),
    text: document.body.innerText,
})""" % _IMAGES_JS
# readiness and the snapshot in one evaluation: the snapshot is of the render that was ready
_READY_JS = _READY_JS % _SNAPSHOT_JS


@pytest.mark.slow
def test_shot_review_artifact_renders_in_a_real_browser(tmp_path):
    import httpx

    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("Debian's chromium is not installed: `make env` (infra/bootstrap.sh) installs it "
                    "(apt-get install chromium)")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed in this environment: `make env` (infra/bootstrap.sh) installs "
                    "it from requirements.lock")

    home = tmp_path / "home"
    (home / "films").mkdir(parents=True)
    reel = tmp_path / "reel"
    reel.mkdir()
    write_video(reel / "smithy.mp4", frames=48, fps=24, scenes=2)
    (reel / "films.csv").write_text("path,title,description,negative_prompt\n"
                                    "smithy.mp4,The Smithy,hammer strikes on an anvil,\"music, voices\"\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "FOLEYFLOW_MEDIA_URL")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), FOLEYFLOW_HOME=str(home))
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        media_proc, media_port = _start_media_server(env, logs / "media.log")
        procs.append(media_proc)
        server_proc, port = _start_prefect_server(env, logs / "server.log")
        procs.append(server_proc)
        api, ui = f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}"

        run = subprocess.run([sys.executable, "-m", "foleyflow", "run", str(reel / "films.csv"), "--candidates", "2",
                              "--json"], env={**env, "PREFECT_API_URL": api,
                                              "FOLEYFLOW_MEDIA_URL": f"http://127.0.0.1:{media_port}"},
                             cwd=tmp_path, capture_output=True, text=True, timeout=1800)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        film_id = json.loads(run.stdout)["films"][0]["film_id"]

        artifacts = httpx.post(f"{api}/artifacts/filter", json={"sort": "CREATED_DESC"}, timeout=60).json()
        keys = {a["key"] for a in artifacts}
        assert {f"film-{film_id}-shot-0", f"film-{film_id}-shot-1", f"film-{film_id}-shots",
                "collection-progress"} <= keys, keys
        shot = next(a for a in artifacts if a["key"] == f"film-{film_id}-shot-1")
        assert "hammer strikes on an anvil" in shot["data"] and "music, voices" in shot["data"]
        table = next(a for a in artifacts if a["key"] == f"film-{film_id}-shots")
        table_rows = json.loads(table["data"]) if isinstance(table["data"], str) else table["data"]
        assert all(r["review artifact"] and r["listen"].startswith(f"http://127.0.0.1:{media_port}/")
                   for r in table_rows)

        shot_png = tmp_path / "shot-artifact.png"
        console: list[str] = []
        bad_requests: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, headless=True, timeout=180_000, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("console", lambda m: console.append(f"console.{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"page error: {e}"))
                page.on("requestfailed", lambda r: bad_requests.append(
                    f"{r.method} {r.url[:200]}: {r.failure}"))
                page.on("response", lambda r: r.status >= 400 and bad_requests.append(
                    f"{r.request.method} {r.url[:200]}: HTTP {r.status}"))
                try:
                    page.goto(f"{ui}/v2/artifacts/artifact/{shot['id']}", wait_until="load", timeout=300_000)
                    snap = page.wait_for_function(_READY_JS, timeout=300_000, polling=250).json_value()
                    images, spacers, links, text = snap["images"], snap["spacers"], snap["links"], snap["text"]
                    page.screenshot(path=str(shot_png), full_page=True, timeout=120_000)
                    alts = [i["alt"] for i in images]
                    assert any(a.startswith("keyframe") for a in alts), images
                    assert any(a.startswith("spectrogram") for a in alts), images
                    assert set(spacers) <= {"cm-widgetBuffer"}, spacers
                    assert len(images) >= 2 and all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in images), \
                        "images that did not load: " + json.dumps([i for i in images if not (i["w"] and i["h"])])
                    assert "hammer strikes on an anvil" in text and "music, voices" in text, text[-3000:]
                    assert re.search(r"\bselected\b", text) and "foleyflow review" in text, text[-3000:]
                    plays = [a["href"] for a in links if "play" in a["text"]]
                    assert len(plays) == 2, f"play links: {plays}; cells: {snap['playCells']}; page text: {text[-3000:]}"  # one per candidate
                except (AssertionError, PlaywrightError) as exc:
                    where = _save_failed_page(page, tmp_path, console, bad_requests)
                    raise AssertionError(f"the shot's artifact page did not render: {exc}\n{where}\n"
                                         f"prefect server log (tail):\n{_tail(logs / 'server.log', 2000)}\n"
                                         f"media server log (tail):\n{_tail(logs / 'media.log', 1000)}") from exc
            finally:
                browser.close()
        if os.environ.get("FOLEYFLOW_SCREENSHOT_DIR"):
            out = Path(os.environ["FOLEYFLOW_SCREENSHOT_DIR"])
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot_png, out / f"film-{film_id}-shot-1.png")
        assert shot_png.stat().st_size > 10_000

        for href in plays:
            assert href.startswith(f"http://127.0.0.1:{media_port}/") and href.endswith(".wav")
            resp = httpx.get(href, timeout=60)
            assert resp.status_code == 200 and resp.headers["content-type"] == "audio/wav"
            assert resp.content[:4] == b"RIFF"
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _save_failed_page(page, tmp_path: Path, console: list[str], bad_requests: list[str]) -> str:
    """Keep what a failure needs to be understood (screenshot, HTML, images, console, failed requests);
    in ``$FOLEYFLOW_SCREENSHOT_DIR`` too when set (CI keeps it). Returns the account, to raise with."""
    out = tmp_path / "failed-page"
    out.mkdir(exist_ok=True)
    notes = [f"page saved in {out}"]
    for what, do in (("url", lambda: page.url),
                     ("screenshot", lambda: (page.screenshot(path=str(out / "page.png"), full_page=True,
                                                            timeout=60_000), "page.png")[1]),
                     ("html", lambda: ((out / "page.html").write_text(page.content()), "page.html")[1]),
                     ("images", lambda: json.dumps(page.evaluate(_IMAGES_JS), indent=1)),
                     ("spacers", lambda: json.dumps(page.evaluate(
                         "[...document.images].filter(i => !i.getAttribute('src')).map(i => i.className)"))),
                     ("text", lambda: page.inner_text("body", timeout=30_000)[:1500])):
        try:
            notes.append(f"{what}: {do()}")
        except Exception as exc:  # a page that broke may not answer: say so, keep the rest
            notes.append(f"{what}: (could not get it: {exc})")
    notes.append("console:\n  " + ("\n  ".join(console[-50:]) or "(nothing)"))
    notes.append("failed requests:\n  " + ("\n  ".join(bad_requests[-50:]) or "(none)"))
    account = "\n".join(notes)
    (out / "account.txt").write_text(account)
    if os.environ.get("FOLEYFLOW_SCREENSHOT_DIR"):
        shutil.copytree(out, Path(os.environ["FOLEYFLOW_SCREENSHOT_DIR"]) / "failed-page", dirs_exist_ok=True)
    print(account)
    return account
