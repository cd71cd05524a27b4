"""Collections: a folder of films or a manifest CSV, plus optional per-shot overrides.

Manifest CSV columns: ``path`` (relative to the manifest), ``title``,
``description``, ``negative_prompt``. Shot overrides CSV columns: ``film`` (the
film's ``path`` as written in the manifest, or its title), ``shot`` (index from
0), ``description``, ``negative_prompt``, and optionally ``dialogue`` (what is said in the
shot: ``SPEAKER: text``, several lines separated by ``|``, spread over the shot; see
``tasks.dialogue.shot_dialogue``) and ``voice`` (a ``tasks.tts`` voice name for it). Empty cells
mean "no override".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .avi .mxf .webm .mpg .mpeg .ts .mts .m2ts .dv .ogv .wmv .flv .3gp".split()
)
MANIFEST_COLUMNS = ("path", "title", "description", "negative_prompt")
SHOT_COLUMNS = ("film", "shot", "description", "negative_prompt", "dialogue", "voice")


class ManifestError(ValueError):
    """The collection cannot be read; the message says which file, which line, what to fix."""


@dataclass(frozen=True)
class ShotOverride:
    description: str | None = None
    negative_prompt: str | None = None
    dialogue: str | None = None   # raw cell: "SPEAKER: text | other line"; parsed by tasks.dialogue
    voice: str | None = None      # a tasks.tts voice name for the shot's dialogue

    @property
    def dialogue_lines(self) -> tuple[str, ...]:
        """The ``|``-separated lines of ``dialogue``, stripped (speaker tags kept)."""
        return tuple(part.strip() for part in (self.dialogue or "").split("|") if part.strip())


@dataclass(frozen=True)
class FilmEntry:
    path: Path
    title: str
    description: str = ""
    negative_prompt: str = ""
    shot_overrides: dict[int, ShotOverride] = field(default_factory=dict)


@dataclass(frozen=True)
class Collection:
    name: str
    source: Path
    films: list[FilmEntry]


def _clean(value: str | None) -> str:
    return (value or "").strip()


def load_collection(source: str | Path, *, shots_csv: str | Path | None = None, name: str | None = None) -> Collection:
    """Read a folder of films or a manifest CSV.

    Arguments:
        source: a folder (every file with a video suffix, sorted by name) or a ``.csv`` manifest.
        shots_csv: per-shot overrides; default ``<manifest>.shots.csv`` or ``shots.csv`` beside
            the manifest when present.
        name: collection name; default the folder name or the manifest's file stem.

    Raises:
        ManifestError: missing source, empty folder, missing columns, blank paths.
    """
    src = Path(source).expanduser()
    if not src.exists():
        raise ManifestError(f"{src}: no such folder or manifest; give a folder of films or a .csv manifest")
    if src.is_dir():
        films = [
            FilmEntry(path=p.resolve(), title=p.stem.replace("_", " "))
            for p in sorted(src.iterdir())
            if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".")
        ]
        if not films:
            raise ManifestError(f"{src}: no video files in this folder (looked for {', '.join(sorted(VIDEO_SUFFIXES))})")
        return Collection(name=name or src.resolve().name, source=src.resolve(), films=films)
    if src.suffix.lower() != ".csv":
        raise ManifestError(f"{src}: not a folder or a .csv manifest; to process one film, put it in a folder")
    rows = _read_csv(src, MANIFEST_COLUMNS, required=("path",))
    if shots_csv is None:
        for candidate in (src.with_name(f"{src.stem}.shots.csv"), src.with_name("shots.csv")):
            if candidate.exists() and candidate != src:
                shots_csv = candidate
                break
    overrides = _read_overrides(Path(shots_csv)) if shots_csv else {}
    films = []
    for line, row in rows:
        rel = _clean(row.get("path"))
        if not rel:
            raise ManifestError(f"{src}:{line}: empty path; every row needs the film's path relative to the manifest")
        path = (src.parent / rel).resolve()
        title = _clean(row.get("title")) or Path(rel).stem.replace("_", " ")
        shot_map = overrides.get(rel, {}) or overrides.get(title, {})
        films.append(FilmEntry(path=path, title=title, description=_clean(row.get("description")),
                               negative_prompt=_clean(row.get("negative_prompt")), shot_overrides=shot_map))
    if not films:
        raise ManifestError(f"{src}: the manifest lists no films")
    return Collection(name=name or src.stem, source=src.resolve(), films=films)


def _read_csv(path: Path, columns: tuple[str, ...], required: tuple[str, ...]) -> list[tuple[int, dict]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}; expected columns: {', '.join(columns)}")
            reader.fieldnames = header
            return [(i + 2, row) for i, row in enumerate(reader)]
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from exc


def _read_overrides(path: Path) -> dict[str, dict[int, ShotOverride]]:
    if not path.exists():
        raise ManifestError(f"{path}: no such shot-overrides CSV")
    out: dict[str, dict[int, ShotOverride]] = {}
    for line, row in _read_csv(path, SHOT_COLUMNS, required=("film", "shot")):
        film, shot = _clean(row.get("film")), _clean(row.get("shot"))
        try:
            index = int(shot)
            if index < 0:
                raise ValueError
        except ValueError:
            raise ManifestError(f"{path}:{line}: shot must be a shot index (0, 1, 2...), got {shot!r}") from None
        dialogue = _clean(row.get("dialogue")) or None
        if dialogue is not None and any(not part.strip() for part in dialogue.split("|")):
            raise ManifestError(f"{path}:{line}: empty dialogue line in {dialogue!r}; separate lines with a single '|' "
                                "and leave no line empty")
        out.setdefault(film, {})[index] = ShotOverride(
            description=_clean(row.get("description")) or None,
            negative_prompt=_clean(row.get("negative_prompt")) or None,
            dialogue=dialogue,
            voice=_clean(row.get("voice")) or None,
        )
    return out
