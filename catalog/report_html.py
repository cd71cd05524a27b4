"""The HTML provenance report: one self-contained page for people (images inlined as ``data:`` URIs).

Per film: its file and prompts, its delivery versions, a bar chart of every candidate's sync score,
a shot table (keyframe, frames, prompt, a spectrogram of the selected candidate, every candidate's
scores with the selected one marked, review decisions) and the events timeline. Rendered with jinja2
(autoescape on: every catalog text is escaped); charts with matplotlib's object API (no pyplot state).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

import jinja2
import numpy as np

from catalog.provenance import Provenance

#: score columns shown for every candidate, in this order (others stay in the Parquet/CSV scores_json)
SCORE_KEYS = ("sync", "lufs", "peak", "clipping", "audio_onsets", "video_onsets", "silent")


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return _data_uri(buf.getvalue(), "image/png")


def _keyframe(path: str | None) -> str | None:
    """The keyframe file as stored (its bytes are what the catalog's keyframe_sha256 vouches for)."""
    if not path or not Path(path).is_file():
        return None
    suffix = Path(path).suffix.lower()
    mime = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}.get(suffix)
    return _data_uri(Path(path).read_bytes(), mime) if mime else None


def spectrogram(path: str | None) -> str | None:
    """A log-magnitude spectrogram PNG of a WAV file as a data URI (None when the file is gone)."""
    if not path or not Path(path).is_file():
        return None
    from matplotlib.figure import Figure
    from scipy.io import wavfile

    rate, audio = wavfile.read(path)
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if np.issubdtype(np.asarray(audio).dtype, np.integer) or np.abs(audio).max(initial=0) > 1.5:
        audio = audio / 32768.0
    n_fft, hop = 512, 128
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop] * np.hanning(n_fft)
    power = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-6)
    fig = Figure(figsize=(4, 1.8))
    ax = fig.add_subplot()
    ax.imshow(power, origin="lower", aspect="auto", cmap="magma", vmin=power.max() - 80, vmax=power.max(),
              extent=(0, len(audio) / rate, 0, rate / 2000))
    ax.set_xlabel("s")
    ax.set_ylabel("kHz")
    fig.tight_layout()
    return _png(fig)


def sync_chart(shots: list[dict]) -> str | None:
    """Bar chart of every candidate's sync score per shot, the selected candidate dark."""
    bars = [(s["shot"].index, g) for s in shots for g in s["generations"]]
    if not bars:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(4.0, 0.35 * len(bars) + 1.5), 2.4))
    ax = fig.add_subplot()
    labels, values, colours = [], [], []
    for index, g in bars:
        labels.append(f"{index}.{g.candidate}" + (f"/{g.attempt}" if g.attempt > 1 else ""))
        values.append(float((g.scores or {}).get("sync") or 0.0))
        colours.append("#1b5e20" if g.selected else "#a5d6a7")
    ax.bar(range(len(values)), values, color=colours)
    ax.set_xticks(range(len(values)), labels, fontsize=7, rotation=90 if len(values) > 20 else 0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("sync F1")
    ax.set_xlabel("shot.candidate (dark: selected)")
    fig.tight_layout()
    return _png(fig)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def render(p: Provenance, *, software: str = "foleyflow") -> str:
    """The report page of ``p``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    films = []
    for film in p.films:
        shots = []
        for shot in p.shots.get(film.id, []):
            gens = p.generations.get(shot.id, [])
            selected = next((g for g in reversed(gens) if g.selected), None)
            shots.append({"shot": shot, "generations": gens, "selected": selected, "reviews": p.reviews.get(shot.id, []),
                          "keyframe": _keyframe(shot.keyframe_path),
                          "spectrogram": spectrogram(selected.audio_path) if selected else None})
        by_id = {s.id: s for s in p.shots.get(film.id, [])}

        def object_label(e, by_id=by_id):
            shot = by_id.get(e.shot_id)
            return f"shot {shot.index}" if shot is not None else "film"

        deliveries = p.deliveries.get(film.id, [])
        films.append({"film": film, "collections": p.collections.get(film.id, []), "shots": shots,
                      "deliveries": deliveries, "versions": {d.id: f"v{d.version}" for d in deliveries},
                      "sync_chart": sync_chart(shots), "events": [e for e in p.events if e.film_id == film.id],
                      "object_label": object_label})
    return env.get_template("report.html.j2").render(
        selection=p.selection, films=films, software=software, score_keys=SCORE_KEYS, fmt=_fmt,
        written=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        n_generations=len(p.all_generations()), n_events=len(p.events),
        other_events=[e for e in p.events if e.film_id is None])
