"""Cleaning: PSNR/SSIM gain and frames per second against FFmpeg's classical chains.

A clean clip (../shared/footage/testvideo.mp4 scaled to 640x480, or the demo
film's clean render when ../shared is absent) is degraded with foleyflow's
film-damage simulator, mixed with real scanned damage from ../shared/damage
when present. The same degraded clip is then cleaned by

* ``ffmpeg -vf deflicker,hqdn3d`` and ``deflicker,tmedian=radius=2,hqdn3d`` (the anchors), and
* ``foleyflow.clean_video`` with every step (the damage includes gate weave, which
  stabilisation undoes),

each writing lossless FFV1 so both sides pay for an encode. PSNR and SSIM are
measured on luma against the clean original; speed is end to end (decode,
clean, encode). A second part checks "do no harm" on the undamaged clip.

    python bench/bench_clean.py [--frames 240]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import foleyflow  # noqa: E402,F401
from bench._common import DAMAGE, FOOTAGE, luma, psnr, ssim, write_json  # noqa: E402
from foleyflow.degrade import PRESETS, degrade_video  # noqa: E402
from foleyflow.video import VideoWriter, iter_frames  # noqa: E402
from tasks.clean import CleanConfig, clean_video  # noqa: E402

CHAINS = {"ffmpeg deflicker,hqdn3d": "deflicker,hqdn3d",
          "ffmpeg deflicker,tmedian=radius=2,hqdn3d": "deflicker,tmedian=radius=2,hqdn3d"}


def make_clips(tmp: Path, frames: int) -> tuple[Path, Path, str]:
    clean = tmp / "clean.mkv"
    source = FOOTAGE / "testvideo.mp4"
    if source.exists():
        with VideoWriter(clean, fps=30000 / 1001, width=640, height=480) as w:
            for _, f in iter_frames(source, 400, 400 + frames, fmt="rgb24", width=640, height=480):
                w.write(f)
        origin = f"{source.name} frames 400-{400 + frames - 1}, 640x480"
    else:
        from foleyflow.demo import DemoSpec, build_demo_film

        film = build_demo_film(tmp / "demo", DemoSpec(degrade="none"), keep_clean=True)
        with VideoWriter(clean, fps=24, width=640, height=480) as w:
            for _, f in iter_frames(film.clean_path, 132, 132 + frames, fmt="rgb24"):
                w.write(f)
        origin = "demo film clean render (../shared absent)"
    config = replace(PRESETS["archival"], monochrome=False,
                     damage_dir=DAMAGE if (DAMAGE / "dirt").exists() else None)
    degraded = degrade_video(clean, tmp / "degraded.mkv", config, seed=11)
    return clean, degraded, origin + (", scanned damage overlays" if config.damage_dir else ", procedural damage")


def run_ffmpeg(src: Path, dst: Path, chain: str) -> float:
    import imageio_ffmpeg

    start = time.perf_counter()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), "-vf", chain,
                    "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(dst)], check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=240)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-bench-clean-") as tmpdir:
        tmp = Path(tmpdir)
        clean, degraded, origin = make_clips(tmp, args.frames)
        truth, damaged = luma(clean), luma(degraded)
        n = len(truth)
        base_psnr, base_ssim = psnr(truth, damaged), ssim(truth, damaged)
        rows = {}
        for name, chain in CHAINS.items():
            out = tmp / f"{len(rows)}.mkv"
            seconds = run_ffmpeg(degraded, out, chain)
            got = luma(out)
            rows[name] = {"fps": n / seconds, "psnr": psnr(truth, got), "ssim": ssim(truth, got)}
        start = time.perf_counter()
        result = clean_video(degraded, tmp / "ff.mkv", config=CleanConfig())
        seconds = time.perf_counter() - start
        got = luma(result.output)
        rows["foleyflow clean"] = {"fps": n / seconds, "psnr": psnr(truth, got), "ssim": ssim(truth, got)}
        # do no harm is judged with stabilisation off (it re-frames by design)
        harm = clean_video(clean, tmp / "noharm.mkv", config=CleanConfig(steps=("deflicker", "dust", "scratches", "grain")))
        no_harm = psnr(truth, luma(harm.output))

    print(f"clip: {origin}; {n} frames")
    print(f"degraded vs clean original: PSNR {base_psnr:.2f} dB, SSIM {base_ssim:.4f}")
    print(f"{'method':45s} {'fps':>7s} {'PSNR':>7s} {'gain':>7s} {'SSIM':>7s}")
    for name, r in rows.items():
        r["gain_db"] = r["psnr"] - base_psnr
        print(f"{name:45s} {r['fps']:7.1f} {r['psnr']:7.2f} {r['gain_db']:+7.2f} {r['ssim']:7.4f}")
    ours = rows["foleyflow clean"]
    for name in CHAINS:
        print(f"foleyflow vs {name}: speed x{ours['fps'] / rows[name]['fps']:.2f}, "
              f"PSNR gain {ours['gain_db'] - rows[name]['gain_db']:+.2f} dB, "
              f"SSIM {ours['ssim'] - rows[name]['ssim']:+.4f}")
    print(f"do no harm (undamaged clip, every step but stabilise): PSNR {no_harm:.2f} dB (target >= 40)")
    write_json("clean.json", {"clip": origin, "frames": n, "degraded_psnr": base_psnr, "degraded_ssim": base_ssim,
                              "methods": rows, "do_no_harm_psnr": no_harm})


if __name__ == "__main__":
    main()
