"""FoleyMiniPipeline (models/foley_mini/pipeline.py): what a caller of the generator notices.

A tiny foley-mini is trained for a few steps on the synthetic corpus (seconds),
saved with save_pretrained and loaded back; every test uses that pipeline.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.foley_fixtures import train_tiny
from tasks.audio_grid import SAMPLE_RATE, impulse_curve, num_frames, num_samples

STEPS = 4


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.manual_seed(0)
    return train_tiny(tmp_path_factory.mktemp("foley-mini"))


@pytest.fixture(scope="module")
def pipe(run_dir):
    from models.foley_mini import FoleyMiniPipeline

    p = FoleyMiniPipeline.from_pretrained(str(run_dir / "pipeline"))
    p.set_progress_bar_config(disable=True)
    return p


def curve(seconds: float, times=(0.3, 1.1), sustain: float = 0.5) -> np.ndarray:
    n = num_frames(seconds)
    return np.stack([impulse_curve(list(times), n), np.full(n, sustain, np.float32)])


def gen(pipe, seed: int = 0, **kw):
    kw.setdefault("prompt", "door knock")
    kw.setdefault("timing", curve(2.0))
    kw.setdefault("num_inference_steps", STEPS)
    return pipe(generator=torch.Generator().manual_seed(seed), **kw)


def test_output_shape_rate_and_range(pipe):
    out = gen(pipe, duration_s=2.0)
    assert out.sample_rate == SAMPLE_RATE
    assert out.audios.shape == (1, num_samples(2.0))
    assert out.audios.dtype == np.float32
    assert np.isfinite(out.audios).all() and np.abs(out.audios).max() <= 1.0
    assert np.abs(out.audios).max() > 0


def test_batch_of_prompts_gives_one_waveform_each(pipe):
    out = pipe(["door knock", "rain, ambient"], timing=curve(1.5), duration_s=1.5, num_inference_steps=STEPS,
               generator=[torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)])
    assert out.audios.shape == (2, num_samples(1.5))
    assert len(out.attributions) == 2
    assert not np.allclose(out.audios[0], out.audios[1])


def test_same_seed_same_audio_different_seed_different_audio(pipe):
    a, b, c = gen(pipe, seed=3).audios, gen(pipe, seed=3).audios, gen(pipe, seed=4).audios
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_save_and_load_round_trip_gives_identical_audio(pipe, tmp_path):
    from models.foley_mini import FoleyMiniPipeline

    pipe.save_pretrained(str(tmp_path / "copy"))
    assert list((tmp_path / "copy" / "denoiser").glob("*.safetensors"))
    assert list((tmp_path / "copy" / "reference_bank").glob("*.safetensors"))
    again = FoleyMiniPipeline.from_pretrained(str(tmp_path / "copy"))
    again.set_progress_bar_config(disable=True)
    assert np.array_equal(gen(pipe, seed=5).audios, gen(again, seed=5).audios)
    assert len(again.reference_bank) == len(pipe.reference_bank)


def test_negative_prompt_replaces_the_unconditional_branch(pipe):
    plain = gen(pipe, seed=6, guidance_scale=5.0).audios
    negative = gen(pipe, seed=6, guidance_scale=5.0, negative_prompt="bell ringing").audios
    assert np.abs(plain - negative).max() > 1e-3 * np.abs(plain).max()
    # without guidance there is no unconditional branch, so the negative prompt cannot matter
    unguided = gen(pipe, seed=6, guidance_scale=1.0).audios
    assert np.array_equal(unguided, gen(pipe, seed=6, guidance_scale=1.0, negative_prompt="bell ringing").audios)


def test_empty_prompt_generates_from_timing_alone(pipe):
    out = gen(pipe, prompt="", negative_prompt="")
    assert out.audios.shape == (1, num_samples(2.0))
    assert np.isfinite(out.audios).all() and np.abs(out.audios).max() > 0
    assert out.attributions == [[]]


def test_duration_alone_without_timing(pipe):
    out = gen(pipe, timing=None, duration_s=1.25)
    assert out.audios.shape == (1, num_samples(1.25))


def test_long_duration_spans_several_windows_without_seams(pipe):
    from models.foley_mini.audio import log_mel

    window_s = pipe.denoiser.config.sample_frames * pipe.time_factor / 62.5
    seconds = 3.2 * window_s
    out = gen(pipe, seed=7, timing=curve(seconds, times=np.linspace(0.2, seconds - 0.3, 6)), duration_s=seconds)
    audio = out.audios[0]
    assert audio.shape == (num_samples(seconds),)
    # no clicks: the largest sample step is of the size of the signal's ordinary steps
    steps = np.abs(np.diff(audio))
    assert steps.max() <= 4 * np.percentile(steps, 99.9) + 1e-4
    # no spectral jump at the window joins: frame-to-frame change there is ordinary
    mel = log_mel(audio)
    change = np.abs(np.diff(mel, axis=1)).mean(axis=0)
    window = pipe.denoiser.config.sample_frames
    _, starts, _ = pipe.plan_windows(seconds)
    assert len(starts) >= 3
    tf = pipe.time_factor
    joins = [s * tf for s in starts[1:]] + [(s + window) * tf for s in starts[:-1]]
    at_joins = [change[j - 2:j + 2].max() for j in joins if 2 <= j < len(change) - 2]
    assert at_joins and max(at_joins) <= np.percentile(change, 99) + 1e-6


def test_reference_generation_is_attributed(pipe):
    out = gen(pipe, seed=8, prompt="door knock", reference="auto")
    (attribution,) = out.attributions[0]
    for key in ("clip_id", "package", "source_file", "author", "licence"):
        assert attribution[key]
    assert attribution["category"] == "knock"
    assert attribution["licence"] == "CC0-1.0"
    chosen = attribution["clip_id"]
    explicit = gen(pipe, seed=8, prompt="door knock", reference=chosen)
    assert explicit.attributions[0][0]["clip_id"] == chosen


def test_without_reference_nothing_is_attributed_and_audio_differs(pipe):
    with_ref = gen(pipe, seed=9, reference="auto")
    without = gen(pipe, seed=9, reference=None)
    assert without.attributions == [[]]
    assert np.abs(with_ref.audios - without.audios).max() > 1e-4


def test_reference_strength_starts_from_the_retimed_reference(pipe):
    """Below 1 the denoising starts from the noised reference: the lower, the closer the sound is to it."""
    from models.foley_mini.audio import log_mel
    from models.foley_mini.timing import curve_onsets

    first = gen(pipe, seed=3, reference="auto")
    clip_id = first.attributions[0][0]["clip_id"]
    bank, tf = pipe.reference_bank, pipe.time_factor
    frames = pipe.plan_windows(2.0)[0]
    padded = np.zeros((2, frames * tf), np.float32)
    padded[:, :num_frames(2.0)] = curve(2.0)
    with torch.no_grad():
        ref = bank.retimed(bank.find(clip_id), curve_onsets(padded) // tf, frames)[None]
        ref_mel = pipe.autoencoder.decode(ref)[0, :, :num_frames(2.0)].numpy()

    def closeness(strength: float) -> float:
        out = gen(pipe, seed=3, reference=clip_id, reference_strength=strength, reference_gate_s=None,
                  num_inference_steps=10)
        mel = log_mel(out.audios[0])[:, :ref_mel.shape[1]]
        return float(np.corrcoef(mel.ravel(), ref_mel[:, :mel.shape[1]].ravel())[0, 1])

    near, far = closeness(0.1), closeness(1.0)
    assert near > far + 0.1 and near > 0.5, (near, far)
    again = gen(pipe, seed=3, reference=clip_id, reference_strength=0.1, num_inference_steps=10)
    assert np.array_equal(again.audios, gen(pipe, seed=3, reference=clip_id, reference_strength=0.1,
                                            num_inference_steps=10).audios)  # still reproducible
    without = gen(pipe, seed=3, reference=None)
    assert np.array_equal(without.audios, gen(pipe, seed=3, reference=None, reference_strength=0.1).audios)


def test_reference_guidance_changes_only_generations_with_a_reference(pipe):
    assert np.abs(gen(pipe, seed=4).audios - gen(pipe, seed=4, reference_guidance=True).audios).max() > 1e-4
    plain = gen(pipe, seed=4, reference=None)
    assert np.array_equal(plain.audios, gen(pipe, seed=4, reference=None, reference_guidance=True).audios)


def test_unrelated_prompt_retrieves_nothing(pipe):
    out = gen(pipe, prompt="a spreadsheet of quarterly tax figures")
    assert out.attributions == [[]]


def test_scheduler_can_be_swapped(pipe):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    original = pipe.scheduler
    try:
        pipe.scheduler = DDIMScheduler.from_config(original.config)
        out = gen(pipe)
        assert np.isfinite(out.audios).all() and out.audios.shape == (1, num_samples(2.0))
    finally:
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(original.config)


@pytest.mark.parametrize("kwargs, message", [
    ({"timing": np.zeros((3, 100))}, "expected (2, T)"),
    ({"timing": np.full((2, 100), 2.0)}, "[0, 1]"),
    ({"timing": None, "duration_s": None}, "timing curve"),
    ({"duration_s": 5.0}, "frames"),
    ({"num_inference_steps": 0}, "positive integer"),
    ({"negative_prompt": ["a", "b"]}, "negative_prompt"),
    ({"reference": "no-such-clip"}, "no reference clip"),
    ({"reference_strength": 0.0}, "(0, 1]"),
    ({"reference_gate_s": -1.0}, "positive number"),
], ids=["timing-shape", "timing-range", "no-length", "length-mismatch", "steps", "negatives", "unknown-clip",
        "strength", "gate"])
def test_bad_inputs_say_what_to_do(pipe, kwargs, message):
    with pytest.raises((ValueError, KeyError), match=None) as err:
        gen(pipe, **kwargs)
    assert message in str(err.value)


def test_event_reference_is_gated_after_the_curve_onsets(pipe):
    """An event reference sounds after each onset and fades; a longer gate keeps more of it."""
    timing = curve(2.0, times=(0.3,), sustain=1.0)
    short, long_ = pipe.reference_gate(timing, 0.2), pipe.reference_gate(timing, 1.0)
    tf, onset = pipe.time_factor, int(0.3 * 62.5) // pipe.time_factor
    assert short[onset] > 0.9 and short[onset + int(0.6 * 62.5 / tf)] < 0.1  # 0.6 s later: faded
    assert long_[onset + int(0.6 * 62.5 / tf)] > 0.5
    assert short[:onset - 1].max() < 0.05  # nothing before the first onset
    assert np.allclose(pipe.reference_gate(timing, None), 1.0)  # sustain alone: up throughout
