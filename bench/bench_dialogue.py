"""Where the dialogue lands: share of the synthesized speech time inside the true speaking intervals,
on footage with visible speakers (tests/face_clips.py, held-out seeds, clean and old film).

Each clip's transcript gives rough times, as archivists' SRTs do: every line starts and ends late or
early by a random 0.3-0.9 s. Systems, in the same run:

- picture: the lines placed in the speaking intervals tasks.speaking finds in the frames
  (tasks.dialogue.place_lines), the pipeline's way;
- transcript only: the lines spoken at their SRT times (no picture).

Target (issue): >= 80% of the synthesized speech time inside the speaking intervals.

    python -m bench.bench_dialogue [--seeds 20,21,22,23] [--voice VOICE]

Writes bench/out/dialogue.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench._common import write_json

SENTENCES = ["Good evening.", "Come in and sit down.", "It is very late.", "Where is the letter?",
             "I never saw him again.", "Close the door behind you.", "We leave at dawn."]


def _inside(spans, truth) -> float:
    return float(sum(max(0.0, min(b, d) - max(a, c)) for a, b in spans for c, d in truth))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="20,21,22,23")
    ap.add_argument("--voice", default=None, help="tasks.tts voice (default: tasks.tts.default_voice())")
    args = ap.parse_args(argv)
    from tasks.dialogue import DialogueLine, place_lines
    from tasks.speaking import speaking_intervals
    from tests.face_clips import CLEAN, OLD_FILM, speaking_face

    rows = {}
    with tempfile.TemporaryDirectory(prefix="ff-bench-dialogue-") as d:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for film, damage in (("clean", CLEAN), ("old film", OLD_FILM)):
                clip = speaking_face(Path(d) / f"{seed}-{film}.mkv", damage, seed, frames=192)
                rng = np.random.default_rng(seed)
                duration = clip.frames / clip.fps
                lines = []
                for k, (a, b) in enumerate(clip.speaking):
                    shift = rng.choice([-1, 1]) * rng.uniform(0.3, 0.9)
                    lines.append(DialogueLine(max(0.0, a + shift), min(duration, b + shift),
                                              SENTENCES[(seed + k) % len(SENTENCES)], voice=args.voice))
                found = speaking_intervals(clip.path).intervals
                for system, intervals in (("picture", found), ("transcript only", None)):
                    placed = place_lines(lines, intervals, duration)
                    spans = [(p.start, p.end) for p in placed]
                    total = sum(b - a for a, b in spans)
                    r = rows.setdefault((system, film), {"inside_s": 0.0, "speech_s": 0.0, "lines": 0, "overruns": 0})
                    r["inside_s"] += _inside(spans, clip.speaking)
                    r["speech_s"] += total
                    r["lines"] += len(placed)
                    r["overruns"] += sum(not p.fits for p in placed)
    print(f"{'system':16s} {'film':9s} {'inside':>7s} {'speech s':>9s} {'lines':>6s} {'overruns':>9s}")
    out = {"seeds": args.seeds, "target": 0.8, "results": []}
    for (system, film), r in rows.items():
        share = r["inside_s"] / r["speech_s"] if r["speech_s"] else 0.0
        print(f"{system:16s} {film:9s} {share:7.3f} {r['speech_s']:9.1f} {r['lines']:6d} {r['overruns']:9d}")
        out["results"].append({"system": system, "film": film, "inside_share": round(share, 4), **r})
    write_json("dialogue.json", out)
    return out


if __name__ == "__main__":
    main()
