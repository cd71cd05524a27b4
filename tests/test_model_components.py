"""The networks of foley-mini (autoencoder, denoiser, reference re-timing, windows): shapes and contracts."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.mark.parametrize("preset", ["tiny", "tiny2d"])
def test_denoiser_shapes_conditioning_and_save_load(preset, tmp_path):
    from models.foley_mini import PRESETS
    from models.foley_mini.denoiser import FoleyDenoiser
    from models.foley_mini.train_diffusion import build_denoiser

    torch.manual_seed(0)
    model = build_denoiser(PRESETS[preset], 384).eval()
    with torch.no_grad():  # untrained output layers start at zero; give every weight a value
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    c, h = model.config.latent_channels, model.config.latent_height
    x = torch.randn(2, c, h, 16)
    text = torch.randn(2, 384), torch.randn(2, 5, 384), torch.ones(2, 5, dtype=torch.bool)
    timing = torch.rand(2, 2, 64)
    ref = torch.randn(2, c, h, 16)
    with torch.no_grad():
        y = model(x, 500, *text, timing=timing, reference=ref)
        assert y.shape == x.shape
        assert not torch.allclose(y, model(x, 500, *text, timing=None, reference=ref))  # timing is used
        assert not torch.allclose(y, model(x, 500, *text, timing=timing, reference=None))  # reference is used
        other = (torch.randn(2, 384), text[1], text[2])
        assert not torch.allclose(y, model(x, 500, *other, timing=timing, reference=ref))  # text is used
        # a masked-out reference is no reference
        assert torch.allclose(model(x, 500, *text, timing=timing, reference=ref, reference_mask=torch.zeros(2)),
                              model(x, 500, *text, timing=timing, reference=None), atol=1e-6)
    model.save_pretrained(str(tmp_path / "d"))
    again = FoleyDenoiser.from_pretrained(str(tmp_path / "d"), low_cpu_mem_usage=False).eval()
    with torch.no_grad():
        assert torch.equal(y, again(x, 500, *text, timing=timing, reference=ref))
    with pytest.raises(ValueError, match="timing of shape"):
        model(x, 500, *text, timing=torch.rand(2, 2, 10))


def test_autoencoder_round_trip_keeps_latent_statistics(tmp_path):
    from models.foley_mini.autoencoder import MelAutoencoder

    torch.manual_seed(0)
    ae = MelAutoencoder(channels=(8, 16), latent_channels=4).eval()
    mel = torch.randn(2, 64, 32) - 4
    assert ae.encode(mel).shape == (2, 4, 16, 8)
    assert ae.decode(ae.encode(mel)).shape == mel.shape
    ae.set_latent_stats(torch.tensor([0.5, -1.0, 0.0, 2.0]), torch.tensor([2.0, 1.0, 0.5, 3.0]))
    ae.save_pretrained(str(tmp_path / "ae"))
    again = MelAutoencoder.from_pretrained(str(tmp_path / "ae"), low_cpu_mem_usage=False).eval()
    assert again.config.latent_mean == [0.5, -1.0, 0.0, 2.0]
    with torch.no_grad():
        assert torch.allclose(ae.encode(mel), again.encode(mel))
    with pytest.raises(ValueError, match="multiple of 4"):
        ae.encode(torch.randn(1, 64, 30))


def test_retimed_reference_places_events_at_the_target_onsets():
    from models.foley_mini.reference import retime_latent

    ref = torch.zeros(1, 1, 20)
    ref[..., 2:5] = 1.0  # event A at its onset 2
    ref[..., 10:13] = 2.0  # event B at its onset 10
    silence = torch.full((1, 1), -1.0)
    out = retime_latent(ref, [2, 10], [5, 30, 45], 60, silence)[0, 0]
    assert torch.equal(out[5:8], torch.ones(3)) and torch.equal(out[30:33], torch.full((3,), 2.0))
    assert torch.equal(out[45:48], torch.ones(3))  # events are used in turn
    assert out[:5].eq(-1).all() and out[20:30].eq(-1).all()  # silence elsewhere
    looped = retime_latent(ref, [2, 10], [5], 50, silence, loop=True, valid=20)[0, 0]
    assert torch.equal(looped[20:40], ref[0, 0])  # ambience is looped
    assert retime_latent(ref, [2, 10], [], 30, silence).eq(-1).all()  # nothing happens on screen: no strikes
    assert torch.equal(retime_latent(ref, [2, 10], [], 20, silence, loop=True)[0, 0], ref[0, 0])  # ambience plays on


def test_window_blend_weights_sum_to_one_and_cover_everything():
    from models.foley_mini.windows import blend_weights, merge_windows, split_windows, window_starts

    for length in (64, 65, 100, 200, 333):
        starts = window_starts(length, 64, 16)
        assert starts[0] == 0 and starts[-1] + 64 == length
        assert all(b - a <= 48 for a, b in zip(starts, starts[1:]))
        w = blend_weights(starts, 64, length, 16)
        x = torch.randn(2, 3, length)
        assert torch.allclose(merge_windows(split_windows(x, starts, 64), starts, w, length), x, atol=1e-5)
    with pytest.raises(ValueError, match="pad it first"):
        window_starts(10, 64, 16)


def test_reference_bank_retrieves_by_prompt_and_refuses_unrelated_prompts():
    from models.foley_mini.reference import ReferenceBank

    entries = [{"clip_id": f"c{i}", "package": "p", "source_file": f"f{i}", "author": "a", "licence": "CC0-1.0",
                "caption": cap, "category": cat, "is_ambience": False, "valid": 4, "onsets": [0]}
               for i, (cap, cat) in enumerate([("dog barking", "dog"), ("dog barking", "dog"), ("rain", "rain")])]
    bank = ReferenceBank(entries=entries, latent_channels=2, latent_height=2, frames=4, text_dim=3)
    with torch.no_grad():
        bank.embeddings.copy_(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0, 1.0, 0]]))
    picks = {bank.retrieve(torch.tensor([1.0, 0, 0]), torch.Generator().manual_seed(s)).attribution["clip_id"]
             for s in range(20)}
    assert picks == {"c0", "c1"}  # the seed chooses among the category's entries
    assert bank.retrieve(torch.tensor([0, 0, 1.0])) is None
    both = torch.tensor([0.7, 0.7, 0.0])  # "dog barking and rain"
    assert bank.retrieve(both, avoid=torch.tensor([0, 1.0, 0])).attribution["category"] == "dog"  # not rain
    assert bank.retrieve(both, avoid=torch.tensor([1.0, 0, 0])).attribution["category"] == "rain"  # no dog
    assert bank.find("c2") == 2
    with pytest.raises(KeyError, match="known clips"):
        bank.find("zzz")
    assert np.asarray(bank.retimed(0, [1], 6).shape).tolist() == [2, 2, 6]


def test_faded_target_silences_an_event_reference_but_not_an_ambience():
    from models.foley_mini.reference import ReferenceBank

    entries = [{"clip_id": f"c{i}", "package": "p", "source_file": f"f{i}", "author": "a", "licence": "CC0-1.0",
                "caption": "x", "category": "x", "is_ambience": amb, "valid": 8, "onsets": [0]}
               for i, amb in enumerate((False, True))]
    bank = ReferenceBank(entries=entries, latent_channels=1, latent_height=1, frames=8, text_dim=3)
    with torch.no_grad():
        bank.latents.fill_(3.0)
        bank.silence.fill_(-1.0)
    sustain = np.array([1.0, 1.0, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0])  # an impact that fades out
    event = bank.retimed(0, [0], 8, sustain=sustain)[0, 0]
    assert torch.equal(event[:3], torch.full((3,), 3.0))  # while it rings: the recording
    assert -1.0 < float(event[3]) < 3.0  # fading
    assert event[4:].eq(-1.0).all()  # faded: silence
    assert bank.retimed(1, [0], 8, sustain=sustain)[0, 0].eq(3.0).all()  # an ambience plays on


def test_vocoder_scales_a_loud_spectrogram_down_instead_of_clipping():
    from models.foley_mini.vocoder import GriffinLimVocoder

    voc = GriffinLimVocoder(n_iter=4)
    loud = torch.full((1, 64, 40), 4.0)  # far above full scale
    quiet = torch.full((1, 64, 40), -4.0)
    audio = voc(loud)
    assert 0.9 < float(audio.abs().max()) <= 0.99 + 1e-6
    assert float((audio.abs() >= 0.999).float().mean()) == 0.0  # no sample at full scale
    q = voc(quiet)
    assert float(q.abs().max()) < 0.5  # quiet audio keeps its level
