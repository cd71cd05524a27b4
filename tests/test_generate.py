"""`foleyflow generate` and the generation stage: candidates, checks, selection, reproducibility."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.media import write_video
from tests.test_cli import _one_line_error, foleyflow


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("gen") / "clip.mp4", frames=48, fps=24, scenes=1)


def test_same_seed_same_audio_other_seed_other_audio(clip, tmp_path):
    runs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        proc = foleyflow("generate", str(clip), "--out", str(tmp_path / name), "--prompt", "door knock",
                         "--negative", "music", "--candidates", "2", "--seed", str(seed), "--steps", "4")
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads((tmp_path / name / "result.json").read_text()))
    a, b, c = runs
    assert [x["seed"] for x in a["candidates"]] == [7, 8]
    assert [_sha(x["path"]) for x in a["candidates"]] == [_sha(x["path"]) for x in b["candidates"]]
    assert _sha(a["candidates"][0]["path"]) != _sha(c["candidates"][0]["path"])  # seed 8 vs seed 7
    assert _sha(a["candidates"][1]["path"]) == _sha(c["candidates"][0]["path"])  # both seed 8
    assert sum(x["selected"] for x in a["candidates"]) == 1
    assert {"sync", "lufs"} <= set(a["candidates"][0]["scores"])
    assert a["model"].startswith("local:") and len(a["weights_sha256"]) == 64
    from tasks.stitch import read_wav

    audio, sr = read_wav(a["candidates"][0]["path"])
    assert sr == 16000 and abs(audio.size / sr - 2.0) < 0.05  # as long as the 48-frame clip


def test_bad_input_is_one_line(clip, tmp_path):
    proc = foleyflow("generate", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "no such file" in _one_line_error(proc)
    proc = foleyflow("generate", str(clip), "--out", str(tmp_path / "o"), "--generator", f"local:{tmp_path}/nope")
    assert proc.returncode == 1 and "does not exist" in _one_line_error(proc)
    proc = foleyflow("generate", str(clip), "--out", str(tmp_path / "o"), "--candidates", "0")
    assert proc.returncode == 1 and "candidates" in _one_line_error(proc)
    assert not (tmp_path / "o" / "result.json").exists()


def _peaks(curve) -> np.ndarray:
    """Times (s) of the local maxima above 0.5 of an onset curve on the 62.5 Hz grid."""
    c = np.asarray(curve)
    i = np.flatnonzero((c[1:-1] > 0.5) & (c[1:-1] >= c[:-2]) & (c[1:-1] > c[2:])) + 1
    return i / 62.5


class _Fake:
    """A generator whose output the test decides: silence for some seeds, clicks for others."""

    model_id, weights_sha256, scheduler_name = "test:fake", "0" * 64, "FakeScheduler"

    def __init__(self, silent_seeds=()):
        self.silent_seeds = set(silent_seeds)
        self.calls = []

    def generate(self, *, timing, prompt, negative_prompt, seeds, duration_s, steps=None, guidance=None):
        from models.registry import GeneratedAudio

        self.calls.append({"timing": timing, "duration_s": duration_s, "prompt": prompt, "negative": negative_prompt})
        out = []
        for seed in seeds:
            x = np.zeros(int(round(duration_s * 16000)), np.float32)
            if seed not in self.silent_seeds:
                rng = np.random.default_rng(seed)
                for t in _peaks(timing[0]):  # a click at every onset peak
                    i = int(t * 16000)
                    x[i:i + 800] += 0.5 * rng.standard_normal(x[i:i + 800].size).astype(np.float32) * np.exp(
                        -np.arange(x[i:i + 800].size) / 150)
            out.append(GeneratedAudio(x, 16000, seed, [{"clip_id": "c1"}] if seed % 2 else []))
        return out


def _curve(duration: float, onsets):
    from tasks.audio_grid import impulse_curve, num_frames
    from tasks.features import TimingCurve

    n = num_frames(duration)
    return TimingCurve(onset=impulse_curve(onsets, n), sustain=np.full(n, 0.3, np.float32), fps=24.0,
                       frame_rate=62.5, motion=np.zeros(1, np.float32), strength=np.zeros(1, np.float32),
                       onset_times=np.asarray(onsets, float), duration=duration)


def test_margins_pad_the_timing_and_checks_see_only_the_shot(tmp_path):
    from tasks.generate import GenerateConfig, generate_shot

    fake = _Fake()
    result = generate_shot(fake, _curve(2.0, [0.5, 1.5]), prompt="knock", negative_prompt="", seeds=[1, 2],
                           out_dir=tmp_path, config=GenerateConfig(margin_s=0.25))
    call = fake.calls[0]
    assert call["duration_s"] == pytest.approx(2.5)
    peaks = _peaks(call["timing"][0])
    assert np.allclose(peaks, [0.75, 1.75], atol=0.02)  # shifted by the margin
    assert call["negative"] is None  # an empty negative prompt is no negative prompt
    assert all(c.scores["sync"] == 1.0 for c in result.candidates)  # the clicks sit on the onsets
    assert result.candidates[0].attributions == [{"clip_id": "c1"}]  # seed 1 was conditioned on a clip


def test_rejected_candidates_are_never_selected_and_all_rejected_fails(tmp_path):
    from tasks.generate import GenerateConfig, GenerationRejected, generate_shot

    result = generate_shot(_Fake(silent_seeds={3}), _curve(1.0, [0.4]), prompt="", negative_prompt="",
                           seeds=[3, 4], out_dir=tmp_path / "a", config=GenerateConfig())
    assert result.selected == 1 and result.candidates[0].scores["rejected"] == "silent"
    with pytest.raises(GenerationRejected, match="seed 5: silent"):
        generate_shot(_Fake(silent_seeds={5, 6}), _curve(1.0, [0.4]), prompt="", negative_prompt="", seeds=[5, 6],
                      out_dir=tmp_path / "b", config=GenerateConfig())
    assert not list((tmp_path / "b").glob("*.wav"))  # nothing half-written left behind


def test_seeds_are_stable_per_shot_and_differ_between_shots():
    from tasks.generate import candidate_seeds

    assert candidate_seeds("ab" * 32, 3, 0, 2) == candidate_seeds("ab" * 32, 3, 0, 2)
    assert len(set(candidate_seeds("ab" * 32, 3, 0, 4) + candidate_seeds("ab" * 32, 4, 0, 4))) == 8
    assert candidate_seeds("ab" * 32, 3, 1, 2) != candidate_seeds("ab" * 32, 3, 0, 2)
