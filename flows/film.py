"""process_film: ingest, shot detection, keyframes and per-shot cleaning of one film.

Orchestration only: every stage is a task from :mod:`tasks.stages`; this flow
decides what runs, records each step in the catalog (status, events, files
with their sha256) and keeps going when one shot fails. A film whose file is
unusable is recorded as failed with the reason, and the flow raises so that
the collection run (and the Prefect UI) shows it as failed.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from catalog import repo
from catalog.db import session_scope
from catalog.models import Collection, EventType, Film, Outcome, Shot, Status
from flows import artifacts, sound
from flows._record import event, run_row, sha256_file
from flows.options import FilmInput, RunOptions
from foleyflow.provenance import agent
from foleyflow.settings import get_settings
from tasks import stages


class FilmFailed(RuntimeError):
    """The film could not be (fully) processed; the message is the catalog's error text."""


@flow(name="process-film", flow_run_name="film-{film.title}", log_prints=True)
def process_film(film: FilmInput, options: RunOptions | None = None, collection_id: int | None = None,
                 run_id: int | None = None) -> dict:
    """Process one film; returns ``{"film_id", "path", "status", "error", "shots", "failed_shots"}``.

    Raises:
        FilmFailed: the film (or some of its shots) failed; the catalog says why.
    """
    options = options or RunOptions()
    logger = get_run_logger()
    settings = get_settings()
    path = Path(film.path)

    # 1. fixity: without a readable file there is nothing to catalog.
    try:
        sha256 = stages.fixity(path)
    except Exception as exc:  # noqa: BLE001 - recorded and re-raised with the reason
        with session_scope() as s:
            run = run_row(s, run_id)
            event(s, EventType.MESSAGE_DIGEST_CALCULATION, Outcome.FAILURE, agent(),
                  detail=f"{path}: {exc}", run=run)
        raise FilmFailed(str(exc)) from exc

    with session_scope() as s:
        collection = s.get(Collection, collection_id) if collection_id else None
        run = run_row(s, run_id)
        row = repo.upsert_film(s, sha256=sha256, path=str(path), title=film.title, description=film.description,
                               negative_prompt=film.negative_prompt, size_bytes=path.stat().st_size,
                               collection=collection)
        film_id = row.id
        repo.set_film_status(s, row, Status.RUNNING)
        event(s, EventType.FIXITY_CHECK, Outcome.SUCCESS, agent(), detail=f"sha256 {sha256}", film=row, run=run)

    def fail(reason: str, event_type: EventType) -> FilmFailed:
        with session_scope() as s:
            row = s.get(Film, film_id)
            repo.set_film_status(s, row, Status.FAILED, error=reason)
            event(s, event_type, Outcome.FAILURE, agent("av"), detail=reason, film=row,
                  run=run_row(s, run_id))
        logger.error("film %s failed: %s", film.title, reason)
        return FilmFailed(reason)

    # 2. probe
    try:
        probe = stages.probe(path, film_id)
    except Exception as exc:  # noqa: BLE001
        raise fail(str(exc), EventType.METADATA_EXTRACTION) from exc
    with session_scope() as s:
        row = s.get(Film, film_id)
        repo.upsert_film(s, sha256=sha256, path=str(path), probe=probe.catalog_fields())
        event(s, EventType.METADATA_EXTRACTION, Outcome.SUCCESS, agent("av"),
              detail=f"{probe.frame_count} frames at {probe.fps:.3f} fps, {probe.width}x{probe.height} "
                      f"{probe.video_codec}, {len(probe.audio_tracks)} audio track(s)", film=row,
               run=run_row(s, run_id))

    # 3. shots and keyframes
    film_dir = settings.film_dir(sha256)
    shot_config = options.shot_config()
    try:
        shot_state = stages.shots(path, sha256, film_id, shot_config, return_state=True)
        shot_list = shot_state.result()
    except Exception as exc:  # noqa: BLE001
        raise fail(f"shot detection failed: {exc}", EventType.SHOT_DETECTION) from exc
    cached = shot_state.name == "Cached"
    with session_scope() as s:
        row = s.get(Film, film_id)
        run = run_row(s, run_id)
        shot_rows = repo.sync_shots(s, row, [
            {"index": sh.index, "start_frame": sh.start_frame, "end_frame": sh.end_frame,
             "start_s": sh.start, "end_s": sh.end} for sh in shot_list.shots])
        for sh in shot_rows:
            override = film.shot_overrides.get(sh.index)
            if override is not None:
                sh.prompt, sh.negative_prompt = override.description, override.negative_prompt
        if not cached:
            event(s, EventType.SHOT_DETECTION, Outcome.SUCCESS, agent("scenedetect"),
                  detail=f"{len(shot_list.shots)} shots; cuts at frames "
                          f"{[x.start_frame for x in shot_list.shots[1:]]}",
                   outcome_detail={"config": shot_config.cache_key_part()}, film=row, run=run)
        shot_ids = {sh.index: sh.id for sh in shot_rows}

    with session_scope() as s:  # the catalog first: keyframes recorded and on disk need no new pass
        have_keyframes = all(
            (shot := s.get(Shot, shot_ids[sh.index])).keyframe_sha256 and Path(shot.keyframe_path or "").exists()
            for sh in shot_list.shots)
    kf_state = None if have_keyframes else stages.keyframes(path, sha256, film_id, shot_list, film_dir / "keyframes",
                                                             return_state=True)
    if kf_state is None:
        pass
    elif kf_state.is_completed():
        thumbs = kf_state.result()
        with session_scope() as s:
            run = run_row(s, run_id)
            for sh, thumb in zip(shot_list.shots, thumbs):
                shot = s.get(Shot, shot_ids[sh.index])
                digest = sha256_file(Path(thumb))
                shot.keyframe_path, shot.keyframe_sha256 = str(thumb), digest
                repo.record_file(s, kind="keyframe", path=str(thumb), sha256=digest,
                                 size_bytes=Path(thumb).stat().st_size, film=s.get(Film, film_id),
                                 shot=shot, run=run)
                if kf_state.name != "Cached":
                    event(s, EventType.KEYFRAME_EXTRACTION, Outcome.SUCCESS, agent("av"), detail=str(thumb),
                          film=s.get(Film, film_id), shot=shot, run=run)
    else:
        logger.warning("keyframes failed: %s", kf_state.message)

    # 4. clean every shot that is not done yet (done shots with their file are cache hits anyway).
    clean_config = options.clean_config()
    cfg_key = clean_config.cache_key_part()[:12]
    suffix = ".mkv" if clean_config.codec == "ffv1" else ".mp4"
    cleaned, failed, ran = _clean_shots(path, sha256, film_id, run_id, shot_list, shot_ids, clean_config,
                                        film_dir, f"cleaned-{cfg_key}{suffix}", options.max_workers,
                                        final=not options.sound)
    parts = [cleaned[sh.index] for sh in shot_list.shots if sh.index in cleaned]

    # 5. one cleaned film to watch, when every shot is clean.
    dst = film_dir / f"cleaned-{cfg_key}{suffix}"
    with session_scope() as s:
        up_to_date = not ran and s.get(Film, film_id).cleaned_path == str(dst) and dst.exists()
    if not failed and not up_to_date:
        try:
            out = stages.assemble(parts, dst, film_id)
        except Exception as exc:  # noqa: BLE001
            failed.append(f"assembling the cleaned film: {exc}")
        else:
            with session_scope() as s:
                row = s.get(Film, film_id)
                digest = sha256_file(out)
                row.cleaned_path, row.cleaned_sha256 = str(out), digest
                repo.record_file(s, kind="cleaned_film", path=str(out), sha256=digest,
                                 size_bytes=out.stat().st_size, film=row,
                                 run=run_row(s, run_id))

    # 6. sound: a timing curve and generated candidates per shot, the best one picked;
    # 7. the film's track stitched from them and delivered with the picture.
    if options.sound:
        try:  # 6a. dialogue: the film's SRT beside it, or the shot overrides' lines
            from tasks.voices import film_dialogue

            dialogue = film_dialogue(path, [(sh.index, sh.start, sh.end) for sh in shot_list.shots],
                                     {i: (o.dialogue, o.voice) for i, o in film.shot_overrides.items() if o.dialogue})
        except ValueError as exc:
            raise fail(f"dialogue: {exc}", EventType.VALIDATION) from exc
        failed += sound.shots_sound(path, sha256, film_id, run_id, shot_list, shot_ids, cleaned, options,
                                    dialogue=dialogue)
        if not failed:
            cleaned_film = _film_cleaned_path(film_id)
            picture = Path(cleaned_film) if options.picture == "cleaned" and cleaned_film else path
            try:
                sound.deliver_film(path, picture, film_id, run_id, shot_list, shot_ids, film_dir, options,
                                   dialogue=dialogue, cleaned=cleaned)
            except Exception as exc:  # noqa: BLE001
                reason = f"delivery failed: {type(exc).__name__}: {exc}"
                logger.error(reason)
                failed.append(reason)

    with session_scope() as s:
        row = s.get(Film, film_id)
        if failed:
            repo.set_film_status(s, row, Status.FAILED,
                                 error=f"{len(failed)} of {len(shot_list.shots)} shot(s) failed: " + "; ".join(failed))
        else:
            repo.set_film_status(s, row, Status.DONE)
        report = repo.status_report(s, film_id=film_id)["films"][0]
    _shot_table(film_id, film.title, report)
    if failed:
        raise FilmFailed(report["error"])
    return {"film_id": film_id, "path": str(path), "status": report["status"], "error": None,
            "shots": len(report["shots"]), "failed_shots": 0}


def _film_cleaned_path(film_id: int) -> str | None:
    with session_scope() as s:
        return s.get(Film, film_id).cleaned_path


def _clean_shots(path: Path, sha256: str, film_id: int, run_id: int | None, shot_list, shot_ids: dict[int, int],
                 clean_config, film_dir: Path, name: str, max_workers: int,
                 final: bool = True) -> tuple[dict[int, Path], list[str], int]:
    """Clean every shot not done yet, at most ``max_workers`` at a time, recording each in the catalog.

    The bound is kept here, not left to the task runner: every shot in flight holds its decoder,
    its cleaning windows and its encoder, so submitting a whole film at once would make memory grow
    with the number of shots. Shots are recorded in order as they finish.

    ``final=False`` (sound follows) leaves a cleaned shot "running" until its sound is done; a shot
    whose cleaned file is on disk is taken as cleaned whatever its status.

    Returns:
        (cleaned file by shot index, failure reasons, number of shots that ran)
    """
    parts: dict[int, Path] = {}
    failed: list[str] = []
    todo: list[tuple[int, Path]] = []
    with session_scope() as s:
        for sh in shot_list.shots:
            dst = film_dir / "shots" / f"{sh.index:04d}-{sh.start_frame}-{sh.end_frame}" / name
            shot = s.get(Shot, shot_ids[sh.index])
            if shot.cleaned_path == str(dst) and shot.cleaned_sha256 and dst.exists():
                parts[sh.index] = dst  # the catalog says it is cleaned: nothing to run
            else:
                todo.append((sh.index, dst))
    by_index = {sh.index: sh for sh in shot_list.shots}
    in_flight: deque = deque()

    def submit(index: int, dst: Path) -> None:
        sh = by_index[index]
        with session_scope() as s:
            repo.set_shot_status(s, s.get(Shot, shot_ids[index]), Status.RUNNING)
        in_flight.append((index, stages.clean_shot.submit(path, sha256, film_id, index, sh.start_frame,
                                                          sh.end_frame, clean_config, dst)))

    def record(index: int, future) -> None:
        future.wait()
        state = future.state
        with session_scope() as s:
            shot = s.get(Shot, shot_ids[index])
            row = s.get(Film, film_id)
            run = run_row(s, run_id)
            if state.is_completed():
                result = state.result()
                digest = sha256_file(result.output)
                shot.cleaned_path, shot.cleaned_sha256 = str(result.output), digest
                repo.record_file(s, kind="cleaned_video", path=str(result.output), sha256=digest,
                                 size_bytes=result.output.stat().st_size, film=row, shot=shot, run=run)
                if state.name != "Cached":
                    event(s, EventType.CLEANING, Outcome.SUCCESS, agent("opencv-python-headless", "av"),
                          detail=f"steps {','.join(clean_config.steps) or 'none'}; {result.frames} frames",
                          outcome_detail=result.to_json(), film=row, shot=shot, run=run)
                if final:
                    repo.set_shot_status(s, shot, Status.DONE)
                parts[index] = result.output
            else:
                try:
                    state.result()
                    reason = state.message or "unknown error"
                except Exception as exc:  # noqa: BLE001
                    reason = f"{type(exc).__name__}: {exc}"
                repo.set_shot_status(s, shot, Status.FAILED, error=reason)
                event(s, EventType.CLEANING, Outcome.FAILURE, agent("opencv-python-headless", "av"),
                      detail=reason, film=row, shot=shot, run=run)
                failed.append(f"shot {index}: {reason}")

    for index, dst in todo:
        if len(in_flight) >= max_workers:
            record(*in_flight.popleft())
        submit(index, dst)
    while in_flight:
        record(*in_flight.popleft())
    return parts, failed, len(todo)


def _shot_table(film_id: int, title: str, report: dict) -> None:
    rows = [{"shot": sh["index"], "frames": f"{sh['start_frame']}-{sh['end_frame'] - 1}",
             "status": sh["status"], "error": sh["error"] or ""} for sh in report["shots"]]
    description = f"Shots of {title}"
    try:  # with each shot's sound, review and links where there is sound
        rows, description = artifacts.film_table(film_id, report)
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning("shot table without sound columns: %s", exc)
    try:
        create_table_artifact(key=f"film-{film_id}-shots", table=rows, description=description)
    except Exception:  # noqa: BLE001 - artifacts are a view, never a reason to fail a film
        get_run_logger().warning("could not write the shot table artifact")
