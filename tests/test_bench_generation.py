"""The measures of bench/bench_generation.py, on synthetic data: they must tell good from bad."""

from __future__ import annotations

import numpy as np
import pytest

from bench._eval_classifier import clip_features, train_classifier
from bench._gen_baselines import Retrieval, ShapedNoise
from bench._gen_metrics import EventIndex, NoveltyIndex, novelty_threshold, novelty_verdicts, pooled_f1, seam_report
from models.foley_mini.audio import log_mel, write_audio
from models.foley_mini.evaluate import impulse_timing
from tasks.audio_grid import SAMPLE_RATE
from tasks.qc import onset_times

SR = SAMPLE_RATE
SECONDS = 4.096


def _event(rng: np.random.Generator, kind: int) -> np.ndarray:
    """A 0.3 s sound: a decaying chirp whose band and sweep depend on ``kind`` and a random draw."""
    t = np.arange(int(0.3 * SR)) / SR
    f0 = 300 * (kind + 1) * rng.uniform(0.8, 1.25)
    sweep = rng.uniform(-600, 600)
    return np.sin(2 * np.pi * (f0 * t + 0.5 * sweep * t ** 2)) * np.exp(-t / 0.08)


def _place(events: list[tuple[float, np.ndarray]], seconds: float = SECONDS, noise: float = 1e-3,
           rng: np.random.Generator | None = None) -> np.ndarray:
    x = np.zeros(int(seconds * SR))
    for at, e in events:
        a = int(at * SR)
        x[a:a + e.size] += e[:x.size - a]
    if rng is not None:
        x += noise * rng.standard_normal(x.size)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _clicks(times: list[float], seconds: float = SECONDS) -> np.ndarray:
    rng = np.random.default_rng(0)
    return _place([(t, rng.standard_normal(400) * np.exp(-np.arange(400) / 60)) for t in times], seconds)


def test_sync_f1_is_one_for_clicks_on_time_and_low_for_shifted_ones():
    truth = [0.4, 1.1, 1.9, 2.6, 3.4]
    on_time = onset_times(_clicks(truth), SR)
    late = onset_times(_clicks([t + 0.25 for t in truth[:-1]]), SR)
    assert pooled_f1([(truth, on_time)])["f1"] == 1.0
    assert pooled_f1([(truth, late)])["f1"] < 0.3
    both = pooled_f1([(truth, on_time), (truth, late)])
    assert both["reference_events"] == 10 and 0.3 < both["f1"] < 0.8


def test_pooled_f1_counts_onsets_where_there_should_be_none():
    assert pooled_f1([([], [])])["f1"] == 1.0
    assert pooled_f1([([1.0], [1.0]), ([], [0.5, 2.0])])["precision"] == pytest.approx(1 / 3, abs=1e-3)


def _windows(count: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    waves, events = [], []
    for i in range(count):
        e = _event(rng, i % 4)
        events.append(e)
        waves.append(_place([(rng.uniform(0.2, 1.2), e), (rng.uniform(2.0, 3.2), _event(rng, (i + 1) % 4))],
                            rng=rng))
    return [log_mel(w) for w in waves], events


def test_novelty_flags_a_copy_of_a_training_window_and_not_unrelated_noise():
    train, _ = _windows(12, seed=1)
    ids = [f"clip{i}" for i in range(12)]
    index = NoveltyIndex(train, ids, train[0].shape[1], max_shift=8)
    real, _ = _windows(10, seed=2)  # other recordings of the same kinds of sound: the reference
    real_corr, _ = index.best_matches(real)
    threshold = novelty_threshold(real_corr)
    copy = np.roll(train[5], 3, axis=1)  # the same window, three frames late
    noise = log_mel(np.random.default_rng(3).standard_normal(int(SECONDS * SR)).astype(np.float32) * 0.1)
    corr, matched = index.best_matches([copy, noise])
    assert corr[0] > 0.98 and matched[0] == "clip5"
    assert corr[1] < threshold < corr[0]
    verdicts = novelty_verdicts(corr, matched, [[{"clip_id": "clip5"}], []], threshold)
    assert [v.verdict for v in verdicts] == ["attributed", "novel"]
    unnamed = novelty_verdicts(corr[:1], matched[:1], [[{"clip_id": "clip7"}]], threshold)
    assert unnamed[0].verdict == "attributed-other"


def test_event_index_finds_a_copied_event_moved_in_time_that_whole_windows_miss():
    train, events = _windows(12, seed=4)
    ids = [f"clip{i}" for i in range(12)]
    moved = log_mel(_place([(3.3, events[7])], rng=np.random.default_rng(5)))  # window 7's event, elsewhere
    other = log_mel(_place([(1.0, _event(np.random.default_rng(6), 9))], rng=np.random.default_rng(7)))
    ev_corr, ev_match = EventIndex(train, ids).best_matches([moved, other])
    win_corr, _ = NoveltyIndex(train, ids, train[0].shape[1], max_shift=8).best_matches([moved])
    assert ev_corr[0] > 0.97 and ev_match[0] == "clip7"
    assert ev_corr[1] < ev_corr[0] - 0.05
    assert win_corr[0] < ev_corr[0] - 0.1


def test_a_copy_of_a_recording_found_in_two_clips_is_attributed_to_either_but_not_to_an_unrelated_one():
    train, events = _windows(12, seed=8)
    ids = [f"clip{i}" for i in range(12)]
    # one recording in two clips: clip 11 is clip 3's recording started 0.7 s later (another package's excerpt)
    shared = _event(np.random.default_rng(9), 1)
    recording = _place([(0.5, shared), (2.2, _event(np.random.default_rng(10), 3))], rng=np.random.default_rng(11))
    train[3] = log_mel(recording)
    train[11] = log_mel(np.concatenate([np.zeros(int(0.7 * SR), np.float32), recording])[:recording.size])
    copy = log_mel(_place([(2.9, shared)], rng=np.random.default_rng(12)))  # the shared event, re-timed
    index = EventIndex(train, ids)
    corr, matched = index.best_matches([copy, copy])
    assert corr[0] > 0.97 and matched[0] in {"clip3", "clip11"}
    source = "clip11" if matched[0] == "clip3" else "clip3"  # the clip named is the one that did not win
    unrelated = "clip7"
    named = index.best_within([copy, copy], [{source}, {unrelated}])
    assert named[0] > 0.97 and named[1] < corr[1] - 0.05
    verdicts = novelty_verdicts(corr, matched, [[{"clip_id": source}], [{"clip_id": unrelated}]], 0.9,
                                named_correlations=named)
    assert [v.verdict for v in verdicts] == ["attributed", "attributed-other"]
    # without the named clips' correlations only the id of the closest clip counts
    assert novelty_verdicts(corr[:1], matched[:1], [[{"clip_id": source}]], 0.9)[0].verdict == "attributed-other"


def test_a_lone_lit_cell_in_silence_is_no_copy_of_a_training_window_with_one_in_the_same_place():
    train, _ = _windows(10, seed=13)
    ids = [f"clip{i}" for i in range(10)]
    floor = np.full_like(train[0], train[0].min())
    speck = floor.copy()
    speck[20, 60] = floor[20, 60] + 5.0  # one cell lit in a silent training window
    train[9] = speck
    rng = np.random.default_rng(14)
    query = log_mel(_place([(0.5, _event(rng, 2))], rng=rng))  # an event of its own ...
    query[:, 40:] = query.min()
    query[20, 60] = query.min() + 5.0  # ... and, in its silence, the same lone cell
    corr, matched = EventIndex(train, ids).best_matches([query])
    assert matched[0] != "clip9" and corr[0] < 0.99


def test_window_index_restricted_to_named_clips_finds_the_copy_only_in_its_own_clip():
    train, _ = _windows(8, seed=12)
    ids = [f"clip{i}" for i in range(8)]
    index = NoveltyIndex(train, ids, train[0].shape[1], max_shift=8)
    copy = np.roll(train[2], 2, axis=1)
    within = index.best_within([copy, copy, copy], [{"clip2"}, {"clip5", "clip6"}, {"nowhere"}])
    assert within[0] > 0.98 and within[1] < 0.9 and within[2] == -np.inf


def test_classifier_learns_a_three_class_toy_set_and_reports_its_accuracy():
    rng = np.random.default_rng(8)

    def clip(kind: int) -> np.ndarray:
        gain = rng.uniform(0.05, 1.0)  # level must not matter
        return log_mel(gain * _place([(rng.uniform(0.1, 3.5), _event(rng, kind * 3)) for _ in range(3)], rng=rng))

    X, y, groups = [], [], []
    for i in range(36):
        X.append(clip_features(clip(i % 3)))
        y.append(f"class{i % 3}")
        groups.append(f"rec{i // 2}")
    clf = train_classifier(np.stack(X), y, groups, seed=0)
    assert clf.categories == ["class0", "class1", "class2"]
    test_y = [f"class{i % 3}" for i in range(15)]
    test_x = np.stack([clip_features(clip(i % 3)) for i in range(15)])
    assert clf.accuracy(test_x, test_y) >= 0.9
    shuffled = test_y[1:] + test_y[:1]
    assert clf.accuracy(test_x, shuffled) <= 0.2
    assert clf.probabilities(test_x).shape == (15, 3)


def test_classifier_refuses_a_single_category():
    with pytest.raises(ValueError, match="two categories"):
        train_classifier(np.zeros((4, 3)), ["a"] * 4, ["g1", "g2", "g3", "g4"])


def test_seam_report_sees_a_click_at_a_join_and_not_a_smooth_crossfade():
    rng = np.random.default_rng(9)
    t = np.arange(3 * SR) / SR
    a, b = 0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t + 1.0)
    join = SR + 123
    butted = np.concatenate([a[:join], -b[join:]])  # a phase jump: a click
    fade = np.clip((np.arange(t.size) - (join - 800)) / 1600, 0, 1)
    smooth = a * np.cos(0.5 * np.pi * fade) + b * np.sin(0.5 * np.pi * fade)
    noisy = butted + 0.001 * rng.standard_normal(t.size)
    assert seam_report(noisy, [join], SR)["ratio_to_probe_p95"] > 2.0
    assert seam_report(smooth, [join], SR)["ratio_to_probe_p95"] < 1.3
    with pytest.raises(ValueError, match="no join"):
        seam_report(smooth, [t.size + 10], SR)


def test_shaped_noise_follows_the_curve_and_ignores_the_prompt():
    times = [0.5, 1.3, 2.2, 3.0]
    curve = impulse_timing(np.array(times), SECONDS)
    noise = ShapedNoise()
    a = noise.generate(timing=curve, prompt="cow", negative_prompt=None, seeds=[1], duration_s=SECONDS)[0]
    b = noise.generate(timing=curve, prompt="sword clash", negative_prompt=None, seeds=[1], duration_s=SECONDS)[0]
    assert np.array_equal(a.waveform, b.waveform) and a.attributions == []
    assert pooled_f1([(times, onset_times(a.waveform, a.sr))])["f1"] >= 0.85


def test_retrieval_places_the_nearest_clip_at_the_onsets_and_attributes_it(tmp_path):
    rng = np.random.default_rng(10)
    clips = []
    for i, caption in enumerate(["cow mooing", "sword clash"]):
        path = write_audio(tmp_path / f"c{i}.flac", _place([(0.1, _event(rng, 3 * i))], seconds=0.6))
        clips.append({"clip_id": f"id{i}", "path": str(path), "caption": caption, "category": caption.split()[0],
                      "is_ambience": False, "package": "pkg", "source_file": f"c{i}.wav", "author": "someone",
                      "licence": "CC0"})
    vocab = {"cow mooing": [1.0, 0.0], "sword clash": [0.0, 1.0], "a sword": [0.2, 0.98], "cow": [0.9, 0.1]}

    def encode(texts):
        return np.array([np.asarray(vocab[t]) / np.linalg.norm(vocab[t]) for t in texts])

    retrieval = Retrieval(clips, encode)
    times = [0.6, 1.5, 2.7]
    curve = impulse_timing(np.array(times), SECONDS)
    res = retrieval.generate(timing=curve, prompt="a sword", negative_prompt=None, seeds=[0], duration_s=SECONDS)[0]
    assert res.attributions[0]["clip_id"] == "id1" and res.attributions[0]["licence"] == "CC0"
    assert pooled_f1([(times, onset_times(res.waveform, res.sr))])["f1"] == 1.0
    assert res.waveform.size == int(SECONDS * SR)
    swapped = retrieval.generate(timing=curve, prompt="a sword", negative_prompt="sword clash", seeds=[0],
                                 duration_s=SECONDS)[0]
    assert swapped.attributions[0]["clip_id"] == "id0"
