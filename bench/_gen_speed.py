"""Speed and peak memory of one generator, measured in a fresh child process.

Prints one JSON line: the real-time factor (seconds of audio per wall second, best of
``--repeats``) at the default steps for each thread count of ``--threads`` (the first is the
headline figure), the resident-memory peaks (``VmHWM`` of /proc/self/status: unlike
``ru_maxrss`` it is not inherited from the parent across fork and exec) after the imports, after
loading the generator and after generating, and a float32 matmul anchor per thread count,
measured in the same process (so a busy machine can be recognised).

    python -m bench._gen_speed --generator NAME [--seconds 8.192] [--threads 2,1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", required=True)
    ap.add_argument("--seconds", type=float, default=8.192)
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts; the first is the headline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="default: the generator's default")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    import foleyflow  # noqa: F401
    from models.foley_mini.evaluate import impulse_timing, matmul_gflops
    from models.registry import DEFAULT_STEPS, get_generator

    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    torch.set_num_threads(threads[0])
    rss_imports = _rss_mb()
    t0 = time.perf_counter()
    gen = get_generator(args.generator)
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    timing = impulse_timing(np.arange(0.3, args.seconds - 0.3, 0.5), args.seconds)
    kwargs = dict(timing=timing, prompt="footsteps on gravel", negative_prompt=None, duration_s=args.seconds)
    runs = []
    for n in threads:
        torch.set_num_threads(n)
        gen.generate(seeds=[0], steps=2, **kwargs)  # warm-up
        walls = []
        for r in range(args.repeats):
            t = time.perf_counter()
            gen.generate(seeds=[r + 1], steps=args.steps, **kwargs)
            walls.append(time.perf_counter() - t)
        runs.append({"threads": torch.get_num_threads(), "wall_s": round(min(walls), 3),
                     "wall_s_all": [round(w, 3) for w in walls], "rtf": round(args.seconds / min(walls), 2),
                     "anchor_matmul_gflops": round(matmul_gflops(), 1)})
    result = {"generator": gen.model_id, "audio_s": args.seconds, "steps": args.steps or DEFAULT_STEPS,
              **runs[0], "by_threads": runs, "load_s": round(load_s, 2),
              "peak_rss_mb": round(_rss_mb(), 1), "rss_after_imports_mb": round(rss_imports, 1),
              "rss_after_load_mb": round(rss_loaded, 1)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
