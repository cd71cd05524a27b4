"""The command line: help everywhere, one-line reasons and non-zero exits on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.media import write_video

COMMANDS = ["demo", "shots", "clean", "run", "status", "generate", "corpus", "train"]


def foleyflow(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foleyflow", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_help_on_every_command():
    top = foleyflow("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        sub = foleyflow(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage" in sub.stdout


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("foleyflow: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, reason",
    [
        (["shots", "missing.mp4"], "no such file"),
        (["clean", "missing.mp4", "out.mkv"], "no such file"),
        (["run", "no-such-folder"], "no such folder"),
        (["status", "--film", "999"], "no film with id 999"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path, args, reason):
    env = {"FOLEYFLOW_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "foleyflow", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=tmp_path, timeout=300)
    assert proc.returncode == 1
    assert reason in _one_line_error(proc)


def test_clean_rejects_unknown_step_and_wrong_container(tmp_path):
    film = write_video(tmp_path / "f.mp4", frames=12)
    proc = foleyflow("clean", str(film), str(tmp_path / "o.mkv"), "--steps", "deflicker,sharpen")
    assert proc.returncode == 1 and "sharpen" in _one_line_error(proc)
    proc = foleyflow("clean", str(film), str(tmp_path / "o.mp4"))
    assert proc.returncode == 1 and ".mkv" in _one_line_error(proc)
    assert not (tmp_path / "o.mkv").exists() and not (tmp_path / "o.mp4").exists()


def test_shots_json_has_the_documented_shape(tmp_path):
    film = write_video(tmp_path / "f.mp4", frames=72, fps=24, scenes=3)
    proc = foleyflow("shots", str(film), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"fps", "frames", "shots"}
    assert data["fps"] == pytest.approx(24.0) and data["frames"] == 72
    assert [s["start_frame"] for s in data["shots"]] == [0, 24, 48]
    first = data["shots"][0]
    assert set(first) == {"index", "start_frame", "end_frame", "start", "end"}
    assert (first["end_frame"], first["start"], first["end"]) == (24, "00:00:00.000", "00:00:01.000")


def test_clean_keeps_frame_count_and_rate(tmp_path):
    import av

    film = write_video(tmp_path / "f.mp4", frames=30, fps=25)
    proc = foleyflow("clean", str(film), str(tmp_path / "o.mkv"), "--json")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(tmp_path / "o.mkv")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "ffv1"
        assert float(stream.average_rate) == pytest.approx(25.0)
        assert sum(1 for _ in c.decode(stream)) == 30
    assert json.loads(proc.stdout)["frames"] == 30
