"""Streaming video I/O: frame-accurate ranges, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from foleyflow.video import VideoError, VideoWriter, frame_index, iter_frames
from tests.media import write_video


def _stamp_video(path, frames=60, fps=24, gop=12):
    """Each frame's brightness encodes its number, so ranges can be checked exactly."""
    import av

    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        st.options = {"g": str(gop), "bf": "2", "crf": "0"}
        for i in range(frames):
            img = np.full((48, 64, 3), 2 + i * 4, np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


@pytest.mark.parametrize("start, stop", [(0, 10), (13, 31), (47, 60), (25, None), (59, 60)])
def test_ranges_are_frame_accurate_across_keyframes_and_b_frames(tmp_path, start, stop):
    film = _stamp_video(tmp_path / "stamp.mp4")
    got = [(n, int(round((f.mean() - 2) / 4))) for n, f in iter_frames(film, start, stop, fmt="gray")]
    expected = list(range(start, 60 if stop is None else stop))
    assert [n for n, _ in got] == expected
    assert [v for _, v in got] == expected  # the pixels are those of that frame


def test_frame_index_counts_frames(tmp_path):
    film = write_video(tmp_path / "f.mp4", frames=37, fps=25)
    index = frame_index(film)
    assert index.frames == 37
    assert index.time_of(25) == pytest.approx(1.0)


def test_writer_leaves_nothing_behind_on_error(tmp_path):
    out = tmp_path / "out.mkv"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, fps=24, width=32, height=32) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_is_lossless_with_ffv1(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (32, 48), dtype=np.uint8) for _ in range(3)]
    with VideoWriter(tmp_path / "o.mkv", fps=24, width=48, height=32, pix_fmt="gray", input_format="gray") as w:
        for f in frames:
            w.write(f)
    back = [f for _, f in iter_frames(tmp_path / "o.mkv", fmt="gray")]
    assert all(np.array_equal(a, b) for a, b in zip(frames, back)) and len(back) == 3


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        list(iter_frames(tmp_path / "nope.mp4"))
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        list(iter_frames(tmp_path / "zero.mp4"))
