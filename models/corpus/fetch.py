"""Obtain a Debian package's files without root and without touching the system.

A package already installed (``dpkg-query``) is used in place (its tree is
``/``). Otherwise ``apt-get download`` fetches the ``.deb`` into
``<corpus>/debs`` (``apt-get update`` runs only when apt says the package is
unknown), and ``dpkg-deb -x`` unpacks it into ``<corpus>/pkgs/<package>``; a
marker file records the version and the ``.deb``'s sha256 so a re-run does
not unpack again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_MARKER = ".foleyflow-unpacked.json"


class FetchError(RuntimeError):
    """A package could not be obtained; the message says what to do."""


@dataclass(frozen=True)
class PackageTree:
    """An unpacked (or installed) package.

    Attributes:
        name: Debian package name.
        version: its Debian version.
        root: the folder its paths (``usr/share/...``) are relative to.
        deb_sha256: sha256 of the downloaded ``.deb`` (None for an installed package).
        deb_size: size of the ``.deb`` in bytes (0 when installed).
        installed: the system copy was used.
    """

    name: str
    version: str
    root: Path
    deb_sha256: str | None
    deb_size: int
    installed: bool


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError as exc:
        raise FetchError(f"{args[0]} not found: the corpus is built from Debian packages and needs apt/dpkg "
                         "(or pass already-extracted package trees with --root)") from exc


def installed_version(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed."""
    if shutil.which("dpkg-query") is None:
        return None
    result = _run(["dpkg-query", "-W", "-f=${Status}\t${Version}", package])
    if result.returncode != 0:
        return None
    status, _, version = result.stdout.partition("\t")
    return version if status.endswith(" installed") else None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _deb_version(deb: Path) -> str:
    result = _run(["dpkg-deb", "-f", str(deb), "Version"])
    if result.returncode != 0:
        raise FetchError(f"{deb}: not a readable .deb ({result.stderr.strip()}); delete it and run again")
    return result.stdout.strip()


def download(package: str, debs: Path) -> Path:
    """The package's ``.deb`` in ``debs``, downloaded with ``apt-get download`` when absent.

    Raises:
        FetchError: apt cannot find or fetch the package.
    """
    debs.mkdir(parents=True, exist_ok=True)
    have = sorted(debs.glob(f"{package}_*.deb"))
    if have:
        return have[-1]
    result = _run(["apt-get", "download", package], cwd=debs)
    if result.returncode != 0 and "Unable to locate package" in result.stderr + result.stdout:
        update = _run(["apt-get", "update"])
        if update.returncode != 0:
            raise FetchError(f"apt-get update failed ({update.stderr.strip()[:200]}); run it as root, then retry")
        result = _run(["apt-get", "download", package], cwd=debs)
    have = sorted(debs.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not have:
        raise FetchError(f"apt-get download {package} failed: {(result.stderr or result.stdout).strip()[:300]}; "
                         "check the package name and the apt sources")
    return have[-1]


def obtain(package: str, corpus_dir: Path, *, use_installed: bool = True) -> PackageTree:
    """An unpacked tree of ``package``: the installed copy, or the ``.deb`` unpacked under ``corpus_dir``.

    Arguments:
        package: Debian package name.
        corpus_dir: ``FOLEYFLOW_HOME/corpus``; ``.deb`` files go to ``debs/``, trees to ``pkgs/<package>``.
        use_installed: use the system's files when the package is installed.

    Raises:
        FetchError: the package cannot be downloaded or unpacked.
    """
    version = installed_version(package) if use_installed else None
    if version is not None and Path("/usr/share/doc", package, "copyright").exists():
        return PackageTree(package, version, Path("/"), None, 0, True)
    deb = download(package, corpus_dir / "debs")
    target = corpus_dir / "pkgs" / package
    marker = target / _MARKER
    deb_sha = sha256_file(deb)
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("deb_sha256") == deb_sha:
            return PackageTree(package, info["version"], target, deb_sha, deb.stat().st_size, False)
    version = _deb_version(deb)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    result = _run(["dpkg-deb", "-x", str(deb), str(partial)])
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise FetchError(f"dpkg-deb -x {deb.name} failed: {result.stderr.strip()[:300]}; delete the .deb and retry")
    (partial / _MARKER).write_text(json.dumps({"package": package, "version": version, "deb": deb.name,
                                               "deb_sha256": deb_sha}))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return PackageTree(package, version, target, deb_sha, deb.stat().st_size, False)
