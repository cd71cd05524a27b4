"""Dialogue: transcripts in, lines fitted to their speaking intervals, mixed over ducked foley."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from foleyflow.manifest import ManifestError, load_collection
from tasks import dialogue as dl
from tasks.tts import synthesize

SR = 16000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")

SRT = """1
00:00:01,000 --> 00:00:03,500
MARY: Where have you been all night?

2
00:00:04,000 --> 00:00:06,000
[Old John] <i>At the station,</i>
waiting for you.

3
00:00:07,000 --> 00:00:09,000
- [MARY] You liar.
- [JOHN] It is the truth!

4
00:00:10,000 --> 00:00:11,000
Look: the train is here.
"""


def f0(wave: np.ndarray, sr: int = SR) -> float:
    """Median fundamental frequency (Hz) over voiced 40 ms frames, by normalised autocorrelation."""
    n, hop = int(0.04 * sr), int(0.01 * sr)
    lo, hi = int(sr / 400), int(sr / 60)
    peak = np.abs(wave).max()
    values = []
    for i in range(0, len(wave) - n, hop):
        x = wave[i:i + n] - wave[i:i + n].mean()
        if np.sqrt((x ** 2).mean()) < 0.1 * peak:
            continue
        ac = np.correlate(x, x, "full")[n - 1:]
        ac = ac / (ac[0] + 1e-12)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.6:
            values.append(sr / lag)
    assert len(values) > 10, "too few voiced frames to measure pitch"
    return float(np.median(values))


def envelope(wave: np.ndarray, bins: int) -> np.ndarray:
    parts = np.array_split(wave, bins)
    return np.array([np.sqrt((p ** 2).mean()) for p in parts])


# --- transcripts ----------------------------------------------------------------------------------

def test_srt_gives_lines_with_speakers_and_voices(tmp_path):
    path = tmp_path / "film.srt"
    path.write_text(SRT, encoding="utf-8")
    lines = dl.read_srt(path, voices={"MARY": "espeak-ng:en-us+f3", "*": "espeak-ng:en"})
    assert [(ln.speaker, ln.text) for ln in lines] == [
        ("MARY", "Where have you been all night?"),
        ("Old John", "At the station, waiting for you."),
        ("MARY", "You liar."),
        ("JOHN", "It is the truth!"),
        (None, "Look: the train is here."),  # "Look" is not a speaker
    ]
    assert (lines[0].start, lines[0].end) == (1.0, 3.5)
    assert lines[0].voice == "espeak-ng:en-us+f3" and lines[1].voice == "espeak-ng:en"
    # two speakers in one subtitle share its time, in order, by their words
    assert lines[2].start == 7.0 and lines[2].end == lines[3].start and lines[3].end == 9.0
    assert lines[2].voice == "espeak-ng:en-us+f3"


@pytest.mark.parametrize("content, message", [
    ("1\n00:00:01,000 --> 00:00:02,000\nHello.\n\n2\n00:00:03,000 -> 00:00:04,000\nBye.\n",
     r"film.srt:5: not a subtitle block.*HH:MM:SS,mmm --> HH:MM:SS,mmm"),
    ("1\n00:00:05,000 --> 00:00:02,000\nHello.\n", r"film.srt:1: subtitle 1 ends .* before it starts"),
], ids=["bad-arrow", "ends-before-start"])
def test_bad_srt_fails_with_one_line_saying_where_and_what_to_fix(tmp_path, content, message):
    path = tmp_path / "film.srt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(dl.DialogueError, match=message) as err:
        dl.read_srt(path)
    assert "\n" not in str(err.value)


def test_missing_or_non_utf8_srt(tmp_path):
    with pytest.raises(dl.DialogueError, match="no such SRT file"):
        dl.read_srt(tmp_path / "nope.srt")
    (tmp_path / "latin.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\nOl\xe9\n".encode("latin-1"))
    with pytest.raises(dl.DialogueError, match="not UTF-8"):
        dl.read_srt(tmp_path / "latin.srt")


def test_transcript_beside_the_film(tmp_path):
    film = tmp_path / "smithy.mp4"
    film.write_bytes(b"x")
    assert dl.film_transcript(film) is None
    (tmp_path / "smithy.SRT").write_text(SRT)
    assert dl.film_transcript(film) == tmp_path / "smithy.SRT"


def test_lines_in_a_shot_are_shot_relative_and_spoken_once():
    lines = [dl.DialogueLine(1.0, 3.0, "a"), dl.DialogueLine(4.5, 6.5, "across the cut"), dl.DialogueLine(8, 9, "c")]
    first, second = dl.lines_in(lines, 0.0, 5.0), dl.lines_in(lines, 5.0, 10.0)
    assert [ln.text for ln in first] == ["a"]
    assert [(ln.text, ln.start, ln.end) for ln in second] == [("across the cut", 0.0, 1.5), ("c", 3.0, 4.0)]


def test_manifest_dialogue_column_parses(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,title\nreels/one.mp4,The Smithy\n")
    (tmp_path / "shots.csv").write_text(
        "film,shot,description,negative_prompt,dialogue,voice\n"
        "The Smithy,0,anvil,,MARY: Get out of my shop! | JOHN: Not without my hat.,espeak-ng:en\n"
        "The Smithy,1,door,,,\n")
    shots = load_collection(manifest).films[0].shot_overrides
    assert shots[0].dialogue_lines == ("MARY: Get out of my shop!", "JOHN: Not without my hat.")
    assert shots[0].voice == "espeak-ng:en" and shots[0].description == "anvil"
    assert shots[1].dialogue is None and shots[1].voice is None and shots[1].dialogue_lines == ()
    lines = dl.shot_dialogue(shots[0].dialogue, 6.0, voice=shots[0].voice)
    assert [(ln.speaker, ln.text, ln.voice) for ln in lines] == [
        ("MARY", "Get out of my shop!", "espeak-ng:en"), ("JOHN", "Not without my hat.", "espeak-ng:en")]
    assert lines[0].start == 0.0 and lines[0].end == lines[1].start and lines[1].end == 6.0


def test_manifest_empty_dialogue_line_names_the_row(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\nf.mp4\n")
    (tmp_path / "shots.csv").write_text("film,shot,dialogue\nf.mp4,0,Hello || Bye\n")
    with pytest.raises(ManifestError, match=r"shots.csv:2: empty dialogue line"):
        load_collection(manifest)


# --- fitting --------------------------------------------------------------------------------------

@needs_espeak
def test_fitted_line_lies_within_its_interval_and_keeps_its_pitch():
    wave = dl.trim_silence(synthesize("Where have you been all night, my dear?"), SR)
    natural = len(wave) / SR
    start, end = 2.0, 2.0 + natural / 1.35  # needs 1.35x faster
    fitted, a, b, speed = dl.fit_line(wave, SR, start, end)
    assert start - 1e-6 <= a and b <= end + 1e-3
    assert speed == pytest.approx(1.35, rel=0.01)
    assert abs(f0(fitted) / f0(wave) - 1) < 0.06
    # the measure would see a pitch change: plain resampling to the same length raises it by 1.35x
    resampled = np.interp(np.arange(len(fitted)) * speed, np.arange(len(wave)), wave).astype(np.float32)
    assert f0(resampled) / f0(wave) > 1.2


@needs_espeak
def test_too_long_line_overruns_its_interval_but_is_not_cut_off():
    text = "I told you to wait by the door, and you never came back to me all night long."
    natural = dl.trim_silence(synthesize(text), SR)
    [p] = dl.place_lines([dl.DialogueLine(1.0, 1.8, text)], None, 20.0)
    assert p.interval == (1.0, 1.8)
    assert not p.fits and p.overrun > 1.0 and p.start == 1.0
    assert p.speed == pytest.approx(1.5, rel=0.05)  # no faster than the limit
    assert len(p.wave) / SR == pytest.approx(len(natural) / SR / p.speed, rel=0.05)
    ref, got = envelope(natural, 20), envelope(p.wave, 20)
    assert np.all(got[ref > 0.2 * ref.max()] > 0.05 * ref.max()), "a word lost its energy"
    assert got[-3:].max() > 0.2 * got.max(), "the last word is missing"  # espeak-ng's faster rate shortens pauses,
    # so the envelopes are compared bin by bin only where the natural line is voiced
    _, speech = dl.mix_dialogue(np.zeros(20 * SR, np.float32), SR, [p])
    tail = speech[int((p.end - 0.4) * SR):int(p.end * SR)]
    assert np.abs(tail).max() > 0.01, "the end of the line is missing from the mix"


@needs_espeak
def test_lines_go_to_the_speaking_interval_they_overlap_most():
    lines = [dl.DialogueLine(0.5, 1.5, "Good morning."), dl.DialogueLine(4.0, 5.0, "Stop that man!")]
    intervals = [(0.8, 2.6), (3.6, 6.0)]
    first, second = dl.place_lines(lines, intervals, 8.0)
    assert first.interval == (0.8, 2.6) and first.start == 0.8 and first.fits
    assert second.interval == (3.6, 6.0) and second.start == 3.6 and second.fits
    assert 0.75 < first.speed < 1.05  # espeak-ng slows a little rather than leaving a long gap


@needs_espeak
def test_line_at_the_end_of_a_shot_starts_early_rather_than_being_cut():
    text = "Nobody leaves this room until I say so."
    [p] = dl.place_lines([dl.DialogueLine(2.8, 3.0, text)], None, 3.0)
    assert p.end == pytest.approx(3.0, abs=1e-3) and p.start >= 0
    assert len(p.wave) == pytest.approx((p.end - p.start) * SR, abs=1)


# --- mixing ---------------------------------------------------------------------------------------

@needs_espeak
def test_mix_ducks_the_foley_under_speech_and_never_clips():
    rng = np.random.default_rng(0)
    foley = (0.3 * rng.standard_normal(6 * SR)).clip(-0.99, 0.99).astype(np.float32)
    foley[: SR // 2] = 0.99 * np.sign(np.sin(np.arange(SR // 2) / 5))  # a full-scale thump at the start
    [p] = dl.place_lines([dl.DialogueLine(2.0, 4.0, "Get out of my shop and never come back.")], None, 6.0)
    mix, speech = dl.mix_dialogue(foley, SR, [p], duck_db=-12.0)
    assert mix.shape == foley.shape == speech.shape
    assert np.abs(mix).max() <= 0.98 + 1e-6
    ducked = mix - speech
    scale = np.abs(ducked[SR:int(1.5 * SR)]).mean() / np.abs(foley[SR:int(1.5 * SR)]).mean()
    rms = lambda x: np.sqrt(np.mean(x ** 2))  # noqa: E731
    inside = slice(int((p.start + 0.2) * SR), int((p.end - 0.1) * SR))
    outside = slice(int(0.8 * SR), int(1.8 * SR))
    drop = 20 * np.log10(rms(ducked[inside]) / rms(foley[inside]) / (rms(ducked[outside]) / rms(foley[outside])))
    assert drop == pytest.approx(-12.0, abs=1.0)
    assert 0.9 < rms(ducked[outside]) / rms(foley[outside]) / scale < 1.1
    # the gain recovers after the line (release ~250 ms) and moves smoothly
    after = slice(int((p.end + 1.0) * SR), int((p.end + 1.5) * SR))
    assert rms(ducked[after]) / rms(foley[after]) == pytest.approx(rms(ducked[outside]) / rms(foley[outside]), rel=0.05)
    gain = np.abs(ducked[SR:]) / np.maximum(np.abs(foley[SR:]), 1e-3)
    assert np.all(np.isfinite(gain))
    # speech is audible over the ducked foley
    assert rms(speech[inside]) > 2 * rms(ducked[inside])


def test_mix_with_no_lines_is_the_foley():
    foley = np.linspace(-0.5, 0.5, SR, dtype=np.float32)
    mix, speech = dl.mix_dialogue(foley, SR, [])
    assert np.array_equal(mix, foley) and not speech.any()
