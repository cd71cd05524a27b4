"""Intelligibility of the offline TTS voices: word error rate of an offline recogniser.

Each installed voice of ``tasks.tts.VOICES`` speaks the same 40 everyday film-dialogue
sentences (held here, never tuned on); pocketsphinx 5 (its bundled en-us acoustic model and
general en-us language model, no network) transcribes each one at 16 kHz; jiwer scores the
word error rate against the sentence, after lower-casing and removing punctuation. Speed is the
real-time factor of synthesis (seconds of compute per second of speech). The anchor is
``espeak-ng:en-us`` in the same run: each voice's WER is also given as a ratio to it.

    .venv/bin/python bench/bench_tts.py [--voices espeak-ng:en-us,festival:kal_diphone] [--limit N]

Prints a table and writes bench/out/tts.json. A recogniser's WER is a proxy for a listener's:
it rewards voices close to the speech the recogniser was trained on (read American English).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.tts import DEFAULT_VOICE, VOICES, available_voices, synthesize  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
ANCHOR = "espeak-ng:en-us"
SR = 16000

SENTENCES = [
    "Where have you been all night?",
    "I told you to wait by the door.",
    "The train leaves in ten minutes.",
    "Please close the window, it is cold.",
    "Have you seen my hat anywhere?",
    "We should go home before it rains.",
    "Somebody is knocking at the door.",
    "Give me the letter and go away.",
    "I have never seen him so angry.",
    "Hurry up or we will miss the boat.",
    "The doctor will see you now.",
    "Keep your voice down, the baby is asleep.",
    "Tell your father I will be late.",
    "What time does the show begin?",
    "I found the money under the bed.",
    "Do not let the dog out of the house.",
    "She wants to marry a sailor.",
    "Put your hands up and turn around.",
    "There is a fire in the kitchen.",
    "Can you help me carry this box?",
    "My brother works at the bank.",
    "We danced until the music stopped.",
    "Stop that man, he stole my watch!",
    "The police are coming up the stairs.",
    "I am sorry, I did not mean it.",
    "Bring me a cup of hot coffee.",
    "You look beautiful in that dress.",
    "Nobody leaves this room until I say so.",
    "The horse ran away from the farm.",
    "Let us drink to the happy couple.",
    "I will meet you at the station tomorrow.",
    "Why are you always so late?",
    "This is the best day of my life.",
    "Get out of my shop and never come back.",
    "The captain wants to see you on deck.",
    "Listen, can you hear the bells?",
    "I lost my key on the way home.",
    "Mother is waiting for us at the church.",
    "Turn off the light and go to sleep.",
    "Thank you for the lovely dinner.",
]


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]+", " ", text.lower()).split())


def recogniser():
    from pocketsphinx import Decoder

    return Decoder(samprate=SR, loglevel="FATAL")  # the bundled en-us model; nothing is downloaded


def recognise(decoder, wave: np.ndarray) -> str:
    # A fixed noise floor at -60 dBFS (seeded): pocketsphinx's noise tracking misreads the exact
    # digital silence between espeak-ng's words (WER 0.9 -> 0.4 on a trial), and a recording has one.
    floor = 1e-3 * np.random.default_rng(0).standard_normal(len(wave)).astype(np.float32)
    pcm = (np.clip(wave + floor, -1, 1) * 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def bench_voice(voice: str, sentences: list[str], decoder) -> dict:
    import jiwer

    refs, hyps, synth_s, audio_s = [], [], 0.0, 0.0
    for sentence in sentences:
        t0 = time.perf_counter()
        wave = synthesize(sentence, voice, sr=SR)
        synth_s += time.perf_counter() - t0
        audio_s += len(wave) / SR
        # 0.3 s of silence either side: the recogniser's voice-activity detection needs a lead-in
        pad = np.zeros(int(0.3 * SR), np.float32)
        refs.append(normalise(sentence))
        hyps.append(normalise(recognise(decoder, np.concatenate([pad, wave, pad]))))
    out = jiwer.process_words(refs, hyps)
    return {
        "voice": voice,
        "description": VOICES[voice].description if voice in VOICES else voice,
        "sentences": len(sentences),
        "words": sum(len(r.split()) for r in refs),
        "wer": out.wer,
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "sentences_exact": sum(r == h for r, h in zip(refs, hyps)),
        "rtf": synth_s / audio_s,
        "speech_s_per_sentence": audio_s / len(sentences),
        "examples": [{"ref": r, "hyp": h} for r, h in list(zip(refs, hyps))[:5]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", help="comma-separated voice names (default every installed voice of VOICES)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    args = ap.parse_args(argv)
    installed = available_voices()
    voices = args.voices.split(",") if args.voices else installed
    missing = sorted(set(VOICES) - set(installed))
    sentences = SENTENCES[: args.limit] if args.limit else SENTENCES
    decoder = recogniser()
    rows = [bench_voice(v, sentences, decoder) for v in voices]
    anchor = next((r for r in rows if r["voice"] == ANCHOR), rows[0])
    for r in rows:
        r["wer_vs_anchor"] = r["wer"] / anchor["wer"] if anchor["wer"] else float("nan")
    best = min(rows, key=lambda r: r["wer"])
    best_espeak = min((r for r in rows if r["voice"].startswith("espeak-ng:")), key=lambda r: r["wer"], default=None)

    print(f"recogniser: pocketsphinx en-us, {len(sentences)} sentences, "
          f"{rows[0]['words']} words; anchor {anchor['voice']}")
    print(f"{'voice':34s} {'WER':>6s} {'x anchor':>8s} {'S/D/I':>10s} {'exact':>6s} {'RTF':>7s} {'s/line':>6s}")
    for r in sorted(rows, key=lambda r: r["wer"]):
        sdi = f"{r['substitutions']}/{r['deletions']}/{r['insertions']}"
        print(f"{r['voice']:34s} {r['wer']:6.3f} {r['wer_vs_anchor']:8.2f} {sdi:>10s} "
              f"{r['sentences_exact']:3d}/{r['sentences']:<2d} {r['rtf']:7.4f} {r['speech_s_per_sentence']:6.2f}")
    print(f"lowest WER: {best['voice']}" + (f"; lowest among espeak-ng: {best_espeak['voice']}" if best_espeak else ""))
    if best["voice"] != DEFAULT_VOICE:
        print(f"note: tasks.tts.DEFAULT_VOICE is {DEFAULT_VOICE}; the lowest WER here is {best['voice']}")
    if missing:
        print(f"not installed, not measured: {', '.join(missing)}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tts.json").write_text(json.dumps({
        "recogniser": "pocketsphinx 5 en-us (bundled model)", "scorer": "jiwer WER after lower-casing, no punctuation",
        "anchor": anchor["voice"], "best": best["voice"],
        "best_espeak": best_espeak["voice"] if best_espeak else None,
        "not_installed": missing, "results": rows,
    }, indent=2))
    print(f"wrote {OUT / 'tts.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
