"""Join per-shot video files into one film-length file without re-encoding.

Cleaning runs per shot (temporal filters must not reach across a cut); the
archivist still wants one cleaned film to watch. Every part was written by
foleyflow.video.VideoWriter with identical codec settings, so the packets can
be copied as they are, with their timestamps shifted.
"""

from __future__ import annotations

import os
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
            out = av.open(str(partial), mode="w")
            ostream = out.add_stream_from_template(template)
            key = (template.codec_context.name, template.codec_context.width, template.codec_context.height)
        offset = 0
        try:
            for part in parts:
                with av.open(str(part)) as src:
                    stream = src.streams.video[0]
                    if (stream.codec_context.name, stream.codec_context.width, stream.codec_context.height) != key:
                        raise ValueError(f"{part}: codec or size differs from {parts[0]}; cannot join without re-encoding")
                    last = offset
                    for packet in src.demux(stream):
                        if packet.dts is None:
                            continue
                        packet.stream = ostream
                        packet.pts = packet.pts + offset if packet.pts is not None else None
                        packet.dts = packet.dts + offset
                        last = max(last, (packet.pts or packet.dts) + (packet.duration or 0))
                        out.mux(packet)
                    offset = last
        finally:
            out.close()
        os.replace(partial, dst)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dst
