"""The training data cache: what is read back is what was computed."""

from __future__ import annotations

import numpy as np

from tests.synth_corpus import make_corpus


def test_cached_log_mels_read_back_exactly(tmp_path):
    """A cache written from transposed (Fortran-ordered) arrays read back with time and frequency interleaved."""
    from models.foley_mini.audio import log_mel, read_audio
    from models.foley_mini.data import load_corpus, load_mels

    corpus = load_corpus(make_corpus(tmp_path / "corpus", clips_per_category=2))
    first = load_mels(corpus, tmp_path / "cache")  # computed, then written
    again = load_mels(corpus, tmp_path / "cache")  # read from the cache
    assert list((tmp_path / "cache").glob("mels-*.safetensors"))
    for row in corpus.clips.itertuples():
        fresh = log_mel(read_audio(row.path)).astype(np.float16)
        cached = again[str(row.clip_id)]
        assert cached.shape == fresh.shape and first[str(row.clip_id)].shape == fresh.shape
        np.testing.assert_array_equal(cached, fresh)
