"""Join per-shot video files into one film-length file without re-encoding.

Cleaning runs per shot (temporal filters must not reach across a cut); the
archivist still wants one cleaned film to watch. Every part was written by
foleyflow.video.VideoWriter with identical codec settings, so the packets can
be copied as they are, with their timestamps shifted.
"""

from __future__ import annotations

import os
from fractions import Fraction
from collections.abc import Sequence
from pathlib import Path

import av


def concat_parts(parts: Sequence[str | os.PathLike], dst: str | os.PathLike) -> Path:
    """Concatenate video files with identical stream parameters into ``dst`` (atomic).

    Raises:
        ValueError: no parts, or parts whose codec or frame size differ.
    """
    if not parts:
        raise ValueError("nothing to concatenate: no shot files")
    dst = Path(dst)
    partial = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(parts[0])) as first:
            template = first.streams.video[0]
            out = av.open(str(partial), mode="w", options={"fflags": "+bitexact"})
            ostream = out.add_stream_from_template(template)
            key = (template.codec_context.name, template.codec_context.width, template.codec_context.height)
        frames_before = 0  # frames written so far; timestamps are derived from it, so no rounding drifts
        rate = Fraction(template.average_rate or template.guessed_rate)
        try:
            for part in parts:
                with av.open(str(part)) as src:
                    stream = src.streams.video[0]
                    if (stream.codec_context.name, stream.codec_context.width, stream.codec_context.height) != key:
                        raise ValueError(f"{part}: codec or size differs from {parts[0]}; cannot join without re-encoding")
                    tb = Fraction(stream.time_base)
                    offset = round(Fraction(frames_before) / rate / tb)
                    first = None
                    count = 0
                    for packet in src.demux(stream):
                        if packet.dts is None:
                            continue
                        if first is None:
                            first = packet.dts
                        packet.stream = ostream
                        packet.dts = packet.dts - first + offset
                        packet.pts = packet.pts - first + offset if packet.pts is not None else None
                        out.mux(packet)
                        count += 1
                    frames_before += count
        finally:
            out.close()
        os.replace(partial, dst)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dst
