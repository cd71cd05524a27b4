"""Frame cleaning: damage goes, undamaged pictures stay, frames and rate are kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from foleyflow.degrade import DegradeConfig, Degrader
from foleyflow.video import VideoWriter, iter_frames
from tasks.clean import STEPS, CleanConfig, clean_video, noise_sigma, parse_steps

W, H, FPS = 192, 144, 24


def _scene(i: int) -> np.ndarray:
    """Smooth textured background panning slowly, with a moving disc: the clean truth."""
    rng = np.random.default_rng(3)
    tex = cv2.resize(rng.integers(40, 220, (40, 60)).astype(np.uint8), (W * 2, H * 2), interpolation=cv2.INTER_CUBIC)
    x = 20 + i
    frame = tex[20:20 + H, x:x + W].copy()
    cv2.circle(frame, (30 + 3 * i, H // 2), 12, 235, -1)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)


def _write(path, frames):
    with VideoWriter(path, fps=FPS, width=W, height=H) as w:
        for f in frames:
            w.write(f)
    return path


def _luma(path):
    return [f.astype(np.float64) for _, f in iter_frames(path, fmt="gray")]


def _psnr(a, b) -> float:
    mse = np.mean([np.mean((x - y) ** 2) for x, y in zip(a, b)])
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clean")
    truth = [_scene(i) for i in range(36)]
    cfg = DegradeConfig(grain=6.0, flicker=0.08, dust_per_frame=6, hair_prob=0.0, scratches=1, jitter=0.0)
    deg = Degrader(cfg, seed=1, width=W, height=H)
    damaged, masks = zip(*(deg.apply(f, i, return_mask=True) for i, f in enumerate(truth)))
    return {"truth": _write(d / "truth.mkv", truth), "damaged": _write(d / "damaged.mkv", damaged),
            "masks": masks, "dir": d}


def test_cleaning_removes_damage_and_gains_psnr(clips):
    out = clean_video(clips["damaged"], clips["dir"] / "out.mkv", config=CleanConfig(steps=STEPS[:4]))
    truth, damaged, cleaned = _luma(clips["truth"]), _luma(clips["damaged"]), _luma(out.output)
    gain = _psnr(truth, cleaned) - _psnr(truth, damaged)
    assert gain > 3.0, f"only {gain:.2f} dB gained"
    # dust and scratch pixels specifically: the error there falls by more than half
    inner = slice(1, -1)  # first/last frames have one neighbour
    err_before = np.mean([np.abs(d - t)[m].mean() for d, t, m in zip(damaged[inner], truth[inner], clips["masks"][inner]) if m.any()])
    err_after = np.mean([np.abs(c - t)[m].mean() for c, t, m in zip(cleaned[inner], truth[inner], clips["masks"][inner]) if m.any()])
    assert err_after < 0.5 * err_before
    assert out.stats["mean_dust_px"] > 0 and out.stats["mean_scratch_cols"] > 0


def test_flicker_is_evened_out(clips):
    out = clean_video(clips["damaged"], clips["dir"] / "df.mkv", config=CleanConfig(steps=("deflicker",)))
    means = lambda frames: np.array([f.mean() for f in frames])  # noqa: E731
    truth, damaged, cleaned = means(_luma(clips["truth"])), means(_luma(clips["damaged"])), means(_luma(out.output))
    assert np.std(np.diff(cleaned - truth)) < 0.5 * np.std(np.diff(damaged - truth))


def test_undamaged_footage_is_left_alone(tmp_path):
    truth = _write(tmp_path / "t.mkv", [_scene(i) for i in range(30)])
    out = clean_video(truth, tmp_path / "o.mkv", config=CleanConfig(steps=("deflicker", "dust", "scratches", "grain")))
    assert _psnr(_luma(truth), _luma(out.output)) >= 40.0


def test_jitter_is_stabilised(tmp_path):
    rng = np.random.default_rng(5)
    still = _scene(0)
    shaken = [cv2.warpAffine(still, np.float32([[1, 0, dx], [0, 1, dy]]), (W, H), borderMode=cv2.BORDER_REPLICATE)
              for dx, dy in rng.normal(0, 2.5, (30, 2))]
    src = _write(tmp_path / "j.mkv", shaken)
    out = clean_video(src, tmp_path / "s.mkv", config=CleanConfig(steps=("stabilize",)))
    motion = lambda fr: np.mean([np.abs(a - b)[10:-10, 10:-10].mean() for a, b in zip(fr, fr[1:])])  # noqa: E731
    assert motion(_luma(out.output)) < 0.6 * motion(_luma(src))


def test_frames_rate_and_range_are_kept(clips):
    out = clean_video(clips["damaged"], clips["dir"] / "r.mkv", start=5, stop=17)
    assert out.frames == 12 and out.fps == pytest.approx(FPS)
    assert len(_luma(out.output)) == 12


def test_no_steps_is_a_faithful_copy(clips):
    out = clean_video(clips["damaged"], clips["dir"] / "copy.mkv", config=CleanConfig(steps=()))
    assert _psnr(_luma(clips["damaged"]), _luma(out.output)) > 50


def test_parse_steps():
    assert parse_steps("dust,deflicker") == ("deflicker", "dust")
    assert parse_steps("none") == () and parse_steps("") == ()
    with pytest.raises(ValueError, match="sharpen.*valid steps"):
        parse_steps("dust,sharpen")


def test_failure_leaves_no_output(clips, monkeypatch):
    import tasks.clean as clean

    def broken(self, f, sigma):
        raise RuntimeError("boom")

    monkeypatch.setattr(clean._Cleaner, "_scratches", broken)
    with pytest.raises(RuntimeError, match="boom"):
        clean_video(clips["damaged"], clips["dir"] / "broken.mkv")
    assert not list(clips["dir"].glob("*broken*"))


def test_noise_estimate_tracks_grain():
    rng = np.random.default_rng(0)
    flat = np.full((240, 320), 128, np.float32)
    assert noise_sigma(flat) < 0.5
    assert noise_sigma(flat + rng.normal(0, 5, flat.shape).astype(np.float32)) == pytest.approx(5, rel=0.25)


def test_memory_stays_flat_as_the_film_gets_longer(tmp_path):
    import tracemalloc

    def peak(frames: int) -> int:
        src = _write(tmp_path / f"m{frames}.mkv", (_scene(i % 30) for i in range(frames)))
        tracemalloc.start()
        clean_video(src, tmp_path / f"mo{frames}.mkv")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long = peak(20), peak(120)
    assert long < short * 1.3 + 2_000_000
