"""build_corpus: the training corpus from Debian packages, one Prefect task per package.

Each ``corpus-<package>`` task obtains the package (installed copy, or
``apt-get download`` + ``dpkg-deb -x``), reads its licences, captions and
prepares its clips (:func:`models.corpus.build.process_package`); a package
that fails is recorded with its reason and the others go on. The final task
groups near-duplicates across packages, splits train/eval, cuts windows and
writes ``corpus/clips.parquet``, ``corpus/windows.parquet`` and
``corpus/SUMMARY.md``. Every clip is upserted into the catalog by sha256,
and each package and output file gets a ``corpus build`` event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from catalog import repo
from catalog.db import init_catalog, session_scope
from catalog.models import Outcome, Run, Status
from foleyflow.provenance import agent, code_version
from foleyflow.settings import get_settings
from models.corpus.build import (
    CorpusConfig, CorpusResult, PackageResult, catalog_rows, finalise, process_package,
)
from models.corpus.fetch import sha256_file
from models.corpus.packages import PACKAGES, select_packages


class CorpusOptions(BaseModel):
    """Flow parameters (validated by Prefect before the run starts)."""

    packages: list[str] = Field(default_factory=list, description="Debian packages; empty for all of the table")
    licences: Literal["all", "permissive"] = "all"
    min_seconds: float = Field(0.4, gt=0, le=10)
    max_seconds: float = Field(60.0, gt=1, le=600)
    seed: int = 0
    eval_fraction: float = Field(0.15, gt=0, lt=0.5)
    roots: dict[str, str] = Field(default_factory=dict, description="already-extracted package trees by name")
    use_installed: bool = True

    def config(self) -> CorpusConfig:
        unknown = [p for p in self.packages if p not in PACKAGES]
        if unknown:
            raise ValueError(f"unknown corpus package(s) {unknown}; known: {', '.join(PACKAGES)}")
        return CorpusConfig(packages=tuple(self.packages), licences=self.licences, min_seconds=self.min_seconds,
                            max_seconds=self.max_seconds, seed=self.seed, eval_fraction=self.eval_fraction,
                            roots=dict(self.roots), use_installed=self.use_installed)


@task(name="corpus-package", task_run_name="corpus-{package}", retries=1, retry_delay_seconds=5)
def corpus_package(package: str, options: CorpusOptions, home: str) -> PackageResult:
    """One package's clips (see :func:`models.corpus.build.process_package`)."""
    return process_package(PACKAGES[package], options.config(), Path(home))


@task(name="corpus-finalise")
def corpus_finalise(results: list[PackageResult], options: CorpusOptions, home: str) -> CorpusResult:
    """Duplicate groups, split, windows and Parquet files over every package."""
    return finalise(results, options.config(), Path(home))


@flow(name="build-corpus", flow_run_name="corpus-{options.licences}", log_prints=True)
def build_corpus(options: CorpusOptions | None = None) -> dict:
    """Build the corpus; returns the summary (see :func:`models.corpus.build.summarise`) plus ``failed``."""
    options = options or CorpusOptions()
    logger = get_run_logger()
    config = options.config()
    home = get_settings().resolved_home
    init_catalog()
    with session_scope() as s:
        run_id = repo.start_run(s, flow_run_id=str(flow_run.get_id() or ""), flow_name="build-corpus",
                                parameters=options.model_dump(), code_version=code_version()).id
    who = agent("av", "pyloudnorm", "python-debian")
    results: list[PackageResult] = []
    failed: dict[str, str] = {}
    for source in select_packages(list(config.packages)):
        state = corpus_package(source.name, options, str(home), return_state=True)
        try:
            result = state.result()
        except Exception as exc:  # noqa: BLE001 - recorded, the other packages go on
            failed[source.name] = str(exc)
            logger.error("package %s failed: %s", source.name, exc)
            with session_scope() as s:
                repo.add_corpus_event(s, outcome=Outcome.FAILURE, agent=who, detail=f"{source.name}: {exc}",
                                      object_identifier=f"deb:{source.name}", run=s.get(Run, run_id))
            continue
        results.append(result)
        logger.info("%s %s: %d clips, %.1f min, %d dropped%s", result.package, result.version, len(result.clips),
                    result.minutes, len(result.dropped), " (cached)" if result.cached else "")
        with session_scope() as s:
            ident = f"deb:{result.package}={result.version}" + (f"#sha256={result.deb_sha256}" if result.deb_sha256 else "")
            repo.add_corpus_event(
                s, outcome=Outcome.SKIPPED if result.cached else Outcome.SUCCESS, agent=who,
                detail=f"{len(result.clips)} clips, {result.minutes:.1f} min, {len(result.dropped)} dropped",
                object_identifier=ident, run=s.get(Run, run_id),
                outcome_detail={"clips": len(result.clips), "minutes": round(result.minutes, 2),
                                "dropped": len(result.dropped), "cached": result.cached})
    corpus = corpus_finalise(results, options, str(home))
    rows = catalog_rows(corpus.clips)
    with session_scope() as s:
        run = s.get(Run, run_id)
        inserted = repo.upsert_corpus_clips(s, rows)
        for path, kind in ((corpus.clips_path, "corpus_clips"), (corpus.windows_path, "corpus_windows"),
                           (corpus.summary_path, "corpus_summary")):
            sha = sha256_file(path)
            repo.record_file(s, kind=kind, path=str(path), sha256=sha, size_bytes=path.stat().st_size, run=run)
            repo.add_corpus_event(s, outcome=Outcome.SUCCESS, agent=who, detail=f"wrote {path.name}",
                                  object_identifier=f"sha256:{sha}", run=run)
        repo.finish_run(s, run, Status.FAILED if failed else Status.DONE)
    logger.info("corpus: %d clips (%d new in the catalog), %.1f min, %d captions", len(rows), inserted,
                corpus.summary["minutes"], corpus.summary["captions"])
    return {**corpus.summary, "failed": failed, "run_id": run_id, "catalog_inserted": inserted,
            "clips_parquet": str(corpus.clips_path), "windows_parquet": str(corpus.windows_path),
            "summary_md": str(corpus.summary_path)}


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(build_corpus(CorpusOptions(packages=sys.argv[1:])))
