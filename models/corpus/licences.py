"""Licences of corpus clips: DEP-5 copyright files, the openttd-opensfx catalogue, and the policy.

A Debian package's ``usr/share/doc/<pkg>/copyright`` in the machine-readable
format (DEP-5) is parsed with python-debian. Its ``Files:`` patterns name paths
of the upstream source tree, while clips are found at installed paths
(``usr/share/games/widelands/data/sound/...``), so a clip matches a stanza when
the pattern matches its installed path or any trailing part of it; archive
members are matched by their path inside the archive too. As DEP-5 says, the
last matching stanza wins.

Policy: a clip is kept when its licence expression allows derived training
data: every part of an ``and`` expression, or at least one alternative of an
``or`` expression, is in the preset's allowed set. Anything unknown or unclear
(no DEP-5 file, "non-commercial", "no derivatives", custom licences) is dropped
with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from debian.copyright import Copyright, NotMachineReadableError

Preset = Literal["all", "permissive"]

#: Normalised licence names each preset keeps.
PERMISSIVE: frozenset[str] = frozenset({"CC0-1.0", "PUBLIC-DOMAIN", "CC-BY-3.0", "CC-BY-4.0"})
ALLOWED: dict[str, frozenset[str]] = {
    "permissive": PERMISSIVE,
    "all": PERMISSIVE | frozenset({
        "CC-BY-SA-3.0", "CC-BY-SA-4.0", "GPL-2+", "GPL-3+", "GPL-2", "GPL-3", "LGPL-2+", "LGPL-2.1+",
        "LGPL-3+", "LGPL-2.1", "LGPL-3", "ARTISTIC-2.0", "ARTISTIC", "MIT", "EXPAT", "BSD-2-CLAUSE",
        "BSD-3-CLAUSE", "ISC", "ZLIB",
    }),
}

_FORBIDDEN_WORDS = re.compile(r"non-?commercial|\bnc\b|no-?deriv|\bnd\b|proprietary|all rights reserved", re.I)


def normalise(name: str) -> str:
    """A licence short name in canonical spelling: ``"cc-by-sa-3.0+"`` -> ``"CC-BY-SA-3.0"``."""
    text = name.strip().upper().replace(" ", "-").replace("_", "-")
    text = re.sub(r"-?WITH-.*$", "", text)  # "GPL-3+ with Font exception"
    text = re.sub(r"^CC-?0(-1\.0)?$", "CC0-1.0", text)
    text = re.sub(r"^(PUBLIC-?DOMAIN|PD)$", "PUBLIC-DOMAIN", text)
    text = re.sub(r"^CC-BY(-SA)?-([34])(\.0)?(\+|-UNPORTED|-INTERNATIONAL)?$", r"CC-BY\1-\2.0", text)
    text = re.sub(r"^GPL-?V?(\d)(\.0)?(\+|-OR-LATER)$", r"GPL-\1+", text)
    text = re.sub(r"^GPL-?V?(\d)(\.0)?(-ONLY)?$", r"GPL-\1", text)
    return text


def canonical(expression: str) -> str:
    """A licence expression with every name in canonical spelling: ``"CC-BY-SA-3"`` -> ``"CC-BY-SA-3.0"``."""
    alternatives = re.split(r"\s+or\s+", expression.strip(), flags=re.I)
    return " or ".join(" and ".join(normalise(p) for p in re.split(r"\s+and\s+", a, flags=re.I) if p.strip())
                       for a in alternatives if a.strip())


def allowed(expression: str, preset: Preset = "all") -> tuple[bool, str]:
    """Whether a DEP-5 licence expression passes the preset, and why not.

    Arguments:
        expression: e.g. ``"CC-BY-SA-3.0"``, ``"GPL-2+ or CDDL"``, ``"CC-BY-NC-3.0"``.
        preset: ``all`` (free licences incl. copyleft) or ``permissive`` (CC0, public domain, CC-BY).

    Returns:
        ``(True, "")`` or ``(False, reason)``.
    """
    if not expression.strip():
        return False, "no licence stated"
    if _FORBIDDEN_WORDS.search(expression):
        return False, f"licence {expression!r} forbids commercial use or derivatives"
    keep = ALLOWED[preset]
    alternatives = [a for a in re.split(r"\s+or\s+", expression, flags=re.I) if a.strip()]
    for alternative in alternatives:
        parts = [normalise(p) for p in re.split(r"\s+and\s+|,", alternative, flags=re.I) if p.strip()]
        if parts and all(p in keep for p in parts):
            return True, ""
    return False, f"licence {expression!r} is not in the {preset!r} preset"


@dataclass(frozen=True)
class Licence:
    """Who holds a clip and under which licence."""

    licence: str  # the DEP-5 licence expression (or the catalogue's, normalised)
    author: str  # Copyright holders, one line each joined by "; "


class LicenceError(ValueError):
    """No usable licence information for a package."""


@lru_cache(maxsize=64)
def _parse(path: str) -> Copyright:
    with open(path, encoding="utf-8", errors="replace") as fh:
        try:
            return Copyright(fh, strict=False)
        except NotMachineReadableError as exc:
            raise LicenceError(f"{path} is not a machine-readable (DEP-5) copyright file; add a licence "
                               "rule for this package in models/corpus/packages.py or leave it out") from exc


def copyright_file(package_root: Path, package: str) -> Path:
    """The package's copyright file inside an extracted tree (or ``/`` for an installed package).

    Raises:
        LicenceError: the file is missing.
    """
    path = package_root / "usr/share/doc" / package / "copyright"
    if not path.is_file():
        raise LicenceError(f"{path} not found: the package has no copyright file, so its clips cannot be used")
    return path


def _candidates(relpath: str) -> list[str]:
    """The installed path, its trailing parts, and for archive members the member path and its trailing parts."""
    names: list[str] = []
    for piece in relpath.split("!"):
        parts = piece.strip("/").split("/")
        names.extend("/".join(parts[i:]) for i in range(len(parts)))
    outer = relpath.replace("!", "/")
    return [outer, *names]


def dep5_licence(copyright_path: Path, relpath: str) -> Licence:
    """Licence and holders of one clip from a DEP-5 copyright file (last matching stanza wins).

    Arguments:
        copyright_path: the package's copyright file.
        relpath: the clip's path in the package tree (``archive!member`` inside archives).

    Raises:
        LicenceError: not DEP-5, or no stanza matches.
    """
    document = _parse(str(copyright_path))
    candidates = _candidates(relpath)
    match = None
    for paragraph in document.all_files_paragraphs():
        if any(paragraph.matches(name) for name in candidates):
            match = paragraph
    if match is None or match.license is None:
        raise LicenceError(f"{relpath}: no Files: stanza of {copyright_path} covers it")
    holders = "; ".join(line.strip() for line in (match.copyright or "").splitlines() if line.strip())
    return Licence(licence=match.license.synopsis.strip(), author=holders)


_OPENSFX_LICENCES = (
    (r"Zero 1\.0|CC0", "CC0-1.0"),
    (r"Attribution-ShareAlike 3\.0", "CC-BY-SA-3.0"),
    (r"Attribution 3\.0", "CC-BY-3.0"),
    (r"Public Domain", "public-domain"),
)


def opensfx_licence(title: str) -> tuple[str, Licence]:
    """Sound name, author and licence from an openttd-opensfx catalogue name.

    >>> opensfx_licence('"Cow". Original "Cow.wav" by "JG". Edited by "Wuzzy". License: Creative Commons Zero 1.0.')
    ('Cow', Licence(licence='CC0-1.0', author='JG; edited by Wuzzy'))

    Raises:
        LicenceError: the name states no licence this code knows.
    """
    name_match = re.match(r'\s*"([^"]+)"', title)
    name = name_match.group(1) if name_match else title.split(".")[0]
    licence_text = title.split("License:", 1)[1] if "License:" in title else ""
    licence = next((short for regex, short in _OPENSFX_LICENCES if re.search(regex, licence_text)), None)
    if licence is None:
        raise LicenceError(f"opensfx sound {name!r}: licence {licence_text.strip()!r} not understood")
    originals: list[str] = []
    editors: list[str] = []
    body = title.split("License:", 1)[0][name_match.end() if name_match else 0:]
    for sentence in re.split(r"\.\s+", body):
        who = re.findall(r'(?i)\bby\s+"?([^"]+?)"?(?=\s+and\s+"|\s+aka\s|,|\.?$)', sentence.strip())
        (editors if re.match(r"(?i)(cut and )?(edited|mixed)", sentence.strip()) else originals).extend(who)
    author = "; ".join(dict.fromkeys(a.strip() for a in originals if a.strip()))
    if editors:
        author = f"{author}; edited by {', '.join(dict.fromkeys(e.strip() for e in editors))}".lstrip("; ")
    return name, Licence(licence=licence, author=author or "OpenSFX contributors")


_OPENCLONK_CC0 = re.compile(r"licensed under the CC ?0 license", re.I)


def _work_key(work: str) -> tuple[str, str, frozenset[int] | None]:
    """``"Fire/Spark1&2&3"`` -> ``("fire", "spark", {1, 2, 3})``; ``"Structures/DoorOpen*"`` -> ``(.., None)`` (any number)."""
    work = re.sub(r"\(.*?\)|\.(wav|ogg)\b", "", work).replace("::", "/").strip()
    parts = [p for p in work.split("/") if p.strip()]
    name = parts[-1].split()[0] if parts and parts[-1].split() else ""
    folder = parts[-2].strip().lower() if len(parts) > 1 else ""
    match = re.match(r"^([A-Za-z_]+?)([\d&\-]*)(\*?)(alt)?$", name)
    if not match:
        return folder, re.sub(r"[\d&*\-]+", "", name).lower(), None
    stem, digits = match.group(1).lower() + (match.group(4) or ""), match.group(2)
    numbers: set[int] = set()
    for piece in filter(None, digits.split("&")):
        lo, _, hi = piece.partition("-")
        if lo.isdigit():
            numbers.update(range(int(lo), int(hi) + 1) if hi.isdigit() else [int(lo)])
    return folder, stem, frozenset(numbers) if numbers and not match.group(3) else None


def parse_openclonk_authors(text: str) -> list[tuple[str, str, str, frozenset[int] | None, str]]:
    """``(author, folder, stem, numbers, licence)`` per work listed in OpenClonk's Sound.ocg ``authors.txt``.

    The file states a default licence (CC-BY-3.0) and a later section for CC0 works; entries are
    ``Author  - Work, Work`` with continuation lines indented.
    """
    works: list[tuple[str, str, str, frozenset[int] | None, str]] = []
    licence, author = "CC-BY-3.0", ""
    for line in text.splitlines():
        if _OPENCLONK_CC0.search(line):
            licence = "CC0-1.0"
            continue
        match = re.match(r"^(\S[^\t]*?)\s*-\s+(.*)$", line) if not line[:1].isspace() else None
        if match:
            author, rest = match.group(1).strip().rstrip(","), match.group(2)
        elif line[:1].isspace() and author:
            rest = re.sub(r"^\s*-\s+", "", line)
        else:
            continue
        for work in re.split(r",\s*", rest):
            folder, stem, numbers = _work_key(work)
            if stem:
                works.append((author, folder, stem, numbers, licence))
    return works


def openclonk_licence(authors_text: str, member: str) -> Licence:
    """Licence and author of one sound of OpenClonk's Sound.ocg from its ``authors.txt``.

    A sound the file does not list gets the file's stated default, CC-BY-3.0, by the OpenClonk team.
    """
    parts = member.split("/")
    match = re.match(r"^(.*?)(\d*)(alt)?$", parts[-1].rsplit(".", 1)[0])
    stem = (match.group(1) + (match.group(3) or "")).lower() if match else parts[-1].lower()
    number = int(match.group(2)) if match and match.group(2) else None
    folders = {p.lower() for p in parts[:-1]}
    hits = [(a, lic) for a, folder, work, numbers, lic in parse_openclonk_authors(authors_text)
            if work == stem and (not folder or folder in folders)
            and (numbers is None or number is None or number in numbers)]
    if not hits:
        return Licence("CC-BY-3.0", "OpenClonk team and contributors (Sound.ocg authors.txt)")
    licences = {lic for _, lic in hits}
    return Licence(" and ".join(sorted(licences)), "; ".join(dict.fromkeys(a for a, _ in hits)))
