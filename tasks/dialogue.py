"""Dialogue: transcripts in, spoken lines fitted to their speaking intervals, mixed over foley.

    lines = read_srt(film_transcript(video))                 # or shot_dialogue(override.dialogue, duration)
    shot = lines_in(lines, shot_start, shot_end)            # shot-relative times
    placements = place_lines(shot, speaking_intervals, duration)
    mix, speech = mix_dialogue(foley, sr, placements)       # foley ducked under the speech

A line is synthesized (``tasks.tts``) at an espeak-ng rate that nearly fits its interval, then
time-stretched without changing its pitch (WSOLA, audiotsm) for the rest. A line is never cut
off: when it would need to go faster than ``max_speedup``, it runs past its interval instead,
and the ``Placement`` says by how much.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tasks import tts


class DialogueError(ValueError):
    """A transcript cannot be read or placed; the message names the file and line and what to fix."""


@dataclass(frozen=True)
class DialogueLine:
    start: float              # seconds in the film (or in the shot, after ``lines_in``)
    end: float
    text: str
    speaker: str | None = None
    voice: str | None = None  # a tasks.tts voice name; None is the default voice


@dataclass(frozen=True)
class Placement:
    line: DialogueLine
    interval: tuple[float, float]  # where the line was meant to go (seconds)
    start: float                   # where it is placed
    end: float
    wave: np.ndarray               # float32 mono at ``sr``, exactly (end - start) * sr samples long
    sr: int
    speed: float                   # speaking-rate factor over the voice's natural rate (>1 is faster)
    overrun: float                 # seconds past ``interval[1]`` (0 when it fits)

    @property
    def fits(self) -> bool:
        return self.overrun <= 1e-3


# --- transcripts in -------------------------------------------------------------------------------

# "[Mary] text", "MARY: text", "DR. JONES: text", and "Mary: text" when Mary is in the voice mapping.
_BRACKET = re.compile(r"^\s*[-\u2013]?\s*\[([^\]]{1,40})\]\s*(.*)$", re.S)
_COLON = re.compile(r"^\s*[-\u2013]?\s*([^\W\d_][\w .'\-]{0,39}?)\s*:\s+(.*)$", re.S)
_TAGS = re.compile(r"<[^>]+>|\{\\[^}]*\}")  # <i>, <font ...>, {\an8}


def split_speaker(text: str, known: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """``(speaker, words)`` from one line: a leading ``[NAME]`` tag, an all-capitals ``NAME:``, or
    ``Name:`` when ``Name`` is a key of ``known`` (so "Look: he is here" keeps its words)."""
    m = _BRACKET.match(text)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    m = _COLON.match(text)
    if m:
        name = m.group(1).strip()
        if name.upper() == name or (known and name in known):
            return name, m.group(2).strip()
    return None, text.strip().lstrip("-\u2013 ").strip()


def _voice_for(speaker: str | None, voices: Mapping[str, str] | None, default: str | None = None) -> str | None:
    if not voices or speaker is None:
        return default
    for key in (speaker, speaker.upper(), speaker.title()):
        if key in voices:
            return voices[key]
    lowered = {k.lower(): v for k, v in voices.items()}
    return lowered.get(speaker.lower(), default)


def _spread(start: float, end: float, parts: list[tuple[str | None, str]], voices, default_voice) -> list[DialogueLine]:
    """Lines sharing [start, end], each a share proportional to its word count."""
    weights = np.array([max(1, len(words.split())) for _, words in parts], float)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [DialogueLine(float(edges[i]), float(edges[i + 1]), words, speaker, _voice_for(speaker, voices, default_voice))
            for i, (speaker, words) in enumerate(parts)]


def read_srt(path: str | Path, voices: Mapping[str, str] | None = None) -> list[DialogueLine]:
    """The dialogue lines of an SRT file, in time order.

    A subtitle whose text lines carry different speakers ("- [MARY] Hello" / "- [JOHN] Hi") becomes
    one line per speaker, sharing the subtitle's time by word count; otherwise its text lines are
    joined. Formatting tags (``<i>``) are dropped; subtitles with no words are skipped.

    Arguments:
        path: the ``.srt`` file (UTF-8).
        voices: optional speaker name -> tts voice name (matched as written, in capitals, or
            ignoring case); a key ``"*"`` is the voice for everyone else.

    Raises:
        DialogueError: missing file, not UTF-8, malformed SRT (with the line number), or a
            subtitle that ends before it starts.
    """
    import srt

    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DialogueError(f"{path}: no such SRT file") from None
    except UnicodeDecodeError:
        raise DialogueError(f"{path}: not UTF-8 text; save the subtitles as UTF-8") from None
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    default_voice = voices.get("*") if voices else None
    try:
        subtitles = list(srt.parse(content))
    except srt.SRTParseError as exc:
        line = content.count("\n", 0, exc.expected_start) + 1
        bad = content[exc.expected_start:exc.actual_start].strip().splitlines()
        got = f" ({bad[0][:60]!r})" if bad else ""
        raise DialogueError(f"{path}:{line}: not a subtitle block{got}; each block is an index line, "
                            "'HH:MM:SS,mmm --> HH:MM:SS,mmm', text lines, then a blank line") from None
    except srt.TimestampParseError as exc:
        raise DialogueError(f"{path}: bad timestamp ({exc}); write times as HH:MM:SS,mmm") from None
    out: list[DialogueLine] = []
    for sub in subtitles:
        start, end = sub.start.total_seconds(), sub.end.total_seconds()
        if end <= start:
            line = _line_of(content, sub)
            raise DialogueError(f"{path}:{line}: subtitle {sub.index} ends ({sub.end}) before it starts ({sub.start}); "
                                "fix its timestamps")
        rows = [r for r in (_TAGS.sub("", r).strip() for r in sub.content.split("\n")) if r]
        parts = [split_speaker(r, voices) for r in rows]
        parts = [(s, w) for s, w in parts if w]
        if not parts:
            continue
        if len(parts) > 1 and any(s is not None for s, _ in parts[1:]):
            out.extend(_spread(start, end, parts, voices, default_voice))
        else:
            speaker = parts[0][0]
            out.append(DialogueLine(start, end, " ".join(w for _, w in parts), speaker,
                                    _voice_for(speaker, voices, default_voice)))
    return sorted(out, key=lambda ln: (ln.start, ln.end))


def _line_of(content: str, sub) -> int:
    m = re.search(rf"(?m)^\s*{sub.index}\s*$", content)
    return content.count("\n", 0, m.start()) + 1 if m else 1


def film_transcript(video_path: str | Path) -> Path | None:
    """The SRT beside a film (``<stem>.srt``, any case of the suffix), or None."""
    video = Path(video_path)
    exact = video.with_suffix(".srt")
    if exact.is_file():
        return exact
    if video.parent.is_dir():
        for p in sorted(video.parent.iterdir()):
            if p.stem == video.stem and p.suffix.lower() == ".srt" and p.is_file():
                return p
    return None


def shot_dialogue(cell: str | None, duration: float, voice: str | None = None) -> list[DialogueLine]:
    """Lines from a shot-overrides ``dialogue`` cell (``"MARY: Hello | JOHN: Go away"``), spread over
    the shot (shot-relative times), each a share of ``duration`` proportional to its words."""
    parts = [split_speaker(p) for p in (cell or "").split("|") if p.strip()]
    parts = [(s, w) for s, w in parts if w]
    if not parts:
        return []
    if duration <= 0:
        raise DialogueError(f"shot duration must be positive, got {duration}")
    return _spread(0.0, float(duration), parts, None, voice)


def lines_in(lines: Sequence[DialogueLine], start: float, end: float) -> list[DialogueLine]:
    """The lines of a shot [start, end) in film seconds, with shot-relative times.

    Each line belongs to the shot holding its midpoint, so a line across a cut is spoken once;
    its times are clipped to the shot.
    """
    out = []
    for ln in lines:
        mid = 0.5 * (ln.start + ln.end)
        if start <= mid < end:
            out.append(replace(ln, start=max(0.0, ln.start - start), end=min(end - start, ln.end - start)))
    return out


# --- fitting ---------------------------------------------------------------------------------------

SILENCE_DB = -45.0   # relative to the line's peak: what counts as leading/trailing silence
MAX_RATE_SPEEDUP = 1.3   # how much faster espeak-ng itself may speak before stretching takes over
MAX_RATE_SLOWDOWN = 0.85


def trim_silence(wave: np.ndarray, sr: int, *, margin: float = 0.02) -> np.ndarray:
    """``wave`` without leading and trailing silence (below ``SILENCE_DB`` of its peak), keeping
    ``margin`` seconds either side."""
    if wave.size == 0:
        return wave
    peak = float(np.max(np.abs(wave)))
    if peak == 0:
        return wave[:0]
    loud = np.flatnonzero(np.abs(wave) > peak * 10 ** (SILENCE_DB / 20))
    pad = int(margin * sr)
    return wave[max(0, loud[0] - pad): min(len(wave), loud[-1] + 1 + pad)]


def time_stretch(wave: np.ndarray, sr: int, speed: float) -> np.ndarray:
    """``wave`` played ``speed`` times faster at the same pitch (WSOLA, 32 ms frames)."""
    if abs(speed - 1.0) < 1e-3:
        return wave.astype(np.float32)
    from audiotsm import wsola
    from audiotsm.io.array import ArrayReader, ArrayWriter

    frame = 1 << int(round(np.log2(0.032 * sr)))  # 512 at 16 kHz
    reader, writer = ArrayReader(wave.astype(np.float32)[np.newaxis, :]), ArrayWriter(channels=1)
    wsola(channels=1, speed=float(speed), frame_length=frame).run(reader, writer)
    return writer.data[0].astype(np.float32)


def fit_line(wave: np.ndarray, sr: int, start: float, end: float, *, max_speedup: float = 1.5,
             limit: float | None = None) -> tuple[np.ndarray, float, float, float]:
    """Fit a spoken line into [start, end] without changing its pitch, never cutting it off.

    A line longer than the interval is sped up (WSOLA time-stretch) up to ``max_speedup``; beyond
    that it keeps that speed and runs past ``end``. A shorter line is not slowed, it starts at
    ``start``. When ``limit`` (the end of the shot) is given, a line that would run past it starts
    earlier (not before 0), and one longer than the whole of [0, limit] even at ``max_speedup`` is
    sped up further to fit there: no word is lost either way.

    Returns:
        ``(wave, start, end, speed)``: the fitted samples, where they go (seconds; ``end - start``
        is their exact length) and the stretch factor applied (1.0 = none).
    """
    if end <= start:
        raise DialogueError(f"speaking interval [{start:.3f}, {end:.3f}] s is empty; give end > start")
    wave = trim_silence(np.asarray(wave, np.float32), sr)
    n, target = len(wave), int(round((end - start) * sr))
    speed = 1.0
    if n > target:
        speed = min(n / target, max_speedup)
        if limit is not None and n / speed > limit * sr:
            speed = n / (limit * sr)
    out = time_stretch(wave, sr, speed) if speed > 1.0 else wave
    if speed > 1.0 and len(out) > target and n / speed <= target + 1:
        out = out[:target] if np.all(np.abs(out[target:]) < 1e-4) else out  # WSOLA's frame rounding
    length = len(out) / sr
    placed = start
    if limit is not None and placed + length > limit:
        placed = max(0.0, limit - length)
    return out.astype(np.float32), placed, placed + length, speed


# --- placement -------------------------------------------------------------------------------------

def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _targets(lines: Sequence[DialogueLine], intervals: Sequence[tuple[float, float]] | None) -> list[tuple[float, float]]:
    """Each line's target interval: the speaking interval it overlaps most (shared in order, by
    word count, with the other lines given the same interval), else its own times."""
    if not intervals:
        return [(ln.start, ln.end) for ln in lines]
    choice: list[int | None] = []
    for ln in lines:
        overlaps = [_overlap((ln.start, ln.end), iv) for iv in intervals]
        best = int(np.argmax(overlaps))
        choice.append(best if overlaps[best] > 0 else None)
    targets = [(ln.start, ln.end) for ln in lines]
    for k, (a, b) in enumerate(intervals):
        members = [i for i, c in enumerate(choice) if c == k]
        if not members:
            continue
        words = np.array([max(1, len(lines[i].text.split())) for i in members], float)
        edges = a + (b - a) * np.concatenate([[0.0], np.cumsum(words) / words.sum()])
        for j, i in enumerate(members):
            targets[i] = (float(edges[j]), float(edges[j + 1]))
    return targets


def place_lines(lines: Sequence[DialogueLine], speaking_intervals: list[tuple[float, float]] | None, duration: float,
                *, sr: int = 16000, max_speedup: float = 1.5,
                synth: Callable[..., np.ndarray] | None = None) -> list[Placement]:
    """Speak each line and put it where it is said.

    Arguments:
        lines: shot-relative lines (``lines_in`` / ``shot_dialogue``).
        speaking_intervals: shot-relative (start, end) seconds where someone is seen speaking, or
            None / empty to use each line's own times.
        duration: the shot's length in seconds; nothing is placed past it.
        sr: sample rate of the speech.
        max_speedup: fastest a line may be made (espeak-ng's rate times the stretch) before it is
            allowed to overrun its interval.
        synth: ``tasks.tts.synthesize`` or a stand-in with the same signature.

    Returns:
        One ``Placement`` per line, in the order given.

    Raises:
        DialogueError: a non-positive duration. tts.TTSError: the voice's engine is missing.
    """
    if duration <= 0:
        raise DialogueError(f"shot duration must be positive, got {duration}")
    synth = synth or tts.synthesize
    out = []
    for ln, (a, b) in zip(lines, _targets(lines, speaking_intervals)):
        a, b = max(0.0, min(a, duration)), max(0.0, min(b, duration))
        if b - a < 0.05:  # a line at the very end of the shot: give it room before the end
            a, b = max(0.0, b - 0.05), max(b, min(duration, a + 0.05))
        nominal = tts.resolve_voice(ln.voice).nominal_wpm
        natural = trim_silence(synth(ln.text, ln.voice, sr=sr), sr)
        need = (len(natural) / sr) / (b - a)  # >1: too long for the interval at the natural rate
        rate_factor = float(np.clip(need, MAX_RATE_SLOWDOWN, min(MAX_RATE_SPEEDUP, max_speedup)))
        if abs(rate_factor - 1.0) > 0.03:
            wave = synth(ln.text, ln.voice, rate_wpm=int(round(nominal * rate_factor)), sr=sr)
            rate_factor = len(natural) / max(1, len(trim_silence(wave, sr)))  # what the engine achieved
        else:
            wave, rate_factor = natural, 1.0
        fitted, start, end, stretch = fit_line(wave, sr, a, b, max_speedup=max(1.0, max_speedup / rate_factor),
                                               limit=duration)
        out.append(Placement(line=ln, interval=(a, b), start=start, end=end, wave=fitted, sr=sr,
                             speed=rate_factor * stretch, overrun=max(0.0, end - b)))
    return out


# --- mixing ----------------------------------------------------------------------------------------

def _gain_curve(mask: np.ndarray, sr: int, duck_db: float, attack: float, release: float) -> np.ndarray:
    """A smooth side-chain gain: 1 where ``mask`` is False, ``duck_db`` where True, moving there with
    one-pole attack/release time constants, computed at 1 ms control rate."""
    hop = max(1, sr // 1000)
    blocks = np.add.reduceat(mask.astype(np.float32), np.arange(0, len(mask), hop)) > 0
    low = 10 ** (duck_db / 20)
    a_att, a_rel = np.exp(-hop / (attack * sr)), np.exp(-hop / (release * sr))
    g, out = 1.0, np.empty(len(blocks), np.float32)
    for i, on in enumerate(blocks):
        target = low if on else 1.0
        coef = a_att if target < g else a_rel
        g = target + coef * (g - target)
        out[i] = g
    return np.interp(np.arange(len(mask)), np.arange(len(blocks)) * hop + hop / 2, out).astype(np.float32)


def mix_dialogue(foley: np.ndarray, sr: int, placements: Sequence[Placement], *, duck_db: float = -12.0,
                 attack: float = 0.03, release: float = 0.25, speech_db: float = -20.0,
                 speech_over_foley_db: float = 0.0, peak: float = 0.98) -> tuple[np.ndarray, np.ndarray]:
    """Lay the placed lines over the foley, ducking the foley under them.

    The foley's gain falls to ``duck_db`` while a line is placed (starting ``attack`` early, so it is
    down when the first word comes) and recovers over ``release`` after it. Each line is brought to
    an RMS (over its voiced part) of ``speech_over_foley_db`` above the foley's own RMS, and never
    below ``speech_db`` dBFS, so it stands ``-duck_db`` dB or more above the ducked foley. When the sum would exceed ``peak``, the whole mix
    (speech included) is scaled down: nothing is clipped.

    Arguments:
        foley: mono float samples at ``sr`` (the shot's or film's generated sound).
        placements: from ``place_lines`` at the same ``sr``, times relative to ``foley``'s start.

    Returns:
        ``(mix, speech)``: both float32, as long as ``foley``; ``speech`` is the speech part of the
        mix (so ``mix - speech`` is the ducked, scaled foley).

    Raises:
        DialogueError: a placement at another sample rate.
    """
    foley = np.asarray(foley, np.float32)
    if foley.ndim != 1:
        raise DialogueError(f"foley must be mono (one dimension), got shape {foley.shape}; mix down first")
    n = len(foley)
    speech = np.zeros(n, np.float32)
    mask = np.zeros(n, bool)
    lead = int(round(attack * sr))
    foley_rms = float(np.sqrt(np.mean(foley.astype(np.float64) ** 2))) if n else 0.0
    level = max(10 ** (speech_db / 20), foley_rms * 10 ** (speech_over_foley_db / 20))
    for p in placements:
        if p.sr != sr:
            raise DialogueError(f"placement of {p.line.text[:30]!r} is at {p.sr} Hz, foley at {sr} Hz; place at {sr} Hz")
        w = p.wave
        voiced = np.abs(w) > np.max(np.abs(w), initial=0.0) * 10 ** (SILENCE_DB / 20)
        rms = float(np.sqrt(np.mean(w[voiced] ** 2))) if voiced.any() else 0.0
        if rms > 0:
            w = w * (level / rms)
        i = int(round(p.start * sr))
        j = min(n, i + len(w))
        if j > i:
            speech[i:j] += w[: j - i]
            mask[max(0, i - lead):j] = True
    gain = _gain_curve(mask, sr, duck_db, attack, release) if mask.any() else np.ones(n, np.float32)
    mix = foley * gain + speech
    top = float(np.max(np.abs(mix), initial=0.0))
    if top > peak:
        scale = peak / top
        mix, speech = mix * scale, speech * scale
    return mix.astype(np.float32), speech.astype(np.float32)
