"""Streaming video I/O on PyAV: frame-accurate ranges and atomic lossless writing.

Every stage that touches pixels goes through this module, so that frame
numbers mean the same thing everywhere: frame ``i`` is the ``i``-th frame in
presentation order, counted from 0. Ranges are half-open ``[start, stop)``.
Frames are decoded one at a time; nothing here holds more than one frame plus
what the caller keeps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np


class VideoError(ValueError):
    """The file is not a video foleyflow can read; the message says why and what to do."""


@dataclass(frozen=True)
class FrameIndex:
    """Presentation timestamps of every frame of a file's first video stream."""

    pts: np.ndarray  # int64, sorted, one per frame (stream time base)
    time_base: Fraction
    avg_fps: float

    @property
    def frames(self) -> int:
        return int(self.pts.shape[0])

    def time_of(self, frame: int) -> float:
        """Seconds from the first frame to ``frame`` (``frame == frames`` is the end)."""
        if frame >= self.frames:
            return float(self.frames / self.avg_fps) if self.avg_fps else 0.0
        return float((int(self.pts[frame]) - int(self.pts[0])) * self.time_base)


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file; check the path")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: the file is empty (0 bytes); copy it again from the source")
    try:
        return av.open(str(p))
    except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
        raise VideoError(
            f"{p}: not a readable video ({exc.__class__.__name__}: {exc}); "
            "check that the copy is complete and the format is supported by FFmpeg"
        ) from exc


def _video_stream(container: av.container.InputContainer, path: str | os.PathLike):
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "no streams"
        raise VideoError(f"{path}: has no video stream ({kinds}); foleyflow needs a film, not an audio file")
    return container.streams.video[0]


@lru_cache(maxsize=64)
def _frame_index_cached(path: str, size: int, mtime_ns: int) -> FrameIndex:
    with _open(path) as container:
        stream = _video_stream(container, path)
        pts: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # flush packet
                if packet.pts is not None:
                    pts.append(int(packet.pts))
                elif packet.dts is not None:
                    pts.append(int(packet.dts))
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: the file is damaged after {len(pts)} frames ({exc}); "
                             "re-copy or re-export it") from exc
        arr = np.sort(np.asarray(pts, dtype=np.int64))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        return FrameIndex(pts=arr, time_base=Fraction(stream.time_base), avg_fps=fps)


def frame_index(path: str | os.PathLike) -> FrameIndex:
    """Demux (without decoding) the first video stream and list its frame timestamps.

    Cached per (path, size, mtime), so repeated range reads of one film pay once.
    """
    p = Path(path)
    st = p.stat() if p.exists() else None
    if st is None:
        raise VideoError(f"{p}: no such file; check the path")
    return _frame_index_cached(str(p.resolve()), st.st_size, st.st_mtime_ns)


def iter_frames(
    path: str | os.PathLike,
    start: int = 0,
    stop: int | None = None,
    *,
    fmt: str = "rgb24",
    width: int | None = None,
    height: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_number, array)`` for frames ``[start, stop)`` in presentation order.

    Arguments:
        path: the video file.
        start, stop: half-open frame range; ``stop=None`` reads to the end.
        fmt: a PyAV/FFmpeg pixel format for ``to_ndarray`` (``rgb24``, ``gray``, ``yuv420p``...).
        width, height: optional scaling done by FFmpeg's swscale during conversion.

    Raises:
        VideoError: the file cannot be opened or has no video stream.
    """
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"bad frame range [{start}, {stop})")
    if stop is not None and stop == start:
        return
    index = frame_index(path) if start > 0 else None
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        first_pts: int | None = None
        number = 0
        if index is not None:
            if start >= index.frames:
                return
            first_pts = int(index.pts[start])
            container.seek(first_pts, stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            if index is not None:
                if frame.pts is None:
                    raise VideoError(f"{path}: frames without timestamps; cannot seek to frame {start}; "
                                     "remux the file (ffmpeg -i in -c copy out.mkv)")
                if frame.pts < first_pts:
                    continue
                number = int(np.searchsorted(index.pts, frame.pts))
            if stop is not None and number >= stop:
                return
            yield number, frame.to_ndarray(format=fmt, width=width, height=height)
            number += 1


class VideoWriter:
    """Write frames to ``path`` atomically: a hidden partial file, renamed on success.

    ``codec="ffv1"`` (default) is lossless FFV1 level 3 in Matroska; ``codec="h264"``
    is x264 at a near-lossless CRF (default 10) in MP4/MKV. On an exception inside
    the ``with`` block the partial file is removed and ``path`` is untouched.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float | Fraction,
        width: int,
        height: int,
        codec: str = "ffv1",
        pix_fmt: str = "yuv420p",
        crf: int = 10,
        input_format: str = "rgb24",
    ) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.input_format = input_format
        self.frames = 0
        rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # bitexact: no random UIDs or dates in the container, so the same frames give the same
        # bytes and the same sha256 (reproducible, content-addressed outputs)
        self._container = av.open(str(self.partial), mode="w", options={"fflags": "+bitexact"})
        if codec == "ffv1":
            stream = self._container.add_stream("ffv1", rate=rate)
            stream.options = {"level": "3", "slices": "4", "slicecrc": "1", "g": "1"}
        elif codec == "h264":
            stream = self._container.add_stream("libx264", rate=rate)
            stream.options = {"crf": str(crf), "preset": "medium"}
        else:
            raise ValueError(f"unknown codec {codec!r}; use 'ffv1' (lossless) or 'h264' (near-lossless)")
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = Fraction(1, 1) / rate
        stream.thread_type = "AUTO"
        self._stream = stream

    def write(self, array: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(array, format=self.input_format)
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        finally:
            self.partial.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
