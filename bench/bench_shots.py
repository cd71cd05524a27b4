"""Ingest plus shot detection: frames per second against the `scenedetect` command line.

Both sides run as fresh processes on the same file, so both pay for start-up:
``foleyflow shots FILE --json`` (after a fixity sha256 and the PyAV probe, i.e.
what the flow's ingest and shot stages do) against ``scenedetect -i FILE
detect-adaptive list-scenes`` (PySceneDetect's own command line, the anchor).
In-process timings of foleyflow's stages are printed too.

    python bench/bench_shots.py [FILE ...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import foleyflow  # noqa: E402,F401
from bench._common import FOOTAGE, write_json  # noqa: E402
from tasks.ingest import probe_video, sha256_file  # noqa: E402
from tasks.shots import detect_shots  # noqa: E402

BIN = Path(sys.executable).parent

_INGEST_AND_SHOTS = """
import sys, json
import foleyflow
from tasks.ingest import probe_video, sha256_file
from tasks.shots import detect_shots
sha256_file(sys.argv[1]); probe_video(sys.argv[1])
print(json.dumps(detect_shots(sys.argv[1]).to_json()))
"""


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - start


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or [p for p in (FOOTAGE / "a-bomb_blast_effects_part.mp4",
                                                            FOOTAGE / "testvideo.mp4") if p.exists()]
    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-shots-"))
    if not files:
        from foleyflow.demo import DemoSpec, build_demo_film

        files = [build_demo_film(tmp / "demo", DemoSpec()).path]
    results = []
    for path in files:
        start = time.perf_counter()
        sha256_file(path)
        probe = probe_video(path)
        t_ingest = time.perf_counter() - start
        start = time.perf_counter()
        shots = detect_shots(path)
        t_shots = time.perf_counter() - start
        t_ours = timed([sys.executable, "-c", _INGEST_AND_SHOTS, str(path)], tmp)
        t_cli = timed([str(BIN / "scenedetect"), "-q", "-i", str(path), "-o", str(tmp), "detect-adaptive",
                       "list-scenes", "-q"], tmp)
        frames = probe.frame_count
        row = {"file": path.name, "frames": frames, "cuts": shots.cuts,
               "in_process_fps": frames / (t_ingest + t_shots), "ingest_s": t_ingest, "shots_s": t_shots,
               "process_fps": frames / t_ours, "scenedetect_cli_fps": frames / t_cli,
               "ratio_vs_scenedetect_cli": t_cli / t_ours}
        results.append(row)
        print(f"{path.name}: {frames} frames, cuts {shots.cuts}")
        print(f"  foleyflow ingest+shots, in process: {row['in_process_fps']:7.1f} fps "
              f"(ingest {t_ingest:.2f} s, shots {t_shots:.2f} s)")
        print(f"  foleyflow ingest+shots, fresh process: {row['process_fps']:7.1f} fps")
        print(f"  scenedetect CLI detect-adaptive (anchor): {row['scenedetect_cli_fps']:7.1f} fps")
        print(f"  ratio foleyflow / scenedetect CLI: x{row['ratio_vs_scenedetect_cli']:.2f}")
    write_json("shots.json", {"files": results})


if __name__ == "__main__":
    main()
