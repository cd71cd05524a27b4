"""The ``foleyflow`` command line.

Every command answers bad input with a non-zero exit and one line that says
what is wrong and what to do. ``foleyflow run`` exits 0 when every film
finished and 2 when some failed (the others still finish).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

import foleyflow  # noqa: F401  (offline defaults first)

app = typer.Typer(
    name="foleyflow",
    help="Soundtracks for silent archival films: ingest, shots, cleaning and generated foley under Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_BAD_INPUT = 1
EXIT_SOME_FAILED = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"foleyflow: error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _user_errors() -> tuple[type[BaseException], ...]:
    from foleyflow.manifest import ManifestError
    from foleyflow.video import VideoError

    return (VideoError, ManifestError, ValueError, LookupError, FileNotFoundError, PermissionError)


def _print_json(data: dict) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def shots(
    video: Annotated[Path, typer.Argument(help="the film file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the shot list as JSON")] = False,
) -> None:
    """List the shots of a film (PySceneDetect on brightness-normalised frames)."""
    from tasks.shots import detect_shots

    try:
        result = detect_shots(video)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    data = result.to_json()
    if as_json:
        _print_json(data)
        return
    typer.echo(f"{video}: {data['frames']} frames at {data['fps']:.3f} fps, {len(data['shots'])} shot(s)")
    for sh in data["shots"]:
        typer.echo(f"  shot {sh['index']:4d}  frames {sh['start_frame']:6d}-{sh['end_frame'] - 1:<6d}  {sh['start']} - {sh['end']}")


@app.command()
def clean(
    video: Annotated[Path, typer.Argument(help="the film file")],
    out: Annotated[Path, typer.Argument(help="cleaned output (.mkv for ffv1; .mp4 or .mkv for h264)")],
    steps: Annotated[str, typer.Option(help="comma-separated steps: deflicker,dust,scratches,grain,stabilize; 'none' for a copy")] = "deflicker,dust,scratches,grain,stabilize",
    codec: Annotated[str, typer.Option(help="ffv1 (lossless, Matroska) or h264 (near-lossless)")] = "ffv1",
    crf: Annotated[int, typer.Option(help="H.264 CRF (h264 only)")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Clean a film's frames; the output has the same frame count and frame rate."""
    from tasks.clean import CleanConfig, clean_video, parse_steps

    try:
        if codec not in ("ffv1", "h264"):
            raise ValueError(f"unknown codec {codec!r}; use ffv1 or h264")
        if codec == "ffv1" and out.suffix.lower() != ".mkv":
            raise ValueError(f"{out}: FFV1 output goes in Matroska; name it .mkv or use --codec h264")
        if out.resolve() == video.resolve():
            raise ValueError("the output would overwrite the input; choose another OUT path")
        result = clean_video(video, out, config=CleanConfig(steps=parse_steps(steps), codec=codec, crf=crf))
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_json())
    else:
        typer.echo(f"wrote {result.output}: {result.frames} frames at {result.fps:.3f} fps in {result.seconds:.1f} s")


@app.command()
def run(
    path: Annotated[Path, typer.Argument(help="a folder of films or a collection manifest CSV")],
    shots_csv: Annotated[Optional[Path], typer.Option("--shots", help="per-shot overrides CSV (film, shot, description, negative_prompt, dialogue, voice)")] = None,
    collection: Annotated[Optional[str], typer.Option(help="collection name (default: folder or manifest name)")] = None,
    steps: Annotated[str, typer.Option(help="cleaning steps, comma-separated, or 'none'")] = "deflicker,dust,scratches,grain,stabilize",
    codec: Annotated[str, typer.Option(help="cleaned output codec: ffv1 or h264")] = "ffv1",
    workers: Annotated[int, typer.Option(help="shots processed at once")] = 2,
    task_runner: Annotated[str, typer.Option(help="where shot tasks run: threads, processes or dask")] = "threads",
    dask_address: Annotated[Optional[str], typer.Option(help="a running Dask scheduler (tcp://host:8786) for --task-runner dask; default a local cluster of --workers processes")] = None,
    sound: Annotated[bool, typer.Option("--sound/--no-sound", help="generate and deliver a soundtrack")] = True,
    generator: Annotated[Optional[str], typer.Option(help="builtin:foley-mini or local:<dir> (default FOLEYFLOW_GENERATOR)")] = None,
    candidates: Annotated[int, typer.Option(help="candidates generated per shot")] = 2,
    seed: Annotated[int, typer.Option(help="base seed of the generation")] = 0,
    picture: Annotated[str, typer.Option(help="picture of the delivery: cleaned or original")] = "cleaned",
    existing_audio: Annotated[str, typer.Option(help="a film's own audio track: keep (second track) or replace")] = "keep",
    speech_model: Annotated[Optional[Path], typer.Option(help="a local pyannote.audio segmentation checkpoint for the speech check (default: the shipped speech-vad)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the run summary as JSON")] = False,
) -> None:
    """Run the collection flow. Exit 0 when every film finished, 2 when some failed."""
    summary = _run_collection(path, shots_csv=shots_csv, collection=collection, steps=steps, codec=codec,
                              workers=workers, sound=sound, generator=generator, candidates=candidates, seed=seed,
                              picture=picture, existing_audio=existing_audio, task_runner=task_runner,
                              dask_address=dask_address, speech_model=speech_model)
    _report_run(summary, as_json)
    raise typer.Exit(EXIT_SOME_FAILED if summary["failed"] else 0)


def _run_collection(path: Path, *, shots_csv=None, collection=None, steps="deflicker,dust,scratches,grain,stabilize",
                    codec="ffv1", workers=2, sound=True, generator=None, candidates=2, seed=0, picture="cleaned",
                    existing_audio="keep", task_runner="threads", dask_address=None, speech_model=None) -> dict:
    from pydantic import ValidationError

    from foleyflow.manifest import load_collection
    from tasks.clean import parse_steps

    try:
        load_collection(path, shots_csv=shots_csv, name=collection)  # fail fast, before Prefect starts
        from flows.options import RunOptions

        extra = {"generator": generator} if generator else {}
        if speech_model is not None:
            if not Path(speech_model).exists():
                raise _fail(f"--speech-model {speech_model}: no such file or directory; name a local pyannote "
                            "segmentation checkpoint (models are never fetched from a hub)")
            extra["speech_model"] = str(speech_model)
        options = RunOptions(clean_steps=list(parse_steps(steps)), codec=codec, max_workers=workers, sound=sound,
                             candidates=candidates, seed=seed, picture=picture, existing_audio=existing_audio,
                             task_runner=task_runner, dask_address=dask_address, **extra)
        if options.sound:
            _check_generator(options.generator)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _fail(f"--{'-'.join(map(str, err['loc'])).replace('_', '-')}: {err['msg']}") from None
    except _user_errors() as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    from flows.collection import process_collection

    return process_collection(str(path.resolve()), options=options,
                              shots_csv=str(shots_csv.resolve()) if shots_csv else None, collection_name=collection)


def _check_generator(name: str) -> None:
    """Raise FileNotFoundError/LookupError when the generator cannot be found (before any film runs)."""
    from models.registry import resolve

    resolve(name)


def _report_run(summary: dict, as_json: bool) -> None:
    from foleyflow.settings import get_settings

    if as_json:
        _print_json(summary)
        return
    settings = get_settings()
    for film in summary["films"]:
        line = f"  [{film['status']}] {film['title']}"
        if film.get("error"):
            line += f": {film['error']}"
        typer.echo(line)
    total = len(summary["films"])
    typer.echo(f"{total - summary['failed']} of {total} film(s) finished; catalog: {settings.resolved_catalog_url}; "
               f"files under {settings.resolved_home}")


@app.command()
def status(
    film: Annotated[Optional[int], typer.Option(help="only this film id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Films and shots with their status and error, from the catalog."""
    from catalog import repo
    from catalog.db import init_catalog, session_scope

    try:
        init_catalog()
        with session_scope() as s:
            data = repo.status_report(s, film_id=film)
    except _user_errors() as exc:
        raise _fail(str(exc).strip("'\"")) from None
    if as_json:
        _print_json(data)
        return
    if not data["films"]:
        typer.echo("the catalog holds no films yet; run `foleyflow run FOLDER` or `foleyflow demo`")
    for f in data["films"]:
        shots_done = sum(s["status"] == "done" for s in f["shots"])
        typer.echo(f"film {f['id']}  [{f['status']}]  {f['title']}  ({shots_done}/{len(f['shots'])} shots done)  {f['path']}")
        if f["error"]:
            typer.echo(f"    error: {f['error']}")
        for s in f["shots"]:
            if s["status"] != "done" or film is not None:
                typer.echo(f"    shot {s['index']:4d} (id {s['id']}) [{s['status']}] frames {s['start_frame']}-{s['end_frame'] - 1}"
                           + (f"  error: {s['error']}" if s["error"] else ""))


@app.command()
def review(
    shot: Annotated[int, typer.Argument(help="the shot's catalog id (`foleyflow status --film ID` lists them)")],
    accept: Annotated[bool, typer.Option("--accept", help="the shot's sound is right; keep it")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="the shot's sound is wrong; `foleyflow rerun --rejected` redoes it")] = False,
    candidate: Annotated[Optional[int], typer.Option(help="with --accept: use this candidate (0, 1, ...) instead")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="with --reject: the shot's new description")] = None,
    negative: Annotated[Optional[str], typer.Option(help="with --reject: the shot's new negative prompt")] = None,
    note: Annotated[str, typer.Option(help="why (kept with the decision)")] = "",
    by: Annotated[Optional[str], typer.Option(help="who decides (default: the login name)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the recorded decision as JSON")] = False,
) -> None:
    """Record an archivist's decision on a shot's sound (who, when, why) in the catalog."""
    import getpass

    from catalog import repo
    from catalog.db import init_catalog, session_scope

    if accept == reject:
        raise _fail("give exactly one of --accept or --reject")
    try:
        reviewer = by or getpass.getuser()
        init_catalog()
        with session_scope() as s:
            row = repo.review_shot(s, repo.get_shot(s, shot), accept=accept, reviewer=reviewer, candidate=candidate,
                                   prompt=prompt, negative_prompt=negative, note=note)
            data = {"review_id": row.id, "shot": shot, "decision": row.decision, "reviewer": row.reviewer,
                    "when": row.created.isoformat(), "generation_id": row.generation_id, "note": row.note,
                    "prompt": row.prompt, "negative_prompt": row.negative_prompt}
    except _user_errors() as exc:
        raise _fail(str(exc).strip("'\"")) from None
    if as_json:
        _print_json(data)
        return
    what = "accepted" if accept else "rejected; `foleyflow rerun --rejected` redoes it"
    typer.echo(f"shot {shot} {what} (review {data['review_id']} by {data['reviewer']})")


@app.command()
def rerun(
    failed: Annotated[bool, typer.Option("--failed", help="redo shots that failed")] = False,
    rejected: Annotated[bool, typer.Option("--rejected", help="redo shots an archivist rejected")] = False,
    film: Annotated[Optional[int], typer.Option(help="only this film id (re-delivered even when no shot is redone)")] = None,
    shot: Annotated[Optional[list[int]], typer.Option(help="redo this shot id (repeatable), whatever its status")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Redo only the chosen shots, then re-stitch and re-deliver their films (default: --failed --rejected).

    Exit 0 when every affected film was delivered again, 2 when some failed.
    """
    from catalog import repo
    from catalog.db import init_catalog, session_scope

    if not (failed or rejected or shot or film is not None):
        failed = rejected = True
    try:
        init_catalog()
        with session_scope() as s:  # unknown ids fail here, before Prefect starts
            repo.shots_for_rerun(s, failed=failed, rejected=rejected, film_id=film, shot_ids=shot or ())
    except _user_errors() as exc:
        raise _fail(str(exc).strip("'\"")) from None
    from flows.rerun import rerun_shots

    summary = rerun_shots(failed=failed, rejected=rejected, film_id=film, shot_ids=shot or [])
    if as_json:
        _print_json(summary)
    else:
        if not summary["films"]:
            typer.echo("nothing to re-run: no shot is failed or rejected (`foleyflow status` shows them)")
        for f in summary["films"]:
            line = f"  [{f['status']}] {f['title']}: shot(s) {f['shots'] or 'none'} redone"
            typer.echo(line + (f": {f['error']}" if f.get("error") else ""))
    raise typer.Exit(EXIT_SOME_FAILED if summary["failed"] else 0)


@app.command()
def report(
    format: Annotated[str, typer.Option("--format", help="parquet or csv (one row per shot generation), html, premis, prov or bagit")],
    out: Annotated[Path, typer.Option(help="the report file to write (bagit: a new directory)")],
    collection: Annotated[Optional[int], typer.Option(help="only this collection id")] = None,
    film: Annotated[Optional[int], typer.Option(help="only this film id")] = None,
    organization: Annotated[str, typer.Option(envvar="FOLEYFLOW_ORGANIZATION", help="bagit: Source-Organization")] = "",
) -> None:
    """Export a provenance report of the catalog (schema in the README, "Provenance reports")."""
    from catalog.db import init_catalog, session_scope
    from catalog.report import check_format, export

    try:
        check_format(format)  # before the catalog is touched
        init_catalog()
        with session_scope() as s:
            result = export(s, format, out, collection_id=collection, film_id=film, organization=organization)
    except (FileExistsError, *_user_errors()) as exc:
        raise _fail(str(exc).strip("'\"")) from None
    typer.echo(f"{format} report: {result['rows']} generation(s) of {result['films']} film(s) -> {result['path']}")

@app.command()
def serve(
    port: Annotated[int, typer.Option(help="port of the Prefect server (UI and API)")] = 4200,
    host: Annotated[str, typer.Option(help="address the server listens on")] = "127.0.0.1",
    api_url: Annotated[Optional[str], typer.Option(help="use this running Prefect server's API instead of starting one")] = None,
    collection: Annotated[Optional[Path], typer.Option(help="default source of the collection-run deployment")] = None,
    worker: Annotated[bool, typer.Option(help="start a worker for the foleyflow-cpu pool")] = True,
    media: Annotated[bool, typer.Option(help="start the media server the review artifacts link to")] = True,
    media_port: Annotated[Optional[int], typer.Option(help="its port (default: the port of FOLEYFLOW_MEDIA_URL, 4210)")] = None,
) -> None:
    """Start a Prefect server, the work pool, every deployment, a worker and the media server; print the addresses."""
    from foleyflow.serve import ServeError, serve_forever, start

    try:
        served = start(host=host, port=port, api_url=api_url, worker=worker, collection=collection,
                       media=media, media_port=media_port)
    except ServeError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(serve_forever(served, echo=typer.echo))


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="an MP4, M4A or WAV delivered by foleyflow (or any other, to check)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Watermark, C2PA content credentials and catalog record of a file; exit 0 when it is marked, 3 when not."""
    from foleyflow.verify import VerifyError, verify as run_verify

    try:
        result = run_verify(file)
    except (VerifyError, *_user_errors()) as exc:
        raise _fail(str(exc).strip("'\"")) from None
    if as_json:
        _print_json(result)
    else:
        w, c, k = result["watermark"], result["c2pa"], result["catalog"]
        typer.echo(f"watermark: {'present, payload ' + w['payload'] if w['present'] else 'not found'} "
                   f"(score {w['score']:.1f}{', demo key' if w['demo_key'] else ''})")
        typer.echo(f"c2pa: {'present' if c['present'] else 'no manifest'}"
                   + (f", {'valid' if c['valid'] else 'NOT valid'} ({c['validation_state']})" if c["present"] else ""))
        if k["reachable"]:
            film = k["film"] or {}
            typer.echo(f"catalog: watermark {k['generation_id'] or '-'}, film {film.get('id', '-')} "
                       f"{film.get('title') or ''}, generations {k['generation_ids']}; sha256 "
                       f"{'matches a catalog file' if k['sha256_match'] else 'not in the catalog'}")
        else:
            typer.echo("catalog: not reachable")
    raise typer.Exit(0 if result["watermark"]["present"] else 3)


@app.command("media-server")
def media_server(
    port: Annotated[Optional[int], typer.Option(help="port on 127.0.0.1 (default: the port of FOLEYFLOW_MEDIA_URL, 4210)")] = None,
    root: Annotated[Optional[Path], typer.Option(help="folder to serve (default $FOLEYFLOW_HOME/films)")] = None,
) -> None:
    """Serve the pipeline's files (candidate WAVs, delivered films) read-only on 127.0.0.1 for the UI's links."""
    from foleyflow.media import MediaServerError, serve as serve_media

    try:
        serve_media(root, port, echo=typer.echo)
    except MediaServerError as exc:
        raise _fail(str(exc)) from None


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="where the demo film and its manifest are written")] = Path("demo-output"),
) -> None:
    """Build the degraded demo silent film (30+ s, several shots) and run the collection flow on it."""
    from foleyflow.demo import build_demo_film

    try:
        film = build_demo_film(out)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"demo film: {film.path} ({film.frames} frames at {film.fps:g} fps, cuts at {film.cuts})")
    from foleyflow.settings import get_settings

    sound = True
    try:
        _check_generator(get_settings().generator)
    except (FileNotFoundError, LookupError) as exc:
        sound = False
        typer.echo(f"note: no sound this time, the picture stages only: {exc}")
    summary = _run_collection(film.manifest_path, sound=sound)
    _report_run(summary, as_json=False)
    from catalog import repo
    from catalog.db import session_scope

    with session_scope() as s:
        for f in repo.status_report(s)["films"]:
            if f["sha256"] and any(r.get("film_id") == f["id"] for r in summary["films"]):
                typer.echo(f"film {f['id']}: {len(f['shots'])} shots, status {f['status']}")
        for r in summary["films"]:
            if r.get("film_id"):
                delivered = repo.get_film(s, r["film_id"]).delivery_path
                if delivered:
                    typer.echo(f"delivered with sound: {delivered}")
    for r in summary["films"]:
        if r.get("film_id"):
            typer.echo(f"see: foleyflow status --film {r['film_id']}")
    raise typer.Exit(EXIT_SOME_FAILED if summary["failed"] else 0)


@app.command()
def generate(
    video: Annotated[Path, typer.Argument(help="a shot or short film; its motion gives the timing")],
    out: Annotated[Path, typer.Option(help="folder for the candidate WAVs and result.json")],
    prompt: Annotated[str, typer.Option(help="what should sound, e.g. 'horse hooves on cobblestones'")] = "",
    negative: Annotated[str, typer.Option(help="what must not sound, e.g. 'music, voices'")] = "",
    candidates: Annotated[int, typer.Option(help="candidates to generate")] = 2,
    seed: Annotated[int, typer.Option(help="seed of the first candidate; the others take seed+1, seed+2, ...")] = 0,
    steps: Annotated[Optional[int], typer.Option(help="denoising steps (default: the generator's)")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="guidance scale (default: the generator's)")] = None,
    generator: Annotated[Optional[str], typer.Option(help="builtin:foley-mini or local:<dir> (default FOLEYFLOW_GENERATOR)")] = None,
) -> None:
    """Generate sound for one clip: a WAV per candidate and result.json (scores, the selected one)."""
    from foleyflow.settings import get_settings
    from tasks.generate import GenerateConfig, generate_shot

    try:
        config = GenerateConfig(generator=generator or get_settings().generator, candidates=candidates,
                                steps=steps, guidance=guidance, seed=seed, margin_s=0.0)
        from models.registry import get_generator
        from tasks.features import timing_curve

        gen = get_generator(config.generator)
        curve = timing_curve(video)
        result = generate_shot(gen, curve, prompt=prompt, negative_prompt=negative,
                               seeds=[seed + k for k in range(candidates)], out_dir=out, config=config)
    except _user_errors() as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    except RuntimeError as exc:  # every candidate rejected by the checks
        raise _fail(str(exc)) from None
    data = {"candidates": [{"path": str(c.path), "seed": c.seed, "scores": c.scores, "selected": c.selected,
                            "attributions": c.attributions} for c in result.candidates],
            "model": result.model_id, "weights_sha256": result.weights_sha256, "prompt": prompt,
            "negative_prompt": negative, "steps": result.steps, "guidance": result.guidance,
            "duration_s": result.duration_s, "onsets_s": [round(float(t), 3) for t in curve.onset_times]}
    partial = out / ".result.json.partial"
    partial.write_text(json.dumps(data, indent=2))
    partial.replace(out / "result.json")
    best = result.best
    typer.echo(f"{len(result.candidates)} candidate(s) in {out}; selected seed {best.seed} "
               f"(sync {best.scores.get('sync')}, {best.scores.get('lufs')} LUFS); see {out / 'result.json'}")

corpus_app = typer.Typer(help="The training corpus of recorded sounds from Debian packages.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("build")
def corpus_build(
    packages: Annotated[Optional[str], typer.Option(help="comma-separated Debian packages (default: every package of the table)")] = None,
    licences: Annotated[str, typer.Option(help="all (free licences incl. GPL/CC-BY-SA) or permissive (CC0, public domain, CC-BY)")] = "all",
    min_seconds: Annotated[float, typer.Option(help="shortest clip kept after trimming silence")] = 0.4,
    seed: Annotated[int, typer.Option(help="seed of the train/eval split")] = 0,
    root: Annotated[Optional[list[str]], typer.Option(help="PACKAGE=DIR: use an already-extracted package tree (repeatable)")] = None,
    no_installed: Annotated[bool, typer.Option("--no-installed", help="download packages even when installed")] = False,
    list_only: Annotated[bool, typer.Option("--list", "--dry-run", help="list the packages and what they add; build nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Build corpus/clips.parquet, windows.parquet and SUMMARY.md under FOLEYFLOW_HOME (Prefect flow build-corpus)."""
    from models.corpus.packages import select_packages

    try:
        names = [p.strip() for p in (packages or "").split(",") if p.strip()]
        sources = select_packages(names)
        if licences not in ("all", "permissive"):
            raise ValueError(f"unknown licence preset {licences!r}; use all or permissive")
        roots = {}
        for item in root or []:
            name, sep, folder = item.partition("=")
            if not sep or not Path(folder).is_dir():
                raise ValueError(f"--root {item!r}: give PACKAGE=DIR with an existing folder")
            roots[name] = str(Path(folder).resolve())
        if list_only:
            for source in sources:
                typer.echo(f"{source.name}: {source.note}")
            return
        from flows.corpus import CorpusOptions

        options = CorpusOptions(packages=[s.name for s in sources], licences=licences, min_seconds=min_seconds,
                                seed=seed, roots=roots, use_installed=not no_installed)
    except _user_errors() as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    from flows.corpus import build_corpus

    summary = build_corpus(options)
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"{summary['clips']} clips, {summary['minutes']} min, {summary['captions']} captions "
                   f"({summary['captions_with_3_or_more']} with >= 3 clips), split {summary['split_clips']}; "
                   f"see {summary['summary_md']}")
        for name, reason in summary["failed"].items():
            typer.echo(f"  [failed] {name}: {reason}")
    raise typer.Exit(EXIT_SOME_FAILED if summary["failed"] else 0)


@app.command()
def train(
    corpus: Annotated[Optional[Path], typer.Option(help="corpus directory with clips.parquet and windows.parquet (default: FOLEYFLOW_HOME/corpus)")] = None,
    out: Annotated[Path, typer.Option(help="run directory: checkpoints, logs, the trained pipeline under OUT/pipeline")] = Path("foley-mini-run"),
    minutes: Annotated[float, typer.Option(help="wall-clock budget of the whole run")] = 120.0,
    seed: Annotated[int, typer.Option(help="seed; the run is reproducible from it")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run in OUT from its last checkpoint")] = False,
    preset: Annotated[str, typer.Option(help="model size: mini (shipped) or tiny (smoke test)")] = "mini",
    as_json: Annotated[bool, typer.Option("--json", help="print the run state as JSON")] = False,
) -> None:
    """Train the foley-mini generator (Prefect flow train-model): autoencoder, diffusion with early stopping, export."""
    from foleyflow.settings import get_settings

    corpus_dir = corpus if corpus is not None else get_settings().resolved_home / "corpus"
    try:
        if minutes <= 0:
            raise ValueError(f"--minutes {minutes}: give a positive budget")
        from models.foley_mini.train import TrainConfig, start_run

        start_run(corpus_dir, out, TrainConfig(preset=preset, seed=seed, minutes=minutes), resume=resume)
    except (*_user_errors(), FileExistsError) as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    from flows.train import train_model

    state = train_model(str(corpus_dir), str(out), minutes=minutes, seed=seed, resume=True, preset=preset)
    if as_json:
        _print_json(state)
        return
    exp, dif = state["stages"].get("export", {}), state["stages"].get("diffusion", {})
    typer.echo(f"trained in {state['elapsed_s'] / 60:.1f} min: {dif.get('steps')} diffusion steps, held-out loss "
               f"{dif.get('best_eval_loss_ref', float('nan')):.4f} with reference, "
               f"{dif.get('best_eval_loss_noref', float('nan')):.4f} without; pipeline {exp.get('directory')} "
               f"({exp.get('megabytes')} MB), log {Path(out) / 'train-log.jsonl'}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        typer.echo("foleyflow: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
