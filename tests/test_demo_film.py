"""The demo film and the film-damage simulator."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from foleyflow.degrade import PRESETS, DegradeConfig, Degrader
from foleyflow.demo import DemoSpec, build_demo_film
from foleyflow.video import frame_index, iter_frames
from tests.conftest import DAMAGE


def _frame(seed=0, w=96, h=72):
    rng = np.random.default_rng(seed)
    return np.repeat(rng.integers(60, 200, (h, w, 1), dtype=np.uint8), 3, axis=2)


def test_degradation_is_deterministic_and_none_is_identity():
    f = _frame()
    a = Degrader(PRESETS["archival"], 3, 96, 72).apply(f, 5)
    b = Degrader(PRESETS["archival"], 3, 96, 72).apply(f, 5)
    assert np.array_equal(a, b) and not np.array_equal(a, f)
    assert np.array_equal(Degrader(PRESETS["none"], 3, 96, 72).apply(f, 5), f)


def test_each_effect_does_what_it_says():
    f = np.full((72, 96, 3), 128, np.uint8)
    flicker = Degrader(DegradeConfig(grain=0, flicker=0.1, dust_per_frame=0, hair_prob=0, scratches=0, jitter=0), 1, 96, 72)
    means = [flicker.apply(f, i).mean() for i in range(20)]
    assert np.std(means) > 3
    dust = Degrader(DegradeConfig(grain=0, flicker=0, dust_per_frame=5, hair_prob=0, scratches=0, jitter=0), 1, 96, 72)
    (d0, m0), (d1, m1) = dust.apply(f, 0, return_mask=True), dust.apply(f, 1, return_mask=True)
    assert m0.any() and m1.any() and not np.array_equal(m0, m1)  # specks live on one frame
    assert np.all(d0[m0][:, 0] != 128) and np.all(d0[~m0] == 128)
    scratch = Degrader(DegradeConfig(grain=0, flicker=0, dust_per_frame=0, hair_prob=0, scratches=1, jitter=0), 1, 96, 72)
    cols = [np.flatnonzero(scratch.apply(f, i, return_mask=True)[1].all(axis=0)) for i in range(10)]
    assert all(c.size for c in cols) and max(abs(int(a[0]) - int(b[0])) for a, b in zip(cols, cols[1:])) <= 3


def test_scanned_damage_overlays_load_when_present():
    if not (DAMAGE / "dirt").exists():
        pytest.skip("../shared/damage not present")
    cfg = DegradeConfig(grain=0, flicker=0, dust_per_frame=0, hair_prob=0, scratches=0, jitter=0,
                        damage_dir=DAMAGE, overlays_per_frame=4)
    out, mask = Degrader(cfg, 2, 320, 240).apply(np.full((240, 320, 3), 128, np.uint8), 0, return_mask=True)
    assert mask.any() and (out != 128).any()


def test_short_demo_film_has_its_cuts_events_and_manifests(tmp_path):
    spec = DemoSpec(width=160, height=120, seconds_per_shot=1.0, shots=("title", "ball", "hammer", "walk"))
    film = build_demo_film(tmp_path, spec, keep_clean=True)
    index = frame_index(film.path)
    assert index.frames == film.frames == 96 and film.fps == 24
    assert film.cuts == [24, 48, 72]
    # cuts are where the clean picture jumps
    frames = [f.astype(float) for _, f in iter_frames(film.clean_path, fmt="gray")]
    jumps = [i for i in range(1, len(frames)) if np.abs(frames[i] - frames[i - 1]).mean() > 20]
    assert jumps == film.cuts
    shots = [0, *film.cuts, film.frames]
    for e in film.events:
        assert shots[e["shot"]] <= e["frame"] < shots[e["shot"] + 1]
    assert any(e["kind"] == "impact" for e in film.events)
    rows = list(csv.DictReader(open(film.manifest_path)))
    assert list(rows[0]) == ["path", "title", "description", "negative_prompt"]
    assert (tmp_path / rows[0]["path"]).exists()
    overrides = list(csv.DictReader(open(tmp_path / "shots.csv")))
    assert [int(r["shot"]) for r in overrides] == [0, 1, 2, 3]
    truth = json.loads((tmp_path / "blacksmiths-day.truth.json").read_text())
    assert truth["cuts"] == film.cuts


def test_default_demo_is_at_least_30_seconds_with_several_shots():
    spec = DemoSpec()
    assert spec.duration >= 30 and len(spec.shots) >= 5


def test_a_second_build_reuses_the_same_film(tmp_path):
    spec = DemoSpec(width=96, height=72, seconds_per_shot=0.5, shots=("ball", "door"))
    first = build_demo_film(tmp_path, spec)
    data = first.path.read_bytes()
    again = build_demo_film(tmp_path, spec)
    assert again.path.read_bytes() == data and again.cuts == first.cuts
    other = build_demo_film(tmp_path, DemoSpec(width=96, height=72, seconds_per_shot=0.5, shots=("door", "ball")))
    assert other.cuts == [12] and other.path.read_bytes() != data
