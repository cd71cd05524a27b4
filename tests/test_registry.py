"""The generator registry (models/registry.py): names, loading from a local directory, the Generator interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.foley_fixtures import train_tiny
from tasks.audio_grid import impulse_curve, num_frames, num_samples


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    torch.manual_seed(0)
    return train_tiny(tmp_path_factory.mktemp("registry")) / "pipeline"


def _timing(seconds: float) -> np.ndarray:
    n = num_frames(seconds)
    return np.stack([impulse_curve([0.2, 0.9], n), np.full(n, 0.4, np.float32)])


def test_local_directory_generator_gives_one_reproducible_waveform_per_seed(pipeline_dir):
    from models.registry import GeneratedAudio, Generator, get_generator

    g = get_generator(f"local:{pipeline_dir}")
    assert isinstance(g, Generator)
    assert g.model_id == f"local:{pipeline_dir.resolve()}"
    assert len(g.weights_sha256) == 64 and g.weights_sha256 == get_generator(str(pipeline_dir)).weights_sha256
    out = g.generate(timing=_timing(1.5), prompt="door knock", negative_prompt="bell ringing", seeds=[1, 2, 1],
                     duration_s=1.5, steps=3, guidance=3.0)
    assert [o.seed for o in out] == [1, 2, 1]
    assert all(isinstance(o, GeneratedAudio) and o.sr == 16000 for o in out)
    assert all(o.waveform.shape == (num_samples(1.5),) for o in out)
    assert np.array_equal(out[0].waveform, out[2].waveform)
    assert not np.array_equal(out[0].waveform, out[1].waveform)
    assert out[0].attributions and out[0].attributions[0]["licence"] == "CC0-1.0"


def test_plain_directory_path_and_local_prefix_are_the_same_model(pipeline_dir):
    from models.registry import get_generator

    assert get_generator(str(pipeline_dir)) is get_generator(f"local:{pipeline_dir}")


def test_weights_hash_changes_when_weights_change(pipeline_dir, tmp_path):
    import shutil

    from models.registry import directory_sha256

    copy = tmp_path / "copy"
    shutil.copytree(pipeline_dir, copy)
    assert directory_sha256(copy) == directory_sha256(pipeline_dir)
    f = next((copy / "denoiser").glob("*.safetensors"))
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    assert directory_sha256(copy) != directory_sha256(pipeline_dir)


@pytest.mark.parametrize("name, error, words", [
    ("builtin:nonexistent", LookupError, "builtin:foley-mini"),
    ("", LookupError, "local:"),
    ("local:/no/such/dir", FileNotFoundError, "does not exist"),
], ids=["unknown-builtin", "empty", "missing-dir"])
def test_bad_names_say_what_to_use(name, error, words):
    from models.registry import get_generator

    with pytest.raises(error, match=words):
        get_generator(name)


def test_directory_without_a_pipeline_is_refused(tmp_path):
    from models.registry import get_generator

    with pytest.raises(FileNotFoundError, match="model_index.json"):
        get_generator(str(tmp_path))


def test_builtin_weights_load_and_generate():
    from models.registry import BUILTIN_DIR, get_generator

    if not (BUILTIN_DIR / "model_index.json").is_file():
        pytest.skip("models/foley-mini holds no trained weights yet")
    g = get_generator("builtin:foley-mini")
    assert g.model_id == "builtin:foley-mini"
    a = g.generate(timing=_timing(2.0), prompt="footsteps", negative_prompt=None, seeds=[0], duration_s=2.0, steps=4)
    b = g.generate(timing=_timing(2.0), prompt="footsteps", negative_prompt=None, seeds=[0], duration_s=2.0, steps=4)
    assert a[0].waveform.shape == (num_samples(2.0),) and np.array_equal(a[0].waveform, b[0].waveform)
    assert np.abs(a[0].waveform).max() > 1e-3


def test_builtin_weights_sound_where_the_picture_has_contacts(tmp_path):
    """Through the whole chain: a filmed bouncing ball -> timing curve -> shipped model -> audio onsets."""
    from models.registry import BUILTIN_DIR, get_generator
    from tasks.audio_grid import match_events
    from tasks.features import timing_curve
    from tasks.qc import onset_times
    from tests import motion_clips as mc

    if not (BUILTIN_DIR / "model_index.json").is_file():
        pytest.skip("models/foley-mini holds no trained weights yet")
    g = get_generator("builtin:foley-mini")
    hits = n_ref = n_est = 0
    for seed, damage in ((0, mc.CLEAN), (1, mc.OLD_FILM)):
        clip = mc.bouncing_ball(tmp_path / f"ball{seed}.mkv", damage, seed)
        tc = timing_curve(clip.path)
        out = g.generate(timing=tc.stacked(), prompt="wooden impact", negative_prompt=None, seeds=[seed],
                         duration_s=tc.duration, steps=12)[0]
        est = onset_times(out.waveform, out.sr)
        h, *_ = match_events(clip.contact_times, est, 0.1)
        hits, n_ref, n_est = hits + h, n_ref + len(clip.contact_times), n_est + len(est)
    f1 = 2 * hits / (n_ref + n_est)
    assert f1 >= 0.75, f"audio onsets matched {hits} of {n_ref} contacts ({n_est} onsets)"
