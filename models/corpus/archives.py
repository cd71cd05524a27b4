"""Enumerate the sound files of a package tree: plain folders and the archives games pack them in.

- ``dir``: every ``.ogg``/``.wav``/``.flac``/``.mp3`` under a folder;
- ``zip``: members of a zip file (0ad keeps all its audio in ``public.zip``);
- ``opensfx-cat``: openttd-opensfx's ``opensfx.cat``, a table of (offset, size)
  pairs followed by entries of one length byte, a catalogue name (title, author
  and licence of the sound) and a RIFF WAVE file;
- ``c4group``: OpenClonk groups (``.ocg``/``.ocd``): gzip with the magic bytes
  changed to ``1e 8c``, a scrambled 204-byte header, 316-byte entry records,
  then the data; child groups nest without the gzip layer.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from models.corpus.packages import SoundRoot

AUDIO_SUFFIXES = (".ogg", ".wav", ".flac", ".mp3", ".opus", ".oga")


@dataclass(frozen=True)
class SoundFile:
    """One sound in a package.

    Attributes:
        relpath: path inside the package tree, archive members as ``<archive>!<member>``.
        read: returns the file's bytes (archive members: while the iteration that yielded it is open).
        title: the catalogue's name for the sound, when the package has a catalogue.
    """

    relpath: str
    read: Callable[[], bytes]
    title: str | None = None


class ArchiveError(ValueError):
    """An archive is not in the format its package table says."""


def iter_sounds(package_root: Path, root: SoundRoot) -> Iterator[SoundFile]:
    """Every sound under one :class:`SoundRoot` of an extracted package tree, sorted by path.

    Raises:
        FileNotFoundError: the folder or archive is missing (the package changed).
        ArchiveError: the archive cannot be parsed.
    """
    path = package_root / root.path
    if not path.exists():
        raise FileNotFoundError(f"{path}: not in the package tree; the package layout changed, "
                                "update models/corpus/packages.py")
    if root.kind == "dir":
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES):
            yield SoundFile(str(file.relative_to(package_root)), file.read_bytes)
    elif root.kind == "zip":
        yield from _zip(path, root.path, root.members)
    elif root.kind == "opensfx-cat":
        yield from _opensfx(path, root.path)
    elif root.kind == "c4group":
        yield from _c4group_sounds(path, root.path)
    else:  # pragma: no cover - the Literal type prevents it
        raise ArchiveError(f"unknown sound root kind {root.kind!r}")


def _zip(path: Path, rel: str, prefix: str) -> Iterator[SoundFile]:
    # One open archive for the whole walk: public.zip has tens of thousands of members.
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist()
                       if n.startswith(prefix) and n.lower().endswith(AUDIO_SUFFIXES))
        for name in names:
            yield SoundFile(f"{rel}!{name}", (lambda n=name: archive.read(n)))


def read_opensfx(data: bytes) -> list[tuple[str, bytes]]:
    """``(catalogue name, RIFF WAVE bytes)`` of every sound in an opensfx.cat.

    Raises:
        ArchiveError: the table or an entry is malformed.
    """
    if len(data) < 8:
        raise ArchiveError("opensfx.cat is too short")
    count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
    out = []
    for index in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * index)
        offset &= 0x7FFFFFFF  # the high bit flags the newer format
        if offset + size > len(data) or size < 12:
            raise ArchiveError(f"opensfx.cat entry {index} points outside the file")
        name_len = data[offset]
        name = data[offset + 1:offset + 1 + name_len].rstrip(b"\0").decode("latin-1")
        body = data[offset + 1 + name_len:offset + 1 + name_len + size]  # size excludes the name
        if body[:4] != b"RIFF":
            raise ArchiveError(f"opensfx.cat entry {index} ({name!r}) is not RIFF WAVE")
        riff_len = struct.unpack_from("<I", body, 4)[0] + 8
        out.append((name, body[:riff_len]))
    return out


def _opensfx(path: Path, rel: str) -> Iterator[SoundFile]:
    for index, (name, wav) in enumerate(read_opensfx(path.read_bytes())):
        yield SoundFile(f"{rel}!{index:02d}.wav", (lambda w=wav: w), title=name)


_C4_HEADER = 204
_C4_ENTRY = 316
_C4_ID = b"RedWolf Design GrpFolder"


def _unscramble(header: bytes) -> bytes:
    buf = bytearray(b ^ 237 for b in header)
    for i in range(0, len(buf) - 2, 3):
        buf[i], buf[i + 2] = buf[i + 2], buf[i]
    return bytes(buf)


def read_c4group(data: bytes, *, packed: bool = True) -> dict[str, bytes]:
    """Files of an OpenClonk group, child groups flattened to ``Child/name`` (group suffix dropped).

    Arguments:
        data: the group file's bytes (``packed``) or a child group's bytes.
        packed: the outer file has the gzip layer with altered magic bytes.

    Raises:
        ArchiveError: not a C4Group.
    """
    if packed:
        if data[:2] not in (b"\x1e\x8c", b"\x1f\x8b"):
            raise ArchiveError("not an OpenClonk group file (bad magic bytes)")
        data = gzip.GzipFile(fileobj=io.BytesIO(b"\x1f\x8b" + data[2:])).read()
    header = _unscramble(data[:_C4_HEADER])
    if not header.startswith(_C4_ID):
        raise ArchiveError("not an OpenClonk group (header id missing)")
    entries = struct.unpack_from("<i", header, 36)[0]
    base = _C4_HEADER + entries * _C4_ENTRY
    files: dict[str, bytes] = {}
    for index in range(entries):
        record = data[_C4_HEADER + index * _C4_ENTRY:_C4_HEADER + (index + 1) * _C4_ENTRY]
        name = record[:260].split(b"\0", 1)[0].decode("latin-1")
        _packed, child, size, _r1, offset = struct.unpack_from("<iiiii", record, 260)
        body = data[base + offset:base + offset + size]
        if child:
            folder = name[:-4] if name.lower().endswith((".ocg", ".ocd")) else name
            for sub, content in read_c4group(body, packed=False).items():
                files[f"{folder}/{sub}"] = content
        else:
            files[name] = body
    return files


def _c4group_sounds(path: Path, rel: str) -> Iterator[SoundFile]:
    files = read_c4group(path.read_bytes())
    for name in sorted(n for n in files if n.lower().endswith(AUDIO_SUFFIXES)):
        yield SoundFile(f"{rel}!{name}", (lambda b=files[name]: b))
