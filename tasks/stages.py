"""Prefect task definitions of the film stages, with stable cache keys.

The stage logic lives in plain modules (:mod:`tasks.ingest`, :mod:`tasks.shots`,
:mod:`tasks.clean`, :mod:`tasks.assemble`) and is testable without Prefect;
this module only wraps it for orchestration. Tasks take and return references
(paths, small dataclasses), never frame arrays, and write nothing to the
catalog: the film flow records what they did.

Cache keys are built from what determines the result: the film's sha256, the
frame range, the parameters and the output path. A key whose output file has
gone missing is never a hit, so deleting a cleaned file makes the next run
redo exactly that shot.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import TaskRunContext

from tasks.assemble import concat_parts
from tasks.clean import CleanConfig, CleanResult, clean_video
from tasks.features import TimingConfig, TimingCurve, timing_curve
from tasks.generate import GenerateConfig, ShotSound, generate_shot
from tasks.ingest import Probe, probe_video, sha256_file
from tasks.shots import ShotConfig, ShotList, detect_shots, write_keyframes

CACHE_VERSION = "1"  # bump to invalidate every cached stage result


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _outputs_exist(*paths: str | Path) -> bool:
    return all(Path(p).exists() for p in paths)


@task(name="fixity", task_run_name="fixity-{path.name}", retries=1, retry_delay_seconds=2)
def fixity(path: Path) -> str:
    """sha256 of the film file (computed on every run: it is the fixity check)."""
    return sha256_file(path)


@task(name="probe", task_run_name="film-{film_id}-probe")
def probe(path: Path, film_id: int) -> Probe:
    """PyAV probe; raises IngestError for unusable files."""
    return probe_video(path)


def _shots_key(ctx: TaskRunContext, p: dict[str, Any]) -> str:
    return "shots-" + _digest(CACHE_VERSION, p["sha256"], p["config"].cache_key_part())


@task(name="detect-shots", task_run_name="film-{film_id}-shots", cache_key_fn=_shots_key, persist_result=True)
def shots(path: Path, sha256: str, film_id: int, config: ShotConfig) -> ShotList:
    """Shot boundaries of the whole film (PySceneDetect on brightness-normalised frames)."""
    return detect_shots(path, config=config)


def _keyframes_key(ctx: TaskRunContext, p: dict[str, Any]) -> str | None:
    shot_list: ShotList = p["shot_list"]
    expected = [Path(p["out_dir"]) / f"shot-{s.index:04d}.jpg" for s in shot_list.shots]
    if not _outputs_exist(*expected):
        return None  # nothing cached can be trusted: write them
    return "keyframes-" + _digest(CACHE_VERSION, p["sha256"], shot_list.to_json(), str(p["out_dir"]))


@task(name="keyframes", task_run_name="film-{film_id}-keyframes", cache_key_fn=_keyframes_key, persist_result=True)
def keyframes(path: Path, sha256: str, film_id: int, shot_list: ShotList, out_dir: Path) -> list[Path]:
    """One thumbnail per shot, in one streaming pass over the film."""
    return write_keyframes(path, shot_list, out_dir)


def _clean_key(ctx: TaskRunContext, p: dict[str, Any]) -> str | None:
    if not _outputs_exist(p["dst"]):
        return None
    return "clean-" + _digest(CACHE_VERSION, p["sha256"], p["start"], p["stop"], p["config"].cache_key_part(), str(p["dst"]))


@task(
    name="clean-shot",
    task_run_name="film-{film_id}-shot-{index:04d}-clean",
    cache_key_fn=_clean_key,
    persist_result=True,
)
def clean_shot(path: Path, sha256: str, film_id: int, index: int, start: int, stop: int,
               config: CleanConfig, dst: Path) -> CleanResult:
    """Clean frames [start, stop) of the film into ``dst`` (lossless by default)."""
    return clean_video(path, dst, start=start, stop=stop, config=config)


def _assemble_key(ctx: TaskRunContext, p: dict[str, Any]) -> str | None:
    if not _outputs_exist(p["dst"], *p["parts"]):
        return None
    stats = [(str(x), Path(x).stat().st_size, Path(x).stat().st_mtime_ns) for x in p["parts"]]
    return "assemble-" + _digest(CACHE_VERSION, stats, str(p["dst"]))


@task(name="assemble", task_run_name="film-{film_id}-assemble", cache_key_fn=_assemble_key, persist_result=True)
def assemble(parts: list[Path], dst: Path, film_id: int) -> Path:
    """Join the cleaned shots into one film-length file (packet copy, no re-encode)."""
    return concat_parts(parts, dst)


# --- sound: timing curve, generation, soundtrack, delivery ---------------------------------------

def _timing_key(ctx: TaskRunContext, p: dict[str, Any]) -> str | None:
    if not _outputs_exist(p["dst"], p["cleaned"]):
        return None
    return "timing-" + _digest(CACHE_VERSION, p["cleaned_sha256"], p["config"], str(p["dst"]))


@task(name="timing", task_run_name="film-{film_id}-shot-{index:04d}-timing", cache_key_fn=_timing_key,
      persist_result=True)
def timing(cleaned: Path, cleaned_sha256: str, film_id: int, index: int, dst: Path,
           config: TimingConfig = TimingConfig()) -> Path:
    """The shot's timing curve (onsets and sustain on the audio grid) from its cleaned frames."""
    return timing_curve(cleaned, 0, None, config=config).to_npz(dst)


def _generate_key(ctx: TaskRunContext, p: dict[str, Any]) -> str | None:
    return None  # the catalog decides what is done (see flows/film.py); WAVs are content-addressed


@task(name="generate", task_run_name="film-{film_id}-shot-{index:04d}-generate", cache_key_fn=_generate_key,
      tags=["foleyflow-generate"])  # `prefect concurrency-limit create foleyflow-generate N`: N generations at once
def generate(timing_file: Path, timing_sha256: str, film_id: int, index: int, prompt: str, negative_prompt: str,
             seeds: list[int], out_dir: Path, config: GenerateConfig, transcript: bool = False) -> ShotSound:
    """N candidates for one shot, checked, the best one selected (raises GenerationRejected)."""
    from models.registry import get_generator

    return generate_shot(get_generator(config.generator), TimingCurve.from_npz(timing_file), prompt=prompt,
                         negative_prompt=negative_prompt, seeds=seeds, out_dir=out_dir, config=config,
                         timing_sha256=timing_sha256, transcript=transcript)


@task(name="soundtrack", task_run_name="film-{film_id}-soundtrack")
def soundtrack(shots: list[tuple[float, float, str]], duration_s: float, film_id: int, dst: Path,
               crossfade_s: float = 0.1, target_lufs: float = -23.0, margin_s: float = 0.05) -> Path:
    """The film's generated track: each shot's selected WAV placed by timecode, crossfaded, normalised."""
    from tasks.stitch import read_wav, stitch, write_wav

    placed, sr = [], None
    for start, end, wav in shots:
        audio, rate = read_wav(wav)
        if sr is not None and rate != sr:
            raise ValueError(f"{wav}: {rate} Hz, but the other shots are {sr} Hz")
        sr = rate
        placed.append((start, end, audio))
    track = stitch(placed, duration_s, sr, crossfade_s=crossfade_s, margin_s=margin_s, target_lufs=target_lufs)
    return write_wav(dst, track, sr)


@task(name="deliver", task_run_name="film-{film_id}-deliver")
def deliver(picture: Path, track: Path, film_id: int, dst: Path, existing_audio: str, tags: dict[str, str],
            existing_audio_from: Path | None = None) -> Path:
    """Picture and generated track in one MP4 (AAC, as long as the picture); the film's own audio kept or not."""
    from tasks.deliver import mux

    return mux(picture, track, None, dst, existing_audio=existing_audio, tags=tags,
               existing_audio_from=existing_audio_from)
