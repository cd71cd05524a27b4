"""The sound half of process_film: timing, generation and delivery, recorded in the catalog.

Orchestration only (the work is in :mod:`tasks.stages`). Per shot, in order:
the timing curve of its cleaned frames (``film-{film}-shot-{index:04d}-timing``),
then N candidates from the generator, checked and one selected
(``...-generate``). A shot whose sound fails is recorded as failed with the
reason and the other shots go on. When every shot has its sound, the film's
track is stitched (crossfades at the cuts, EBU R128 loudness), kept as a WAV
stem, and muxed with the picture into the delivered MP4.

What is done is read from the catalog: a shot whose selected generation was
made with the same parameters (model and weights, prompt, negative prompt,
seeds, steps, guidance, timing) and whose file is still on disk is not
generated again. A shot an archivist accepted keeps its sound whatever
changed since; a re-run (``options.only_shots``) redoes the shots it names
and leaves every other shot's sound as it is. Each delivery is a new
version in the catalog, linked to the one before.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from prefect import get_run_logger

from catalog import repo
from catalog.db import session_scope
from catalog.models import EventType, Film, Generation, Outcome, Shot, Status, Watermark
from flows import artifacts
from flows._record import event, run_row, sha256_file
from foleyflow.provenance import agent, code_version
from tasks import stages
from tasks.features import TimingConfig, TimingCurve, timing_path
from tasks.generate import candidate_seeds, expected_params_hash


WATERMARK_METHOD = "foleyflow-tile-qim-v5"


def _fail_shot(shot_id: int, film_id: int, run_id: int | None, event_type: EventType, reason: str) -> None:
    with session_scope() as s:
        shot = s.get(Shot, shot_id)
        repo.set_shot_status(s, shot, Status.FAILED, error=reason)
        event(s, event_type, Outcome.FAILURE, agent("torch", "diffusers"), detail=reason,
              film=s.get(Film, film_id), shot=shot, run=run_row(s, run_id))


def shots_sound(path: Path, sha256: str, film_id: int, run_id: int | None, shot_list, shot_ids: dict[int, int],
                cleaned: dict[int, Path], options, dialogue: dict | None = None) -> list[str]:
    """Timing and generation for every cleaned shot; returns the failure reasons ("shot N: ...")."""
    logger = get_run_logger()
    config = options.generate_config()
    failed: list[str] = []
    try:
        from models.registry import get_generator

        generator = get_generator(config.generator)
    except Exception as exc:  # noqa: BLE001 - one clear reason for every shot
        reason = f"generator {config.generator} is not available: {exc}"
        for sh in shot_list.shots:
            if sh.index in cleaned:
                _fail_shot(shot_ids[sh.index], film_id, run_id, EventType.GENERATION, reason)
        return [reason]

    with session_scope() as s:
        film = s.get(Film, film_id)
        film_prompt, film_negative = film.description or "", film.negative_prompt or ""
    for sh in shot_list.shots:
        if sh.index not in cleaned:
            continue  # cleaning failed: already recorded
        shot_id, part = shot_ids[sh.index], cleaned[sh.index]
        # 1. timing curve from the cleaned frames
        dst = timing_path(part)
        with session_scope() as s:
            shot = s.get(Shot, shot_id)
            cleaned_sha = shot.cleaned_sha256 or sha256_file(part)
            prompt = shot.prompt if shot.prompt is not None else film_prompt
            negative = shot.negative_prompt if shot.negative_prompt is not None else film_negative
            reroll = shot.reroll or 0
        state = stages.timing(part, cleaned_sha, film_id, sh.index, dst, TimingConfig(), return_state=True)
        if not state.is_completed():
            reason = _reason(state)
            _fail_shot(shot_id, film_id, run_id, EventType.FEATURE_EXTRACTION, f"timing curve: {reason}")
            failed.append(f"shot {sh.index}: timing curve: {reason}")
            continue
        timing_file = Path(state.result())
        timing_sha = sha256_file(timing_file)
        curve = TimingCurve.from_npz(timing_file)
        with session_scope() as s:
            shot, film, run = s.get(Shot, shot_id), s.get(Film, film_id), run_row(s, run_id)
            if shot.timing_sha256 != timing_sha:
                shot.timing_path, shot.timing_sha256 = str(timing_file), timing_sha
                repo.record_file(s, kind="timing_curve", path=str(timing_file), sha256=timing_sha,
                                 size_bytes=timing_file.stat().st_size, film=film, shot=shot, run=run)
                event(s, EventType.FEATURE_EXTRACTION, Outcome.SUCCESS, agent("opencv-python-headless", "av"),
                      detail=f"{len(curve.onset_times)} onsets at {[round(t, 3) for t in curve.onset_times]} s",
                      film=film, shot=shot, run=run)

        # 2. candidates, checks, selection (skipped when the catalog has this very generation, when an
        # archivist accepted the shot's sound, or when a re-run redoes other shots only)
        seeds = candidate_seeds(sha256, sh.index, config.seed, config.candidates, reroll)
        digest = expected_params_hash(generator, curve, prompt=prompt, negative_prompt=negative, seeds=seeds,
                                      config=config, timing_sha256=timing_sha)
        with session_scope() as s:
            shot = s.get(Shot, shot_id)
            decisions = repo.reviews(s, shot)
            keep = (decisions and decisions[-1].decision == "accept") or (
                options.only_shots is not None and shot_id not in options.only_shots)
            done = repo.selected_generation(s, shot, params_hash=None if keep else digest)
            reuse = done is not None and Path(done.audio_path).exists() and sha256_file(Path(done.audio_path)) == done.audio_sha256
            if reuse:
                repo.set_shot_status(s, shot, Status.DONE)
        if reuse:
            artifacts.write_shot_artifact(film_id, shot_id)  # the review page shows it on this server too
            continue
        out_dir = part.parent / "sound"
        state = stages.generate(timing_file, timing_sha, film_id, sh.index, prompt, negative, seeds, out_dir, config,
                                transcript=bool((dialogue or {}).get(sh.index)), return_state=True)
        if not state.is_completed():
            reason = _reason(state)
            logger.error("shot %s: generation failed: %s", sh.index, reason)
            _fail_shot(shot_id, film_id, run_id, EventType.GENERATION, reason)
            failed.append(f"shot {sh.index}: {reason}")
            continue
        result = state.result()
        with session_scope() as s:
            shot, film, run = s.get(Shot, shot_id), s.get(Film, film_id), run_row(s, run_id)
            rows = repo.add_generations(s, shot, [{
                "seed": c.seed, "prompt": result.prompt, "negative_prompt": result.negative_prompt,
                "model_id": result.model_id, "weights_sha256": result.weights_sha256, "scheduler": result.scheduler,
                "steps": result.steps, "guidance": result.guidance, "duration_s": result.duration_s,
                "params_hash": result.params_hash, "audio_path": str(c.path), "audio_sha256": c.sha256,
                "scores": c.scores, "selected": c.selected, "attributions": c.attributions,
            } for c in result.candidates], run=run)
            for c in result.candidates:
                repo.record_file(s, kind="generated_audio", path=str(c.path), sha256=c.sha256,
                                 size_bytes=c.path.stat().st_size, film=film, shot=shot, run=run)
            who = f"{agent('torch', 'diffusers')}; {result.model_id} ({result.weights_sha256[:12]})"
            event(s, EventType.GENERATION, Outcome.SUCCESS, who,
                  detail=f"{len(rows)} candidate(s), seeds {[c.seed for c in result.candidates]}, "
                          f"{result.steps} steps, guidance {result.guidance}; prompt {result.prompt!r}, "
                          f"negative {result.negative_prompt!r}",
                   outcome_detail={"generation_ids": [r.id for r in rows], "params_hash": result.params_hash},
                   film=film, shot=shot, run=run)
            best = result.best
            event(s, EventType.QUALITY_CHECK, Outcome.SUCCESS, agent("pyloudnorm"),
                  detail=f"selected candidate {best.index} (seed {best.seed}): sync {best.scores.get('sync')}, "
                          f"{best.scores.get('lufs')} LUFS",
                   outcome_detail={"scores": [c.scores for c in result.candidates], "selected": best.index},
                   film=film, shot=shot, run=run)
            repo.set_shot_status(s, shot, Status.DONE)
        artifacts.write_shot_artifact(film_id, shot_id)  # keyframe, spectrogram, candidates: never fails the film
    return failed


def deliver_film(original: Path, picture: Path, film_id: int, run_id: int | None, shot_list,
                 shot_ids: dict[int, int], film_dir: Path, options, dialogue: dict | None = None,
                 cleaned: dict[int, Path] | None = None) -> Path:
    """Stitch the shots' selected sound into the film's track and mux it with ``picture``.

    Raises:
        RuntimeError: a shot has no selected sound (the caller records the film as failed).
    """
    from tasks.deliver import picture_duration

    shots, generation_ids, model = [], [], None
    with session_scope() as s:
        film = s.get(Film, film_id)
        title = film.title or original.stem
        for sh in shot_list.shots:
            g = repo.selected_generation(s, s.get(Shot, shot_ids[sh.index]))
            if g is None or not Path(g.audio_path).exists():
                raise RuntimeError(f"shot {sh.index} has no generated sound; re-run the film")
            shots.append((sh.start, sh.end, g.audio_path))
            generation_ids.append(g.id)
            model = (g.model_id, g.weights_sha256)
    out_dir = film_dir / "delivery"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", original.stem).strip("-") or "film"
    # named by what decides them, so an unchanged film is not delivered again
    key = hashlib.sha256(repr((generation_ids, str(picture), picture.stat().st_size, options.crossfade_s,
                               options.target_lufs, options.existing_audio, sorted((dialogue or {}).items())))
                         .encode()).hexdigest()[:10]
    wav, mp4 = out_dir / f"{stem}-{key}.generated.wav", out_dir / f"{stem}-{key}.mp4"
    with session_scope() as s:
        film = s.get(Film, film_id)
        if film.delivery_path == str(mp4) and mp4.exists() and film.soundtrack_path == str(wav) and wav.exists():
            return mp4
    duration = picture_duration(picture)
    track = stages.soundtrack(shots, duration, film_id, wav,
                              crossfade_s=options.crossfade_s, target_lufs=options.target_lufs,
                              margin_s=options.crossfade_s / 2)
    tags = {"title": title, "comment": f"soundtrack generated by {code_version()} with {model[0]}",
            "foleyflow_model": model[0], "foleyflow_weights_sha256": model[1], "foleyflow_film_id": str(film_id),
            "foleyflow_generation_ids": ",".join(map(str, generation_ids))}
    voices = _voices(track, out_dir / f"{stem}-{key}.speech.rttm", film_id, run_id, shot_list, dialogue or {},
                     cleaned or {}, options)
    mark = _watermark_track(track, film_id, run_id, generation_ids)
    tags["foleyflow_watermark_id"] = str(mark["id"])
    delivered = stages.deliver(picture, track, film_id, mp4, options.existing_audio, tags,
                               existing_audio_from=None if picture == original else original)
    # sign last: any later remux would drop the manifests
    _sign(film_id, run_id, [delivered, track], original, generation_ids, mark, model)
    with session_scope() as s:
        film, run = s.get(Film, film_id), run_row(s, run_id)
        track_sha, out_sha = sha256_file(track), sha256_file(delivered)
        film.soundtrack_path, film.soundtrack_sha256 = str(track), track_sha
        film.delivery_path, film.delivery_sha256 = str(delivered), out_sha
        version = repo.add_delivery(s, film, path=str(delivered), sha256=out_sha, soundtrack_path=str(track),
                                    soundtrack_sha256=track_sha, generation_ids=generation_ids, run=run)
        s.get(Watermark, mark["id"]).delivery_id = version.id
        repo.record_speech_segments(s, film, version, _speech_rows(voices, shot_list, shot_ids))
        repo.record_file(s, kind="soundtrack", path=str(track), sha256=track_sha, size_bytes=track.stat().st_size,
                         film=film, run=run)
        repo.record_file(s, kind="delivery", path=str(delivered), sha256=out_sha,
                         size_bytes=delivered.stat().st_size, film=film, run=run)
        event(s, EventType.STITCHING, Outcome.SUCCESS, agent("pyloudnorm", "scipy"),
              detail=f"{len(shots)} shot(s), crossfade {options.crossfade_s} s, {options.target_lufs} LUFS, "
                      f"{duration:.3f} s", film=film, run=run)
        event(s, EventType.CREATION, Outcome.SUCCESS, agent("av"),
              detail=f"delivered {delivered.name}: {'cleaned' if picture != original else 'original'} picture, "
                      f"generated AAC track, existing audio {options.existing_audio}; version {version.version}"
                      + (f" (replaces version {version.version - 1})" if version.predecessor_id else ""),
              outcome_detail={"delivery_id": version.id, "predecessor_id": version.predecessor_id,
                              "generation_ids": generation_ids}, film=film, run=run)
    return delivered


def _speech_rows(voices: dict, shot_list, shot_ids: dict[int, int]) -> list[dict]:
    """The catalog's speech_segment rows of a delivery: speaking intervals per shot, placed lines, heard speech."""
    def shot_at(t: float) -> int | None:
        for sh in shot_list.shots:
            if sh.start <= t < sh.end:
                return shot_ids.get(sh.index)
        return None

    rows = [{"kind": "speaking", "start_s": a, "end_s": b, "shot_id": shot_ids.get(index)}
            for index, spans in voices["speaking"].items() for a, b in spans]
    rows += [{"kind": "line", "start_s": p["start"], "end_s": p["end"], "shot_id": shot_at(p["start"]),
              "label": f"{p['speaker']}: {p['text']}" if p.get("speaker") else p["text"]}
             for p in voices["spoken"].get("placed", [])]
    rows += [{"kind": "speech", "start_s": a, "end_s": b, "shot_id": shot_at(a)} for a, b in voices["heard"]["segments"]]
    return rows


def _voices(track: Path, rttm: Path, film_id: int, run_id: int | None, shot_list, dialogue: dict, cleaned: dict,
            options) -> dict:
    """Dialogue into the stitched track (when the film has any), then the speech check of the finished
    track, as RTTM beside the delivery; both recorded as events (the caller records the segments).

    Returns ``{"heard": speech check, "spoken": dialogue record, "speaking": {shot index: [(start, end)]}}``,
    times in film seconds.
    """
    from tasks.speaking import speaking_intervals
    from tasks.stitch import normalise, read_wav, write_wav
    from tasks.voices import ShotDialogue, add_dialogue, speech_record

    logger = get_run_logger()
    audio, sr = read_wav(track)
    spoken: dict = {"lines": 0}
    speaking: dict[int, list[tuple[float, float]]] = {}
    if dialogue:
        shots = []
        for sh in shot_list.shots:
            lines = dialogue.get(sh.index)
            if not lines:
                continue
            intervals = None
            if sh.index in cleaned:
                try:
                    intervals = speaking_intervals(cleaned[sh.index]).intervals
                except Exception as exc:  # noqa: BLE001 - the lines then keep their own times
                    logger.warning("shot %s: speaking intervals not found (%s); lines keep their own times",
                                   sh.index, exc)
            if intervals:
                speaking[sh.index] = [(round(sh.start + a, 3), round(sh.start + b, 3)) for a, b in intervals]
            shots.append(ShotDialogue(sh.index, sh.start, sh.end, list(lines), intervals))
        audio, spoken = add_dialogue(audio, sr, shots)
        audio = normalise(audio, sr, target_lufs=options.target_lufs)
        write_wav(track, audio, sr)
    heard = speech_record(audio, sr, dialogue=spoken, rttm=rttm, uri=f"film-{film_id}",
                          model_path=options.generate_config().speech_model)
    with session_scope() as s:
        film, run = s.get(Film, film_id), run_row(s, run_id)
        if spoken["lines"]:
            event(s, EventType.CREATION, Outcome.SUCCESS, agent("audiotsm"),
                  detail=f"dialogue: {spoken['lines']} line(s) spoken ({spoken['overruns']} past their interval), "
                          f"{spoken['inside_speaking_intervals']} of the speech inside the speaking intervals",
                  outcome_detail=spoken, film=film, run=run)
        repo.record_file(s, kind="speech_rttm", path=str(rttm), sha256=sha256_file(rttm),
                         size_bytes=rttm.stat().st_size, film=film, run=run)
        event(s, EventType.QUALITY_CHECK, Outcome.SUCCESS, agent("pyannote.audio"),
              detail=f"speech check: {len(heard['segments'])} speech segment(s), {heard['speech_s']} s"
                      + (f", detection error rate {heard['speech_der']} against the placed lines"
                         if "speech_der" in heard else ""),
              outcome_detail={**heard, "rttm": str(rttm)}, film=film, run=run)
    if heard["unwanted_speech"]:
        logger.warning("film %s: speech heard in a track without dialogue: %s", film_id, heard["segments"])
    return {"heard": heard, "spoken": spoken, "speaking": speaking}


def _watermark_track(track: Path, film_id: int, run_id: int | None, generation_ids: list[int]) -> dict:
    """Embed a keyed watermark whose payload is a new catalog ``watermark`` row's id, in place (atomic).

    The SNR against the unmarked track must reach 30 dB, else the film fails with the reason; a mark that
    does not read back (a short or very quiet track) is recorded as a failed watermarking event and the
    film is still delivered.
    """
    from tasks import watermark
    from tasks.stitch import read_wav, write_wav

    key = watermark.load_key()
    audio, sr = read_wav(track)
    with session_scope() as s:
        film = s.get(Film, film_id)
        row = repo.issue_watermark(s, film, method=WATERMARK_METHOD, key_fingerprint=key.fingerprint,
                                   generation_ids=generation_ids)
        payload = row.id
    marked = watermark.embed(audio, sr, payload, key)
    snr = watermark.snr_db(audio, marked)
    check = watermark.detect(marked, sr, key)
    with session_scope() as s:
        film, run, row = s.get(Film, film_id), run_row(s, run_id), s.get(Watermark, payload)
        if snr < 30.0:  # audible: never delivered
            reason = f"watermark would be audible (SNR {snr:.1f} dB < 30 dB)"
            event(s, EventType.WATERMARKING, Outcome.FAILURE, agent("numpy", "scipy"), detail=reason, film=film,
                  run=run)
            raise RuntimeError(reason)
        write_wav(track, marked, sr)
        if not (check.present and check.payload == payload):
            # embedded but not read back (a short or very quiet track): the film is still delivered, and the
            # catalog says plainly that this delivery's mark cannot be relied on
            row.marked_sha256, row.snr_db = sha256_file(track), float(snr)
            get_run_logger().warning("film %s: the watermark (payload %d) was embedded but does not read back "
                                     "(score %.1f); verify will not find it", film_id, payload, check.score)
            event(s, EventType.WATERMARKING, Outcome.FAILURE, agent("numpy", "scipy"),
                  detail=f"payload {payload} embedded but not read back (score {check.score:.1f}); SNR {snr:.1f} dB",
                  outcome_detail={"watermark_id": payload, "snr_db": float(snr), "score": float(check.score),
                                  "read_back": False}, film=film, run=run)
            return {"id": payload, "snr_db": float(snr), "key_fingerprint": key.fingerprint}
        row.marked_sha256, row.snr_db = sha256_file(track), float(snr)
        event(s, EventType.WATERMARKING, Outcome.SUCCESS, agent("numpy", "scipy"),
              detail=f"payload {payload} ({WATERMARK_METHOD}, key {key.fingerprint}{', DEMO key' if key.demo else ''}); "
                     f"SNR {snr:.1f} dB; read back with score {check.score:.1f}",
              outcome_detail={"watermark_id": payload, "snr_db": float(snr), "score": float(check.score)},
              film=film, run=run)
    return {"id": payload, "snr_db": float(snr), "key_fingerprint": key.fingerprint}


def _sign(film_id: int, run_id: int | None, files: list[Path], original: Path, generation_ids: list[int],
          mark: dict, model) -> None:
    """C2PA content credentials on the delivered MP4 and the WAV stem; a failure fails the delivery."""
    from tasks import credentials

    with session_scope() as s:
        gens = [s.get(Generation, g) for g in generation_ids]
        generation = {"model": model[0], "weights_sha256": model[1], "generation_ids": generation_ids,
                      "watermark": {"id": mark["id"], "key_fingerprint": mark["key_fingerprint"]},
                      "shots": [{"generation_id": g.id, "prompt": g.prompt, "negative_prompt": g.negative_prompt,
                                 "seed": g.seed, "steps": g.steps, "guidance": g.guidance, "scheduler": g.scheduler}
                                for g in gens]}
    creds = credentials.signing_credentials()
    for path in files:
        credentials.sign(path, parent=original, generation=generation, credentials=creds)
    with session_scope() as s:
        film, run = s.get(Film, film_id), run_row(s, run_id)
        event(s, EventType.DIGITAL_SIGNATURE_GENERATION, Outcome.SUCCESS, agent("c2pa-python"),
              detail=f"C2PA manifests on {', '.join(p.name for p in files)}, signed by {creds.subject}"
                     + (" (TEST chain, not for production)" if creds.test_chain else ""), film=film, run=run)


def _reason(state) -> str:
    try:
        state.result()
        return state.message or "unknown error"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
