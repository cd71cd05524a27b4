"""A film's dialogue and speech record: transcript lines placed in the shots, mixed over the stitched
foley, and the speech the delivered track holds (pyannote.audio), as RTTM.

The pieces are :mod:`tasks.dialogue` (transcripts, speech synthesis fitting, ducked mix),
:mod:`tasks.speaking` (where someone is seen speaking) and :mod:`tasks.speech` (speech detection);
this module joins them for one film, in film time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from tasks.dialogue import DialogueLine, film_transcript, lines_in, read_srt, shot_dialogue


@dataclass
class ShotDialogue:
    """The lines of one shot (shot-relative times) and where its picture shows someone speaking."""

    index: int
    start: float  # film seconds
    end: float
    lines: list[DialogueLine] = field(default_factory=list)
    intervals: list[tuple[float, float]] | None = None  # shot-relative; None: not looked for


def film_dialogue(video_path: str | os.PathLike, shots: Sequence[tuple[int, float, float]],
                  overrides: dict[int, tuple[str | None, str | None]] | None = None) -> dict[int, list[DialogueLine]]:
    """Per shot index, its dialogue lines (shot-relative): a shot-overrides ``dialogue`` cell wins over
    the film's SRT (``<film>.srt`` beside it) for that shot.

    Arguments:
        shots: ``(index, start_s, end_s)`` of every shot.
        overrides: ``{index: (dialogue cell, voice)}`` from the collection's shot overrides.

    Raises:
        tasks.dialogue.DialogueError: the SRT cannot be read (file, line and what to fix).
    """
    srt = film_transcript(video_path)
    lines = read_srt(srt) if srt is not None else []
    out: dict[int, list[DialogueLine]] = {}
    for index, start, end in shots:
        cell, voice = (overrides or {}).get(index, (None, None))
        own = shot_dialogue(cell, end - start, voice) if cell else []
        found = own or lines_in(lines, start, end)
        if found:
            out[index] = found
    return out


def _inside(spans: list[tuple[float, float]], intervals: list[tuple[float, float]]) -> float:
    """Seconds of ``spans`` that lie inside any of ``intervals`` (intervals do not overlap)."""
    return float(sum(max(0.0, min(b, d) - max(a, c)) for a, b in spans for c, d in intervals))


def add_dialogue(track: np.ndarray, sr: int, shots: Sequence[ShotDialogue]) -> tuple[np.ndarray, dict]:
    """The film's track with every shot's lines spoken into it (foley ducked under them).

    Returns ``(mix, record)``; ``record`` has per line where it was meant to go and where it went
    (film seconds), its speed and overrun, and the share of the placed speech time inside the
    speaking intervals seen in the picture (``None`` where no shot had any).
    """
    from tasks.dialogue import mix_dialogue, place_lines

    placements, intervals = [], []
    for sd in shots:
        if not sd.lines:
            continue
        for p in place_lines(sd.lines, sd.intervals or None, sd.end - sd.start, sr=sr):
            placements.append(replace(p, start=p.start + sd.start, end=p.end + sd.start,
                                      interval=(p.interval[0] + sd.start, p.interval[1] + sd.start)))
        intervals += [(a + sd.start, b + sd.start) for a, b in (sd.intervals or [])]
    if not placements:
        return track, {"lines": 0}
    mix, _ = mix_dialogue(track, sr, placements)
    spans = [(p.start, p.end) for p in placements]
    spoken = sum(b - a for a, b in spans)
    record = {
        "lines": len(placements),
        "placed": [{"text": p.line.text, "speaker": p.line.speaker, "voice": p.line.voice,
                    "interval": [round(p.interval[0], 3), round(p.interval[1], 3)],
                    "start": round(p.start, 3), "end": round(p.end, 3), "speed": round(p.speed, 3),
                    "overrun_s": round(p.overrun, 3)} for p in placements],
        "overruns": sum(not p.fits for p in placements),
        "speaking_intervals": [[round(a, 3), round(b, 3)] for a, b in intervals],
        "inside_speaking_intervals": round(_inside(spans, intervals) / spoken, 4) if intervals and spoken > 0 else None,
    }
    return mix, record


def speech_record(track: np.ndarray, sr: int, *, dialogue: dict, rttm: Path, uri: str,
                  model_path: str | None = None) -> dict:
    """Speech heard in the finished track (pyannote.audio, :mod:`tasks.speech`), written as RTTM.

    With dialogue, its detection error rate against where the lines were placed (``speech_der``);
    without, any speech heard is unwanted (``unwanted_speech``).
    """
    from tasks.speech import speech_check, write_rttm

    placed = [(p["start"], p["end"]) for p in dialogue.get("placed", [])]
    chk = speech_check(track, sr, speech_wanted=bool(placed), intervals=placed or None, model_path=model_path)
    write_rttm(chk["segments"], uri, rttm)
    out = {"segments": [[round(a, 3), round(b, 3)] for a, b in chk["segments"]],
           "speech_s": round(float(chk["speech_s"]), 3), "unwanted_speech": bool(chk["unwanted_speech"])}
    if "speech_der" in chk:
        out["speech_der"] = round(float(chk["speech_der"]), 4)
    return out
