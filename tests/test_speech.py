"""tasks.speech: the shipped speech-vad model offline, speech over generated foley, RTTM, selection."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

SR = 16000

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng): no speech to test with")


def _speak(text: str, voice: str = "en-us") -> np.ndarray:
    from models.speech_vad.data import speak

    return speak(text, voice, rate_wpm=160)


@pytest.fixture(scope="module")
def foley() -> np.ndarray:
    """8 s of real generated foley from the shipped generator (not the session's tiny one)."""
    from models.registry import BUILTIN_NAME, get_generator

    out = get_generator(BUILTIN_NAME).generate(timing=None, prompt="footsteps on gravel and a creaking door",
                                               negative_prompt=None, seeds=[7], duration_s=8.0)[0]
    assert out.sr == SR
    return np.asarray(out.waveform, np.float32)


@pytest.fixture(scope="module")
def mixture(foley):
    """Speech from 2.0 s at about +5 dB over the foley; its true intervals."""
    from models.speech_vad.data import active_intervals

    utt = _speak("the carriage is waiting at the station gate, hurry up please", "en-gb+f2")
    utt = utt / np.abs(utt).max() * 0.6
    start = int(2.0 * SR)
    utt = utt[: len(foley) - start]
    speech = np.zeros_like(foley)
    speech[start:start + len(utt)] = utt
    truth = [(2.0 + s, 2.0 + e) for s, e in active_intervals(utt)]
    mask = speech != 0
    bed = foley * (np.sqrt(np.mean(utt ** 2)) / (np.sqrt(np.mean(foley[mask] ** 2)) * 10 ** (5 / 20)))
    mix = speech + bed
    return (mix / max(1.0, np.abs(mix).max() / 0.99)).astype(np.float32), truth


def test_shipped_model_loads_offline():
    from tasks import speech

    model = speech.load_segmentation()
    assert os.environ["PYANNOTE_METRICS_ENABLED"] == "false" and os.environ["HF_HUB_OFFLINE"] == "1"
    assert model.specifications.duration > 0 and model.hparams.sample_rate == SR
    assert speech.load_segmentation(speech.SHIPPED) is model
    assert (speech.SHIPPED / "MODEL_CARD.md").is_file()
    size = (speech.SHIPPED / "pytorch_model.bin").stat().st_size
    assert size < 5_000_000
    params = speech.pipeline_params()
    assert set(params) == {"onset", "offset", "min_duration_on", "min_duration_off"}


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    from tasks import speech

    with pytest.raises(speech.SpeechModelError, match="does not exist.*never fetched from a hub"):
        speech.load_segmentation(tmp_path / "no-such-model")
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin"):
        speech.load_segmentation(tmp_path)  # a directory without a checkpoint
    with pytest.raises(FileNotFoundError):
        speech.speech_check(np.zeros(SR, np.float32), SR, speech_wanted=False, model_path="pyannote/segmentation")


@needs_espeak
def test_speech_over_foley_is_found_near_the_truth(mixture):
    from tasks import speech

    mix, truth = mixture
    check = speech.speech_check(mix, SR, speech_wanted=False, intervals=truth)
    assert check["unwanted_speech"] is True
    t0, t1 = truth[0][0], truth[-1][1]
    assert check["segments"], check
    first, last = check["segments"][0][0], check["segments"][-1][1]
    assert abs(first - t0) < 0.5 and abs(last - t1) < 0.5, (check["segments"], truth)
    assert check["speech_der"] < 0.3, check
    assert 0.3 * (t1 - t0) < check["speech_s"] < 1.5 * (t1 - t0) + 0.5
    # the same track with dialogue wanted: no unwanted speech, the overlap is recorded
    wanted = speech.speech_check(mix, SR, speech_wanted=True, intervals=truth)
    assert wanted["unwanted_speech"] is False and wanted["speech_der"] == check["speech_der"]
    # another sample rate and stereo are accepted
    stereo = np.stack([mix, mix])
    from scipy.signal import resample_poly
    at48 = resample_poly(stereo, 3, 1, axis=1).astype(np.float32)
    again = speech.speech_segments(at48, 48000)
    assert abs(again[0][0] - first) < 0.3


def test_pure_foley_is_not_flagged(foley):
    from tasks import speech

    check = speech.speech_check(foley, SR, speech_wanted=False)
    assert check["unwanted_speech"] is False, check
    assert check["speech_fraction"] < 0.05


def test_negative_prompt_makes_speech_unwanted():
    from tasks.speech import speech_excluded, speech_wanted

    for neg in ("no voices", "no dialogue", "No speech, no music", "without talking", "music, voices",
                "speech", "avoid any narration", "no people talking"):
        assert speech_excluded(neg), neg
    for neg in ("no music", "", None, "traffic noise", "no birds"):
        assert not speech_excluded(neg), neg
    assert speech_wanted("Hello there.", None) and speech_wanted("Hello", "no music")
    assert not speech_wanted("Hello there.", "no voices")
    assert not speech_wanted(None, None) and not speech_wanted("  ", "no music")


def test_rttm_round_trip(tmp_path):
    from pyannote.database.util import load_rttm

    from tasks.speech import write_rttm

    path = write_rttm([(0.5, 1.25), (1.2, 2.0), (3.0, 4.5)], "film-42", tmp_path / "rttm" / "film-42.rttm")
    assert path.is_file() and not list(path.parent.glob(".*partial"))
    ann = load_rttm(str(path))["film-42"]
    segs = [(round(s.start, 3), round(s.end, 3)) for s in ann.get_timeline()]
    assert segs == [(0.5, 2.0), (3.0, 4.5)]
    assert set(ann.labels()) == {"speech"}
    with pytest.raises(ValueError):
        write_rttm([], "has space", tmp_path / "x.rttm")
    empty = write_rttm([], "silent", tmp_path / "silent.rttm")
    assert load_rttm(str(empty)) == {} or len(load_rttm(str(empty)).get("silent", [])) == 0


def test_a_candidate_with_unwanted_speech_loses():
    from tasks.speech import rank_with_speech, select_with_speech, speech_rank_key

    cands = [{"score": 0.95, "speech": {"unwanted_speech": True}},
             {"score": 0.60, "speech": {"unwanted_speech": False}},
             {"score": 0.80, "unwanted_speech": False}]
    assert select_with_speech(cands) == 2
    assert rank_with_speech(cands) == [2, 1, 0]
    assert speech_rank_key(cands[0]["speech"]) == 1 and speech_rank_key(cands[1]["speech"]) == 0
    dialogue = [{"score": 0.5, "speech_der": 0.4, "unwanted_speech": False},
                {"score": 0.5, "speech_der": 0.1, "unwanted_speech": False}]
    assert select_with_speech(dialogue) == 1
    with pytest.raises(ValueError):
        select_with_speech([])


def _default_voice_or_skip() -> str:
    from tasks import tts

    if tts.DEFAULT_VOICE not in tts.available_voices():
        pytest.skip(f"festival voice {tts.DEFAULT_VOICE} is not installed "
                    "(apt-get install festival festvox-us-slt-hts): the default dialogue voice cannot be tested")
    return tts.default_voice()


def test_default_dialogue_voice_over_foley_is_detected(foley):
    """A line spoken by the project's default voice (festival HTS), quiet over generated foley and noise."""
    from models.speech_vad.data import active_intervals
    from tasks import speech
    from tasks.tts import synthesize

    voice = _default_voice_or_skip()
    utt = synthesize("I told you never to come back here after dark, did you not hear me?", voice, sr=SR)
    utt = utt / np.abs(utt).max() * 0.3  # dialogue at 0.3 gain
    start = int(1.5 * SR)
    utt = utt[: len(foley) - start]
    speech_track = np.zeros_like(foley)
    speech_track[start:start + len(utt)] = utt
    voiced = active_intervals(utt)
    t0, t1 = 1.5 + voiced[0][0], 1.5 + voiced[-1][1]
    mask = np.zeros(len(foley), bool)
    mask[int(t0 * SR):int(t1 * SR)] = True
    # generated foley 10 dB under the voice, plus a little broadband noise (at 5 dB under, the shipped
    # espeak-ng-trained model covers only 66% of this line: not yet asserted)
    bed = foley * (np.sqrt(np.mean(speech_track[mask] ** 2)) / (np.sqrt(np.mean(foley[mask] ** 2)) * 10 ** (10 / 20)))
    noise = np.random.default_rng(3).normal(0, 0.003, len(foley)).astype(np.float32)
    mix = (speech_track + bed + noise).astype(np.float32)
    segs = speech.speech_segments(mix, SR)
    covered = sum(max(0.0, min(e, t1) - max(s, t0)) for s, e in segs)
    assert covered >= 0.7 * (t1 - t0), (segs, (t0, t1), covered)
    # and the line on its own, clean
    clean = speech.speech_segments(speech_track + noise * 0.1, SR)
    covered = sum(max(0.0, min(e, t1) - max(s, t0)) for s, e in clean)
    assert covered >= 0.7 * (t1 - t0), (clean, (t0, t1), covered)
