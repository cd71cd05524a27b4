"""Small synthetic media for tests (made here, never read from outside the repo)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def scene_frame(i: int, scene: int, w: int = 160, h: int = 120) -> np.ndarray:
    """A textured frame of scene ``scene`` with a square moving across it."""
    rng = np.random.default_rng(scene)
    base = rng.integers(40, 215, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    frame = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w].copy()
    x = (i * 3) % (w - 20)
    frame[h // 2 - 10:h // 2 + 10, x:x + 20] = 250 if scene % 2 else 10
    return frame


def write_video(path: Path, *, frames: int = 48, fps: int | Fraction = 24, size=(160, 120), scenes: int = 1,
                codec: str = "libx264", audio: bool = False, faststart: bool = False,
                pts_list: list[int] | None = None, rotation: int | None = None) -> Path:
    """Write a test film: ``scenes`` equal-length scenes with hard cuts, optional sine audio track."""
    w, h = size
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if pts_list is not None:
            vs.time_base = Fraction(1, 1000)
        if rotation is not None:
            vs.set_display_rotation(rotation)
        a_stream = None
        if audio:
            a_stream = out.add_stream("aac", rate=48000)
            a_stream.layout = "mono"
        per = max(1, frames // scenes)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(scene_frame(i, min(i // per, scenes - 1), w, h), format="rgb24")
            if pts_list is not None:
                frame.pts, frame.time_base = pts_list[i], Fraction(1, 1000)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if a_stream is not None:
            seconds = frames / float(fps)
            t = np.arange(int(48000 * seconds)) / 48000
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples.size, 1024):
                chunk = samples[start:start + 1024].reshape(1, -1)
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, start
                for pkt in a_stream.encode(af):
                    out.mux(pkt)
            for pkt in a_stream.encode():
                out.mux(pkt)
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        st = out.add_stream("aac", rate=48000)
        st.layout = "mono"
        samples = np.zeros((1, int(48000 * seconds)), dtype=np.float32)
        for start in range(0, samples.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(samples[:, start:start + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, start
            for pkt in st.encode(af):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path
