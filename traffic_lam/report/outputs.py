"""Everything a run folder (or a comparison folder) shows: the plots in ``plots/`` and ``report.html``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from traffic_lam.report import plots
from traffic_lam.report.html import write_report


def folder_names(runs: Sequence[Path]) -> list[str]:
    """What labels of each run folder are prefixed with in a comparison: ``""`` for one folder.

    Several folders: the folder's name, or the path as given when two different folders share
    a name (``runs/a/quick`` and ``runs/b/quick``); the same folder given twice keeps its name.
    """
    if len(runs) < 2:
        return ["" for _ in runs]
    names = []
    for run in runs:
        clash = any(o.name == run.name and o.resolve() != run.resolve() for o in runs)
        names.append(run.as_posix() if clash else run.name)
    return names


def comparison_curves(runs: Sequence[Path]) -> dict[str, Path]:
    """The learning curves of every folder compared, by the label their rows get (``<folder>/<label>``)."""
    curves: dict[str, Path] = {}
    for run, name in zip(runs, folder_names(runs), strict=True):
        curves.update(run_curves(run, f"{name}/" if name else ""))
    return curves


def run_curves(run_dir: Path, prefix: str = "") -> dict[str, Path]:
    """The learning-curve CSVs of a run folder (``curves/<label>.csv``) by ``prefix + label``."""
    folder = run_dir / "curves"
    return {f"{prefix}{p.stem}": p for p in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}


def write_outputs(
    run_dir: Path,
    rows: Sequence[dict[str, Any]],
    title: str,
    curves: Mapping[str, Path] | None = None,
    clips: Mapping[str, Path] | None = None,
) -> tuple[list[Path], Path]:
    """Draw the comparison plots into ``run_dir/plots`` and write ``run_dir/report.html``.

    Args:
        run_dir: the folder to write into.
        rows: the episode rows.
        title: the report's title.
        curves: learning-curve CSV per learner label; None: the folder's own (:func:`run_curves`).
        clips: an animation per controller label for the report's "Replays" section.

    Returns:
        The PNGs written (the learning curves only when some curve has data) and the report.
    """
    folder = run_dir / "plots"
    folder.mkdir(exist_ok=True)
    written = [
        plots.performance_bars(rows, folder / "performance.png"),
        plots.safety_bars(rows, folder / "safety.png"),
        plots.delay_vs_safety(rows, folder / "delay_vs_safety.png"),
    ]
    curve_plot = plots.learning_curves(run_curves(run_dir) if curves is None else curves,
                                       folder / "learning_curves.png", rows)  # fmt: skip
    if curve_plot is not None:
        written.append(curve_plot)
    return written, write_report(run_dir / "report.html", rows, written, title, clips=clips)
