"""Who did it: code version and PREMIS agent strings recorded with every event."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from foleyflow import __version__

_REPO = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def code_version() -> str:
    """``foleyflow <version>`` plus the git commit (and ``+dirty``) when run from a checkout."""
    version = f"foleyflow {__version__}"
    if not (_REPO / ".git").exists():
        return version
    try:
        sha = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version} ({sha}{'+dirty' if dirty else ''})"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def agent(*packages: str) -> str:
    """A PREMIS agent string: foleyflow's version and those of the libraries doing the work.

    >>> agent("scenedetect")  # doctest: +SKIP
    'foleyflow 0.1.0 (ab12cd34ef56); scenedetect 0.7.2'
    """
    parts = [code_version()] + [f"{p} {package_version(p)}" for p in packages]
    return "; ".join(parts)
