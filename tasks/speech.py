"""Speech check of generated tracks with pyannote.audio (issue items 4 and 5).

A generated foley track must not talk when no dialogue is wanted; with dialogue, the detected speech
should sit on the speaking intervals. Everything runs offline: ``PYANNOTE_METRICS_ENABLED=false`` and
``HF_HUB_OFFLINE=1`` are set (unless already set) before pyannote.audio is imported, and a model is
only ever loaded from a local path, never from a hub.

* :func:`load_segmentation` -- a user-named pyannote checkpoint (file or directory with
  ``pytorch_model.bin``), else the project's own ``models/speech-vad``.
* :func:`speech_segments` -- ``[(start_s, end_s), ...]`` from
  ``pyannote.audio.pipelines.VoiceActivityDetection`` with tuned onset/offset/min durations
  (``config.json`` beside the checkpoint; :data:`DEFAULT_PARAMS` for a checkpoint without one).
* :func:`speech_check` -- the scores recorded for a candidate.
* :func:`speech_excluded` / :func:`speech_wanted` -- what the request says about speech.
* :func:`write_rttm` -- the speech segments of a film as RTTM (atomic write).
* :func:`select_with_speech` / :func:`speech_rank_key` -- how a candidate with unwanted speech loses.

Candidate selection (for the integrator). For each candidate waveform call
``speech_check(wave, sr, speech_wanted=speech_wanted(transcript, negative_prompt), intervals=...)``
and store the dict with the candidate's other scores, e.g. ``{"score": qc_score, "speech": check}``
(or merge the keys into the candidate's dict). Then ``select_with_speech(list_of_dicts)`` returns the
index of the winner: every candidate with ``unwanted_speech`` loses against every candidate
without, whatever its other score; within each group the higher ``score`` wins, ties by the lower
``speech_der`` (when recorded) and then by position. Equivalently, put
``speech_rank_key(check)`` (``0`` clean, ``1`` unwanted speech) first in an ascending sort key.
``speech_der`` (pyannote.metrics detection error rate of detected speech against the speaking
intervals) is a recorded score for dialogue and only a tie-breaker in the selection.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "speech-vad"
CHECKPOINT_NAME = "pytorch_model.bin"
SAMPLE_RATE = 16000
DEFAULT_PARAMS = {"onset": 0.5, "offset": 0.4, "min_duration_on": 0.1, "min_duration_off": 0.1}
MIN_UNWANTED_S = 0.3  # less detected speech than this is not called speech
_PAD = 64  # samples of silence appended: a chunk ending exactly at the last sample crashes pyannote

_lock = threading.Lock()
_models: dict[str, Any] = {}
_pipelines: dict[tuple, Any] = {}


class SpeechModelError(FileNotFoundError):
    """The named segmentation checkpoint does not exist or is not a pyannote checkpoint."""


def _resolve(path: str | os.PathLike | None) -> Path:
    if path is None:
        p = SHIPPED
    else:
        p = Path(path).expanduser()
        if not p.exists():
            raise SpeechModelError(
                f"segmentation checkpoint {str(path)!r} does not exist: name a local pyannote checkpoint "
                f"file or a directory holding {CHECKPOINT_NAME} (models are never fetched from a hub), "
                "or pass None for the shipped models/speech-vad")
    if p.is_dir() and not (p / CHECKPOINT_NAME).is_file():
        raise SpeechModelError(f"{p} holds no {CHECKPOINT_NAME}: not a pyannote.audio model directory")
    return p.resolve()


def load_segmentation(path: str | os.PathLike | None = None):
    """The pyannote.audio segmentation model at ``path`` (file or directory), else ``models/speech-vad``.

    Loaded once per path and kept. Raises :class:`SpeechModelError` (a ``FileNotFoundError``) with a
    clear message when the path is missing or holds no checkpoint.
    """
    p = _resolve(path)
    key = str(p)
    with _lock:
        if key not in _models:
            from pyannote.audio import Model

            model = Model.from_pretrained(key)
            if model is None:
                raise SpeechModelError(f"{p}: pyannote.audio could not load a model from it")
            model.eval()
            _models[key] = model
        return _models[key]


def pipeline_params(path: str | os.PathLike | None = None) -> dict[str, float]:
    """Onset/offset/min durations tuned for the checkpoint (its ``config.json``), else :data:`DEFAULT_PARAMS`."""
    p = _resolve(path)
    cfg = (p if p.is_dir() else p.parent) / "config.json"
    try:
        return dict(json.loads(cfg.read_text())["pipeline"])
    except (OSError, KeyError, ValueError):
        return dict(DEFAULT_PARAMS)


def _pipeline(path, params: dict | None):
    from pyannote.audio.pipelines import VoiceActivityDetection

    params = params or pipeline_params(path)
    key = (str(_resolve(path)), tuple(sorted(params.items())))
    model = load_segmentation(path)
    with _lock:
        if key not in _pipelines:
            pipe = VoiceActivityDetection(segmentation=model)
            pipe.instantiate(params)
            _pipelines[key] = pipe
        return _pipelines[key]


def _mono16k(waveform: np.ndarray, sr: int) -> np.ndarray:
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0 if x.shape[0] < x.shape[1] else 1)
    if x.ndim != 1:
        raise ValueError(f"waveform must be (samples,) or (channels, samples), got shape {x.shape}")
    if int(sr) != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = np.gcd(int(sr), SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, int(sr) // g).astype(np.float32)
    return x


def speech_segments(waveform: np.ndarray, sr: int, *, model_path: str | os.PathLike | None = None,
                    params: dict | None = None) -> list[tuple[float, float]]:
    """Detected speech as sorted, merged ``(start_s, end_s)`` intervals within the track."""
    import torch

    x = _mono16k(waveform, sr)
    duration = len(x) / SAMPLE_RATE
    if len(x) == 0:
        return []
    x = np.concatenate([x, np.zeros(_PAD, np.float32)])
    pipe = _pipeline(model_path, params)
    with torch.inference_mode():
        ann = pipe({"waveform": torch.from_numpy(x)[None], "sample_rate": SAMPLE_RATE, "uri": "track"})
    out = []
    for seg in ann.get_timeline().support():
        s, e = max(0.0, float(seg.start)), min(duration, float(seg.end))
        if e > s:
            out.append((round(s, 3), round(e, 3)))
    return out


_EXCLUDE = re.compile(
    r"\b(no|without|not?\s+any|zero|exclude|excluding|avoid|minus|free\s+of)\b[\w\s,/-]{0,30}?"
    r"\b(voices?|vocals?|dialog(ue)?s?|speech|speaking|speakers?|talk(ing|s)?|words|narrat(ion|or)|"
    r"conversations?|chatter|people\s+talking|spoken)\b", re.I)
_BARE = re.compile(r"^\s*(voices?|vocals?|dialog(ue)?s?|speech|speaking|talking|narration|chatter|words)"
                   r"(\s*[,;/]\s*|\s*$)", re.I)


def speech_excluded(negative_prompt: str | None) -> bool:
    """Whether a negative prompt excludes speech: "no voices", "no dialogue", "without talking", ...

    A negative prompt names what should *not* sound, so a bare "voices" or "speech, music" excludes
    speech too.
    """
    if not negative_prompt:
        return False
    text = negative_prompt.strip()
    if _EXCLUDE.search(text):
        return True
    return any(_BARE.match(part.strip()) for part in re.split(r"[,;/]", text) if part.strip())


def speech_wanted(transcript: str | None, negative_prompt: str | None) -> bool:
    """Speech belongs in the track only with a transcript and when the negative prompt does not exclude it."""
    return bool(transcript and transcript.strip()) and not speech_excluded(negative_prompt)


def _annotation(segments: Iterable[tuple[float, float]], uri: str = "track"):
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for i, (s, e) in enumerate(segments):
        if e > s:
            ann[Segment(float(s), float(e)), str(i)] = "speech"
    return ann


def speech_check(waveform: np.ndarray, sr: int, *, speech_wanted: bool,
                 intervals: Sequence[tuple[float, float]] | None = None,
                 model_path: str | os.PathLike | None = None, params: dict | None = None,
                 min_unwanted_s: float = MIN_UNWANTED_S) -> dict[str, Any]:
    """Speech scores of one candidate track.

    Returns:
        ``segments`` (detected speech, s), ``speech_s``, ``speech_fraction``, ``unwanted_speech``
        (speech not wanted and at least ``min_unwanted_s`` of it detected), ``speech_wanted``, and
        when ``intervals`` (the speaking intervals, s) are given: ``speech_der`` (pyannote.metrics
        ``DetectionErrorRate``: missed + false speech over the intervals' total, 0 is perfect; for
        empty intervals the detected duration in seconds, as pyannote.metrics defines it),
        ``speech_missed_s`` and ``speech_false_s``.
    """
    from pyannote.core import Segment, Timeline

    x = _mono16k(waveform, sr)
    duration = len(x) / SAMPLE_RATE
    segs = speech_segments(x, SAMPLE_RATE, model_path=model_path, params=params)
    speech_s = float(sum(e - s for s, e in segs))
    out: dict[str, Any] = {
        "segments": segs, "speech_s": round(speech_s, 3),
        "speech_fraction": round(speech_s / duration, 4) if duration > 0 else 0.0,
        "speech_wanted": bool(speech_wanted),
        "unwanted_speech": (not speech_wanted) and speech_s >= min_unwanted_s,
    }
    if intervals is not None:
        from pyannote.metrics.detection import DetectionErrorRate

        metric = DetectionErrorRate()
        detail = metric(_annotation(intervals), _annotation(segs), uem=Timeline([Segment(0.0, duration)]),
                        detailed=True)
        out["speech_der"] = round(float(detail["detection error rate"]), 4)
        out["speech_missed_s"] = round(float(detail["miss"]), 3)
        out["speech_false_s"] = round(float(detail["false alarm"]), 3)
    return out


def write_rttm(segments: Iterable[tuple[float, float]], uri: str, path: str | os.PathLike) -> Path:
    """Write speech segments as RTTM (pyannote.core ``Annotation.write_rttm``, label ``speech``), atomically."""
    if not uri or any(c.isspace() for c in uri):
        raise ValueError(f"RTTM uri must be non-empty without spaces, got {uri!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ann = _annotation(segments, uri).support()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            ann.write_rttm(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def speech_rank_key(check: dict[str, Any]) -> int:
    """``1`` for a candidate with unwanted speech, ``0`` otherwise: first component of an ascending sort key."""
    return int(bool(check.get("unwanted_speech", False)))


def _check_of(c: dict[str, Any]) -> dict[str, Any]:
    return c["speech"] if isinstance(c.get("speech"), dict) else c


def rank_with_speech(candidates_scores: list[dict[str, Any]], *, score_key: str = "score",
                     higher_is_better: bool = True) -> list[int]:
    """Candidate indices, best first (see the module docstring for the rule)."""
    def key(i: int):
        c = candidates_scores[i]
        chk = _check_of(c)
        score = c.get(score_key)
        s = 0.0 if score is None else float(score)
        der = chk.get("speech_der")
        return (speech_rank_key(chk), -s if higher_is_better else s,
                float("inf") if der is None else float(der), i)

    return sorted(range(len(candidates_scores)), key=key)


def select_with_speech(candidates_scores: list[dict[str, Any]], *, score_key: str = "score",
                       higher_is_better: bool = True) -> int:
    """Index of the winning candidate: unwanted speech loses first, then ``score_key``, ``speech_der``, order.

    Each dict is a candidate's scores with the :func:`speech_check` result either merged in or under
    ``"speech"``; a missing ``score_key`` counts as 0.
    """
    if not candidates_scores:
        raise ValueError("no candidates to select from")
    return rank_with_speech(candidates_scores, score_key=score_key, higher_is_better=higher_is_better)[0]
