"""Ingest: fixity (sha256) and a PyAV probe of a film file.

The probe demuxes every packet (cheap, no decoding) to count frames exactly and
to detect variable frame rate, then decodes the first and the last frames to
prove the file is readable end to end. Every way a file can be unusable raises
:class:`IngestError` with a message that says what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

from foleyflow.video import VideoError, frame_index

CHUNK = 1 << 20


class IngestError(VideoError):
    """The film cannot be ingested; the message is meant for the archivist."""


@dataclass(frozen=True)
class Probe:
    """What the catalog keeps about a film file."""

    path: str
    size_bytes: int
    container: str
    duration_s: float
    fps: float
    fps_num: int
    fps_den: int
    vfr: bool
    frame_count: int
    width: int
    height: int
    video_codec: str
    pix_fmt: str
    rotation: int
    audio_tracks: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def catalog_fields(self) -> dict:
        """The probe as catalog.models.PROBE_FIELDS."""
        data = asdict(self)
        data["container_format"] = data.pop("container")
        data.pop("path"), data.pop("size_bytes")
        return data


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MiB chunks.

    Raises:
        IngestError: the file does not exist or cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
    except FileNotFoundError as exc:
        raise IngestError(f"{path}: no such file; check the path or the manifest") from exc
    except OSError as exc:
        raise IngestError(f"{path}: cannot read the file ({exc.strerror}); check permissions") from exc
    return digest.hexdigest()


def _is_vfr(pts: np.ndarray) -> bool:
    """Variable frame rate: frame durations differ by more than 10% of the typical one."""
    if pts.shape[0] < 3:
        return False
    steps = np.diff(pts)
    typical = float(np.median(steps))
    if typical <= 0:
        return False
    return bool(np.max(np.abs(steps - typical)) > 0.1 * typical + 1)


def probe_video(path: str | os.PathLike) -> Probe:
    """Probe a film: frame rate (variable too), size, duration, codecs, rotation, audio tracks.

    Arguments:
        path: the film file.

    Returns:
        A :class:`Probe`.

    Raises:
        IngestError: empty, unreadable, truncated or audio-only files, or files without frames.
    """
    p = Path(path)
    if not p.exists():
        raise IngestError(f"{p}: no such file; check the path or the manifest")
    size = p.stat().st_size
    if size == 0:
        raise IngestError(f"{p}: the file is empty (0 bytes); copy it again from the source")
    try:
        index = frame_index(p)
    except VideoError as exc:
        raise IngestError(str(exc)) from exc
    if index.frames == 0:
        raise IngestError(f"{p}: the video stream holds no frames; the file is truncated or damaged, re-copy it")

    try:
        container = av.open(str(p))
    except av.error.FFmpegError as exc:  # pragma: no cover - frame_index opened it a moment ago
        raise IngestError(f"{p}: not a readable video ({exc})") from exc
    with container:
        stream = container.streams.video[0]
        declared = int(stream.frames or 0)
        if declared and index.frames < declared * 0.98 - 1:
            raise IngestError(
                f"{p}: truncated: the header declares {declared} frames but only {index.frames} are in the file; "
                "re-copy the file from the source"
            )
        rotation = _decode_ends(container, stream, index, p)
        rate = stream.average_rate or stream.guessed_rate
        vfr = _is_vfr(index.pts)
        first, last = int(index.pts[0]), int(index.pts[-1])
        step = float(np.median(np.diff(index.pts))) if index.frames > 1 else 0.0
        duration = float((last - first + step) * stream.time_base) if index.frames > 1 else 0.0
        if vfr and duration > 0:
            fps = index.frames / duration
        else:
            fps = float(rate) if rate else (index.frames / duration if duration else 0.0)
        if fps <= 0:
            raise IngestError(f"{p}: no frame rate can be determined; remux the file with an explicit rate")
        if not duration:
            duration = index.frames / fps
        audio = [
            {
                "index": int(a.index),
                "codec": a.codec_context.name,
                "channels": int(a.codec_context.channels),
                "sample_rate": int(a.sample_rate or 0),
                "language": a.language or a.metadata.get("language"),
                "duration_s": float(a.duration * a.time_base) if a.duration else None,
            }
            for a in container.streams.audio
        ]
        return Probe(
            path=str(p),
            size_bytes=size,
            container=container.format.name,
            duration_s=round(duration, 6),
            fps=fps,
            fps_num=int(rate.numerator) if rate else 0,
            fps_den=int(rate.denominator) if rate else 0,
            vfr=vfr,
            frame_count=index.frames,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            video_codec=stream.codec_context.name,
            pix_fmt=str(stream.codec_context.pix_fmt),
            rotation=rotation,
            audio_tracks=audio,
        )


def _decode_ends(container, stream, index, p: Path) -> int:
    """Decode the first frame and the last frames; return the display rotation in degrees."""
    try:
        first = next(container.decode(stream), None)
        if first is None:
            raise IngestError(f"{p}: no frame can be decoded; the file is damaged, re-copy it")
        rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        container.seek(int(index.pts[-1]), stream=stream, backward=True, any_frame=False)
        last_seen = None
        for frame in container.decode(stream):
            last_seen = frame.pts
        if last_seen is None or (last_seen is not None and last_seen < int(index.pts[-1])):
            raise IngestError(f"{p}: the last frames cannot be decoded; the file is truncated, re-copy it")
    except av.error.FFmpegError as exc:
        raise IngestError(f"{p}: decoding failed ({exc}); the file is damaged or truncated, re-copy it") from exc
    return rotation
