"""``foleyflow media-server``: the pipeline's output files over HTTP, read-only, for this machine only.

The Prefect UI cannot play local files (a ``file://`` link does not open from an ``http`` page and
the UI strips ``<audio>``), so the per-shot review artifacts link each candidate's WAV (and the
film tables the delivered MP4) through this server instead.

What it serves, and what it refuses:

* only files under one root, by default ``$FOLEYFLOW_HOME/films`` (keyframes, cleaned shots, their
  generated sound and the deliveries; never the catalog, the corpus or logs);
* bound to 127.0.0.1 (no other machine can reach it); GET and HEAD only (anything else: 405);
* no path out of the root (``..``, absolute paths, symlinks that lead outside: 404), no directory
  listings and no hidden files (the pipeline's ``.partial`` files): 404;
* byte ranges (206), so a browser can seek in a long WAV or MP4; ``audio/wav`` for ``.wav``,
  ``video/mp4`` for ``.mp4``.

Starlette's ``StaticFiles`` (already here with Prefect and FastAPI) does the serving and the
path checks; uvicorn runs it. Links are made by :func:`media_url` from ``FOLEYFLOW_MEDIA_URL``
(default ``http://127.0.0.1:4210``), so a proxy in front of the server can be named instead.
"""

from __future__ import annotations

import mimetypes
import socket
import sys
from pathlib import Path
from urllib.parse import quote

HOST = "127.0.0.1"
DEFAULT_PORT = 4210

# Python's table (and /etc/mime.types) say audio/x-wav; browsers and the WAVE RFC say audio/wav.
for _type, _ext in (("audio/wav", ".wav"), ("video/mp4", ".mp4"), ("video/x-matroska", ".mkv"),
                    ("audio/flac", ".flac"), ("image/jpeg", ".jpg"), ("image/png", ".png")):
    mimetypes.add_type(_type, _ext)


class MediaServerError(RuntimeError):
    """The media server cannot start; the message says why and what to do."""


def default_root() -> Path:
    """The folder the pipeline writes every film's files to: ``$FOLEYFLOW_HOME/films``."""
    from foleyflow.settings import get_settings

    return get_settings().resolved_home / "films"


def default_port() -> int:
    """The port ``FOLEYFLOW_MEDIA_URL`` names (4210 when it names none)."""
    from urllib.parse import urlsplit

    from foleyflow.settings import get_settings

    try:
        return urlsplit(get_settings().media_url).port or DEFAULT_PORT
    except ValueError:
        return DEFAULT_PORT


def media_url(path: str | Path, *, root: str | Path | None = None, base: str | None = None) -> str | None:
    """The media server's URL of ``path``, or ``None`` when the file is not under the served root."""
    from foleyflow.settings import get_settings

    root = Path(root).resolve() if root is not None else default_root()
    try:
        rel = Path(path).resolve().relative_to(root)
    except ValueError:
        return None
    base = (base if base is not None else get_settings().media_url).rstrip("/")
    return f"{base}/{quote(rel.as_posix())}"


def build_app(root: str | Path):
    """The ASGI app serving ``root`` read-only (see the module doc for what it refuses)."""
    from starlette.exceptions import HTTPException
    from starlette.staticfiles import StaticFiles

    class _Media(StaticFiles):
        async def get_response(self, path, scope):
            parts = Path(path).parts
            if any(p.startswith(".") for p in parts) or "\\" in path or "\x00" in path:
                raise HTTPException(status_code=404)  # hidden and partial files, odd separators
            return await super().get_response(path, scope)

    from starlette.applications import Starlette
    from starlette.routing import Mount

    files = _Media(directory=str(Path(root).resolve()), html=False, follow_symlink=False)
    return Starlette(routes=[Mount("/", app=files)])  # its exception middleware answers 404/405


def bind(port: int = DEFAULT_PORT) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: any free port).

    Raises:
        MediaServerError: the port is taken or not allowed.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise MediaServerError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); "
                               "another program has it: choose another --port") from None
    sock.listen(64)
    return sock


def server(root: str | Path, sock: socket.socket):
    """A uvicorn server for ``root`` on the bound ``sock`` (run it with ``.run(sockets=[sock])``).

    Raises:
        MediaServerError: ``root`` is not a folder.
    """
    import uvicorn

    root = Path(root).expanduser()
    if not root.is_dir():
        raise MediaServerError(f"{root} is not a folder: give --root the folder to serve "
                               "(default $FOLEYFLOW_HOME/films, made by the first run)")
    config = uvicorn.Config(build_app(root), log_level="warning", access_log=False, lifespan="off",
                            server_header=False)
    return uvicorn.Server(config)


def serve(root: str | Path | None = None, port: int | None = None, echo=print) -> None:
    """Serve ``root`` (default :func:`default_root`, created when missing) on ``port`` (default
    :func:`default_port`) until interrupted.

    Raises:
        MediaServerError: the port is taken or ``root`` is not a folder.
    """
    port = default_port() if port is None else port
    if root is None:
        root = default_root()
        root.mkdir(parents=True, exist_ok=True)
    root = Path(root).expanduser().resolve()
    sock = bind(port)
    srv = server(root, sock)
    echo(f"media server: http://{HOST}:{sock.getsockname()[1]} serving {root} (read-only); Ctrl-C stops")
    sys.stdout.flush()
    srv.run(sockets=[sock])
