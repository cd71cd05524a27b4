"""Peak memory of the film flow: a 10-minute 720p film against a 1-minute anchor.

Each film runs through ``process_film`` (ingest, shots, keyframes, cleaning of
every shot, assembly) in a fresh child process, which reports its own peak
resident memory (``ru_maxrss``; Prefect's server runs in another process and is
not counted). Streaming means the ratio stays near 1.0 however long the film.

    python bench/bench_memory.py [--minutes 10] [--anchor-minutes 1] [--fps 24]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


def synth_film(path: Path, minutes: float, fps: int, width: int = 1280, height: int = 720, shot_s: float = 20.0) -> Path:
    """A textured 720p film with a moving object and a hard cut every ``shot_s`` seconds (H.264)."""
    import av
    import cv2

    rng = np.random.default_rng(0)
    frames = int(minutes * 60 * fps)
    per_shot = int(shot_s * fps)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=Fraction(fps))
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "20"}
        background = None
        for i in range(frames):
            if i % per_shot == 0:
                small = rng.integers(0, 255, (height // 16, width // 16), dtype=np.uint8)
                background = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
            frame = background.copy()
            x = int((i % per_shot) / per_shot * (width - 120))
            cv2.circle(frame, (x + 60, height // 2 + int(80 * np.sin(i / 6))), 50, 230, -1)
            frame = frame + rng.normal(0, 6, frame.shape).astype(np.int16)
            rgb = np.repeat(np.clip(frame, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            for pkt in st.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def child(film: Path, home: Path) -> None:
    os.environ["FOLEYFLOW_HOME"] = str(home)
    import foleyflow  # noqa: F401
    from prefect.testing.utilities import prefect_test_harness

    from flows.film import process_film
    from flows.options import FilmInput

    with prefect_test_harness(server_startup_timeout=120):
        start = time.perf_counter()
        result = process_film(FilmInput(path=str(film), title=film.stem))
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak_mb, "seconds": seconds, "shots": result["shots"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--anchor-minutes", type=float, default=1.0)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--child", nargs=2, metavar=("FILM", "HOME"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    OUT.mkdir(exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ff-bench-mem-") as tmp:
        for label, minutes in (("anchor", args.anchor_minutes), ("film", args.minutes)):
            film = synth_film(Path(tmp) / f"{label}.mp4", minutes, args.fps)
            env = dict(os.environ, PREFECT_HOME=str(Path(tmp) / f"prefect-{label}"))
            proc = subprocess.run([sys.executable, __file__, "--child", str(film), str(Path(tmp) / f"home-{label}")],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                sys.exit(f"{label} run failed:\n{proc.stderr[-3000:]}")
            results[label] = {"minutes": minutes, **json.loads(proc.stdout.strip().splitlines()[-1])}
            r = results[label]
            print(f"{label:7s} {minutes:5.1f} min 720p @ {args.fps} fps: peak RSS {r['peak_mb']:7.0f} MB, "
                  f"{r['seconds']:7.1f} s, {r['shots']} shots", flush=True)
    ratio = results["film"]["peak_mb"] / results["anchor"]["peak_mb"]
    print(f"peak memory ratio {args.minutes:g} min / {args.anchor_minutes:g} min: {ratio:.2f} "
          f"(film length ratio {args.minutes / args.anchor_minutes:.0f}x)")
    results["ratio"] = ratio
    (OUT / "memory.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
