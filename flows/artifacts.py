"""Review artifacts in the Prefect UI: what an archivist needs to judge a shot's sound.

Per shot, once its sound is generated (or found done), a markdown artifact keyed
``film-{film_id}-shot-{index}`` holds:

* the shot's keyframe (a thumbnail ``THUMB_WIDTH`` px wide) and the spectrogram of the
  selected candidate (mel-spaced, 0 to half the sample rate, with the contacts seen in the
  picture marked above it and the shot's start and end as dotted lines), both embedded as
  ``data:image/png`` URIs, so they render in the UI with nothing else running;
* the prompt and negative prompt the sound was made with, the model and its settings;
* every candidate of the latest attempt: seed, sync, loudness, peak, clipping, silence,
  the checks' verdict, which one is selected, and a link that plays its WAV;
* the latest review decision and the ``foleyflow review`` commands that make one.

The UI strips ``<audio>`` and cannot open ``file://`` links, so the links go to
``foleyflow media-server`` (``FOLEYFLOW_MEDIA_URL``), which serves ``$FOLEYFLOW_HOME/films``
read-only on 127.0.0.1 (``foleyflow serve`` starts it).

Artifacts are a view: :func:`write_shot_artifact` logs a warning and returns on any failure,
never failing the film.
"""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np

THUMB_WIDTH = 240
SPEC_WIDTH, SPEC_HEIGHT = 480, 128
SPEC_FLOOR_DB = 80.0  # the spectrogram's dynamic range below its loudest cell
N_FFT, HOP = 512, 128


def shot_artifact_key(film_id: int, index: int) -> str:
    return f"film-{film_id}-shot-{index}"


def png_data_uri(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI of a BGR (or grey) image; a grey-looking colour image is stored grey."""
    if image.ndim == 3 and image.shape[2] == 3:
        spread = image.max(axis=2).astype(np.int16) - image.min(axis=2)
        if np.percentile(spread, 99) <= 6:  # black-and-white film: one channel, a third of the bytes
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def thumbnail(path: str | Path, width: int = THUMB_WIDTH) -> np.ndarray:
    """The image at ``path`` scaled to ``width`` px wide (never enlarged), BGR.

    Raises:
        ValueError: the file is missing or not an image.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return image


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def spectrogram(audio: np.ndarray, sr: int, *, width: int = SPEC_WIDTH, height: int = SPEC_HEIGHT,
                marks_s: list[float] = (), span_s: tuple[float, float] | None = None) -> np.ndarray:
    """A colour (BGR) spectrogram image of mono ``audio``: time left to right, mel-spaced frequency bottom up.

    Arguments:
        marks_s: times (s) drawn as ticks above the spectrogram (the picture's contacts).
        span_s: (start, end) drawn as dotted lines (the shot inside the generated margins).
    """
    x = np.asarray(audio, np.float32).reshape(-1)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    window = np.hanning(N_FFT).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP] * window
    mag = np.abs(np.fft.rfft(frames, axis=1)).T  # (bins, frames)
    db = 20.0 * np.log10(mag + 1e-9)
    top = float(db.max())
    level = np.clip((db - (top - SPEC_FLOOR_DB)) / SPEC_FLOOR_DB, 0.0, 1.0)
    # mel-spaced rows: foley lives low, a linear axis would spend most of the picture on hiss
    bins = np.linspace(0.0, sr / 2.0, mag.shape[0])
    want = 700.0 * (10 ** (np.linspace(_mel(0.0), _mel(sr / 2.0), height) / 2595.0) - 1.0)
    rows = np.stack([np.interp(want, bins, level[:, j]) for j in range(level.shape[1])], axis=1)
    rows = cv2.resize(rows.astype(np.float32), (width, height),
                      interpolation=cv2.INTER_AREA if rows.shape[1] > width else cv2.INTER_LINEAR)
    image = cv2.applyColorMap((np.flipud(rows) * 255).astype(np.uint8), cv2.COLORMAP_MAGMA)
    band = 12  # a strip above the spectrogram for the picture's contacts
    canvas = np.full((height + band, width, 3), 24, np.uint8)
    canvas[band:] = image
    duration = x.size / sr
    px = lambda t: int(round(np.clip(t / duration, 0, 1) * (width - 1)))  # noqa: E731
    if span_s is not None:
        for t in span_s:
            canvas[band::4, px(t)] = (200, 200, 200)
    for t in marks_s:
        c = px(t)
        cv2.fillConvexPoly(canvas, np.array([[c - 4, 1], [c + 4, 1], [c, band - 2]], np.int32), (255, 255, 0))
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.35
    cv2.putText(canvas, f"{sr / 2000:g} kHz", (3, band + 11), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(canvas, "0", (3, height + band - 4), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    label = f"{duration:.2f} s"
    (tw, _), _ = cv2.getTextSize(label, font, scale, 1)
    cv2.putText(canvas, label, (width - tw - 3, height + band - 4), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def _cell(value) -> str:
    return str(value).replace("|", "/").replace("\n", " ")


def _fmt(value, spec: str, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:{spec}}{unit}"


def shot_markdown(film_id: int, shot_id: int) -> str:
    """The review artifact's markdown for one shot, from the catalog (see the module doc)."""
    import sqlalchemy as sa

    from catalog import repo
    from catalog.db import session_scope
    from catalog.models import Film, Generation, Shot
    from foleyflow.media import media_url
    from tasks.shots import format_timecode
    from tasks.stitch import read_wav

    with session_scope() as s:
        film, shot = s.get(Film, film_id), s.get(Shot, shot_id)
        latest = s.scalar(sa.select(sa.func.max(Generation.attempt)).where(Generation.shot_id == shot_id))
        cands = [] if latest is None else list(s.scalars(sa.select(Generation).where(
            Generation.shot_id == shot_id, Generation.attempt == latest).order_by(Generation.candidate)))
        decisions = repo.reviews(s, shot)
        review = decisions[-1] if decisions else None
        reviewed = None if review is None else (review.decision, review.reviewer, review.created, review.note,
                                                next((c.candidate for c in cands if c.id == review.generation_id), None))
        title = film.title or Path(film.path).stem
        info = dict(index=shot.index, start_s=shot.start_s, end_s=shot.end_s, start_frame=shot.start_frame,
                    end_frame=shot.end_frame, status=str(shot.status), keyframe=shot.keyframe_path,
                    timing=shot.timing_path)
        rows = [dict(candidate=c.candidate, seed=c.seed, scores=dict(c.scores or {}), selected=c.selected,
                     audio=c.audio_path, prompt=c.prompt, negative=c.negative_prompt, model=c.model_id,
                     weights=c.weights_sha256, scheduler=c.scheduler, steps=c.steps, guidance=c.guidance,
                     duration=c.duration_s, created=c.created, attributions=list(c.attributions or []))
                for c in cands]

    shot_len = info["end_s"] - info["start_s"]
    lines = [f"## {_cell(title)} · shot {info['index']}", "",
             f"{format_timecode(info['start_s'])} – {format_timecode(info['end_s'])} ({shot_len:.2f} s), "
             f"frames {info['start_frame']}–{info['end_frame'] - 1} · status **{info['status']}** · review: **"
             + ("not reviewed yet" if reviewed is None else
                f"{reviewed[0]}ed by {_cell(reviewed[1])} on {reviewed[2]:%Y-%m-%d %H:%M} UTC"
                + (f" (candidate {reviewed[4]})" if reviewed[4] is not None else "")) + "**"
             + (f": {_cell(reviewed[3])}" if reviewed and reviewed[3] else ""), ""]

    chosen = next((r for r in rows if r["selected"]), None)
    keyframe_md = "*(no keyframe)*"
    if info["keyframe"] and Path(info["keyframe"]).is_file():
        keyframe_md = f"![keyframe of shot {info['index']}]({png_data_uri(thumbnail(info['keyframe']))})"
    sound_md, sound_head = "*(no sound yet)*", "selected sound"
    if chosen is not None and Path(chosen["audio"]).is_file():
        audio, sr = read_wav(chosen["audio"])
        margin = max(0.0, (audio.size / sr - shot_len) / 2)
        marks = []
        if info["timing"] and Path(info["timing"]).is_file():
            with np.load(info["timing"], allow_pickle=False) as z:
                marks = [margin + float(t) for t in z["onset_times"]] if "onset_times" in z.files else []
        image = spectrogram(audio, sr, marks_s=marks, span_s=(margin, margin + shot_len) if margin else None)
        sound_md = f"![spectrogram of candidate {chosen['candidate']}]({png_data_uri(image)})"
        sound_head = f"selected sound: candidate {chosen['candidate']}"
    lines += [f"| keyframe | {sound_head} |", "|---|---|", f"| {keyframe_md} | {sound_md} |", ""]
    if chosen is not None:
        lines += ["<sub>Spectrogram 0 Hz (bottom) to half the sample rate (top), mel-spaced; ▼ a contact seen "
                  "in the picture; dotted lines: where the shot starts and ends "
                  "(the generated margins around it serve the crossfades at the cuts).</sub>", ""]

    if not rows:
        lines += ["No sound has been generated for this shot yet."]
        return "\n".join(lines)
    first = rows[0]
    lines += [f"**Prompt:** {_cell(first['prompt']) or '*(none: the picture timing alone)*'}  ",
              f"**Negative prompt:** {_cell(first['negative']) or '*(none)*'}", "",
              f"### Candidates (attempt {latest})", "",
              "| candidate | seed | sync | LUFS | clipping | silent | selected | listen |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sc = r["scores"]
        url = media_url(r["audio"])
        listen = f"[▶&nbsp;play]({url})" if url else f"`{_cell(r['audio'])}`"
        verdict = ("**✔ selected**" if r["selected"] else
                   f"rejected: {_cell(sc['rejected'])}" if sc.get("rejected") else "")
        lines.append(
            f"| {r['candidate']} | {r['seed']} | {_fmt(sc.get('sync'), '.2f')} | {_fmt(sc.get('lufs'), '.1f')} "
            f"| {_fmt(sc.get('clipping'), '.2%')} | {'yes' if sc.get('silent') else 'no'} | {verdict} | {listen} |")
    sources = {(a.get("author"), a.get("licence") or a.get("license"), a.get("package"))
               for r in rows if r["selected"] for a in r["attributions"]}
    lines += ["", "Sync: how well the sound's onsets match the picture's contacts (F1, 1 is best). LUFS: "
                  "loudness (the film's track is brought to -23). Clipping: samples at full scale. A candidate "
                  "the checks rejected (silent, clipping) is never selected. The links play from "
                  "`foleyflow media-server`."]
    if sources:
        lines += ["", "Reference recording of the selected sound: " + "; ".join(
            f"{_cell(a or '?')} ({_cell(lic or '?')}, Debian package {_cell(p or '?')})" for a, lic, p in sorted(
                sources, key=str))]
    sel = chosen["candidate"] if chosen else 0
    lines += ["", "### Review", "",
              f"* keep the selected sound: `foleyflow review {shot_id} --accept --by NAME`",
              f"* keep another candidate: `foleyflow review {shot_id} --accept --candidate K --by NAME` "
              f"(K is a candidate number above; now {sel})",
              f"* ask for new sound: `foleyflow review {shot_id} --reject --prompt \"...\" --negative \"...\" "
              f"--note \"why\" --by NAME`, then `foleyflow rerun`", "",
              f"<sub>{_cell(first['model'])} (weights {first['weights'][:12]}), {_cell(first['scheduler'])} "
              f"{first['steps']} steps, guidance {first['guidance']:g}, {first['duration']:.2f} s with margins · "
              f"generated {first['created']:%Y-%m-%d %H:%M} UTC · catalog film {film_id}, shot {shot_id}</sub>"]
    return "\n".join(lines)


def write_shot_artifact(film_id: int, shot_id: int) -> str | None:
    """Create (a new version of) the shot's review artifact; returns its id, or ``None`` after a warning."""
    from prefect.artifacts import create_markdown_artifact

    from catalog.db import session_scope
    from catalog.models import Film, Shot

    try:
        with session_scope() as s:
            index, title = s.get(Shot, shot_id).index, s.get(Film, film_id).title
        artifact_id = create_markdown_artifact(
            markdown=shot_markdown(film_id, shot_id), key=shot_artifact_key(film_id, index),
            description=f"Shot {index} of {title}: keyframe, sound, candidates, review")
        return str(artifact_id)
    except Exception as exc:  # noqa: BLE001 - a view, never a reason to fail a film
        _warn(f"could not write the review artifact of shot {shot_id}: {type(exc).__name__}: {exc}")
        return None


def _warn(message: str) -> None:
    try:
        from prefect import get_run_logger

        get_run_logger().warning(message)
    except Exception:  # noqa: BLE001 - outside a run
        import logging

        logging.getLogger(__name__).warning(message)


def film_table(film_id: int, report: dict) -> tuple[list[dict], str]:
    """Rows of the film's shot table artifact (``film-{id}-shots``) and its description.

    Per shot: frames, status, error, the selected candidate's seed and sync, the latest review,
    the shot's review artifact key and a link that plays the selected sound; the description
    links the delivered film.
    """
    from catalog import repo
    from catalog.db import session_scope
    from catalog.models import Shot
    from foleyflow.media import media_url

    rows = []
    with session_scope() as s:
        for sh in report["shots"]:
            shot = s.get(Shot, sh["id"])
            g = repo.selected_generation(s, shot)
            decisions = repo.reviews(s, shot)
            url = media_url(g.audio_path) if g is not None else None
            rows.append({"shot": sh["index"], "frames": f"{sh['start_frame']}-{sh['end_frame'] - 1}",
                         "status": sh["status"], "error": sh["error"] or "",
                         "seed": g.seed if g is not None else "",
                         "sync": round(g.scores["sync"], 2) if g is not None and g.scores.get("sync") is not None else "",
                         "review": (f"{decisions[-1].decision}ed by {decisions[-1].reviewer}" if decisions else ""),
                         "review artifact": shot_artifact_key(film_id, sh["index"]) if g is not None else "",
                         "listen": url or ""})
    delivery = media_url(report["delivery_path"]) if report.get("delivery_path") else None
    title = report.get("title") or Path(report["path"]).stem
    description = f"Shots of {title}" + (f"; delivered film: [watch]({delivery})" if delivery else "")
    return rows, description


def delivery_link(film_id: int | None) -> str:
    """A markdown link that plays the film's delivered MP4 from the media server ("" when there is none)."""
    from catalog.db import session_scope
    from catalog.models import Film
    from foleyflow.media import media_url

    if film_id is None:
        return ""
    try:
        with session_scope() as s:
            film = s.get(Film, film_id)
            path = film.delivery_path if film is not None else None
        url = media_url(path) if path else None
    except Exception:  # noqa: BLE001 - a view
        return ""
    return f"[▶ watch]({url})" if url else ""
