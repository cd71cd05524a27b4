"""Ship a trained run as the built-in model: measure it, copy its pipeline to models/foley-mini, write the card.

Run: ``python -m models.foley_mini.ship RUN_DIR [--target DIR] [--curves 20]``. The copy is atomic (a
temporary directory, then a rename) and refused when the pipeline is larger than ``--max-mb`` (50).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections import Counter
from pathlib import Path

from models.foley_mini.model_card import write_model_card
from models.registry import BUILTIN_DIR


def ship(run_dir: str | os.PathLike, target: str | os.PathLike = BUILTIN_DIR, curves: int = 20,
         max_mb: float = 50.0, figures: dict | None = None) -> Path:
    """Copy ``RUN_DIR/pipeline`` to ``target`` with ``MODEL_CARD.md``, ``ATTRIBUTIONS.csv`` and ``figures.json``.

    Arguments:
        run_dir: a finished training run.
        target: destination directory (default ``models/foley-mini``).
        curves: impulse curves for the sync measurement.
        max_mb: the largest pipeline allowed.
        figures: measurements already taken (default: run :mod:`models.foley_mini.evaluate` now).

    Returns:
        The target directory.

    Raises:
        FileNotFoundError: the run has no exported pipeline.
        ValueError: the pipeline is too large.
    """
    from models.foley_mini import evaluate

    run, target = Path(run_dir), Path(target)
    source = run / "pipeline"
    if not (source / "model_index.json").is_file():
        raise FileNotFoundError(f"{source}: no exported pipeline; finish the run with `foleyflow train --resume`")
    mb = sum(f.stat().st_size for f in source.rglob("*") if f.is_file()) / 1e6
    if mb > max_mb:
        raise ValueError(f"{source} is {mb:.1f} MB, more than {max_mb} MB; ship fewer references or a smaller preset")
    if figures is None:
        figures = evaluate.main([str(source), "--curves", str(curves)])
    state = json.loads((run / "state.json").read_text())
    bank = json.loads((source / "reference_bank" / "config.json").read_text())
    figures["bank_licences"] = dict(Counter(e.get("licence") for e in bank.get("entries", [])))
    den = json.loads((source / "denoiser" / "config.json").read_text())
    ae = json.loads((source / "autoencoder" / "config.json").read_text())
    figures["model"] = {"architecture": den["architecture"], "block_out_channels": den["block_out_channels"],
                        "latent_channels": ae["latent_channels"], "kl_weight": ae.get("kl_weight")}
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    (tmp / "figures.json").write_text(json.dumps(figures, indent=2))
    write_model_card(run, figures, tmp, code_version=state.get("code_version", "unknown"))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def evaluate_figures(run_dir: Path, curves: int) -> dict:
    """Run :mod:`models.foley_mini.evaluate` on a run's pipeline."""
    from models.foley_mini import evaluate

    return evaluate.main([str(Path(run_dir) / "pipeline"), "--curves", str(curves)])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--target", type=Path, default=BUILTIN_DIR)
    ap.add_argument("--curves", type=int, default=20)
    ap.add_argument("--figures", type=Path, default=None, help="figures.json from an earlier evaluate run")
    ap.add_argument("--extra", type=str, action="append", default=[],
                    help="NAME=FILE.json: more figures for the card (e.g. architecture_comparison=cmp.json)")
    args = ap.parse_args(argv)
    figures = json.loads(args.figures.read_text()) if args.figures else None
    if args.extra:
        figures = figures if figures is not None else evaluate_figures(args.run, args.curves)
        for item in args.extra:
            name, _, path = str(item).partition("=")
            figures[name] = json.loads(Path(path).read_text())
    print(ship(args.run, args.target, args.curves, figures=figures))


if __name__ == "__main__":
    main()
