"""Joining cleaned shots into one film without re-encoding."""

from __future__ import annotations

import av
import numpy as np
import pytest

from foleyflow.video import VideoWriter, iter_frames
from tasks.assemble import concat_parts


def _part(path, value, frames=5, fps=24):
    with VideoWriter(path, fps=fps, width=64, height=48) as w:
        for _ in range(frames):
            w.write(np.full((48, 64, 3), value, np.uint8))
    return path


def test_parts_join_in_order_losslessly(tmp_path):
    parts = [_part(tmp_path / f"p{i}.mkv", v, frames=n) for i, (v, n) in enumerate([(30, 5), (120, 7), (220, 3)])]
    out = concat_parts(parts, tmp_path / "film.mkv")
    means = [int(round(f.mean())) for _, f in iter_frames(out, fmt="gray")]
    assert len(means) == 15
    assert means[:5] == [means[0]] * 5 and means[5:12] == [means[5]] * 7 and means[12:] == [means[12]] * 3
    assert means[0] < means[5] < means[12]
    with av.open(str(out)) as c:
        assert float(c.streams.video[0].average_rate) == pytest.approx(24.0)


def test_mismatched_parts_leave_no_output(tmp_path):
    a = _part(tmp_path / "a.mkv", 10)
    with VideoWriter(tmp_path / "b.mkv", fps=24, width=32, height=32) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="differs"):
        concat_parts([a, tmp_path / "b.mkv"], tmp_path / "film.mkv")
    assert not any(p.name.startswith(("film", ".film")) for p in tmp_path.iterdir())
