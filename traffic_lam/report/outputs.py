"""Everything a run folder (or a comparison folder) shows: the plots in ``plots/`` and ``report.html``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from traffic_lam.controllers.selection import VALIDATION_SUFFIX, WARNINGS_SUFFIX, read_warnings
from traffic_lam.report import plots
from traffic_lam.report.html import write_report


def folder_names(runs: Sequence[Path]) -> list[str]:
    """What labels of each run folder are prefixed with in a comparison: ``""`` for one folder.

    Several folders: the folder's name, or, when two different folders share a name, the
    shortest end of its path that no other folder's path ends with (``runs/a/quick`` and
    ``runs/b/quick`` give ``a/quick`` and ``b/quick``); the same folder given twice keeps its name.
    """
    if len(runs) < 2:
        return ["" for _ in runs]
    paths = [run.resolve().parts for run in runs]
    names = []
    for path in paths:
        others = [o for o in paths if o != path]
        size = next(n for n in range(1, len(path) + 1) if all(o[-n:] != path[-n:] for o in others))
        names.append("/".join(path[-size:]))
    return names


def _prefixes(runs: Sequence[Path]) -> list[tuple[Path, str]]:
    """Each folder compared with the prefix of its labels (``<folder>/``; ``""`` for one folder)."""
    return [(run, f"{name}/" if name else "") for run, name in zip(runs, folder_names(runs), strict=True)]


def comparison_curves(runs: Sequence[Path]) -> dict[str, Path]:
    """The learning curves of every folder compared, by the label their rows get (``<folder>/<label>``)."""
    curves: dict[str, Path] = {}
    for run, prefix in _prefixes(runs):
        curves.update(run_curves(run, prefix))
    return curves


def comparison_warnings(runs: Sequence[Path]) -> dict[str, list[str]]:
    """The training warnings of every folder compared, by the label their rows get (``<folder>/<label>``)."""
    found: dict[str, list[str]] = {}
    for run, prefix in _prefixes(runs):
        found.update(run_warnings(run, prefix))
    return found


def comparison_experts(runs: Sequence[Path]) -> dict[str, str]:
    """Which learners of every folder compared imitated an expert, by the label the expert's rows get."""
    found: dict[str, str] = {}
    for run, prefix in _prefixes(runs):
        found.update(warm_start_experts(run, prefix))
    return found


def run_curves(run_dir: Path, prefix: str = "") -> dict[str, Path]:
    """The learning-curve CSVs of a run folder (``curves/<label>.csv``, not the validations beside them) by label."""
    folder = run_dir / "curves"
    if not folder.is_dir():
        return {}
    return {f"{prefix}{p.stem}": p for p in sorted(folder.glob("*.csv")) if not p.name.endswith(VALIDATION_SUFFIX)}


def run_warnings(run_dir: Path, prefix: str = "") -> dict[str, list[str]]:
    """The warnings of a run folder's trainings (``curves/<label>.warnings.json``) by ``prefix + label``."""
    folder = run_dir / "curves"
    found = {}
    for path in sorted(folder.glob("*" + WARNINGS_SUFFIX)) if folder.is_dir() else []:
        lines = read_warnings(path)
        if lines:
            found[prefix + path.name.removesuffix(WARNINGS_SUFFIX)] = lines
    return found


def warm_start_experts(run_dir: Path, prefix: str = "") -> dict[str, str]:
    """Per expert label of the run's scenario, which learner imitated it (its ``warm_start`` expert), or how many.

    Keys are ``prefix`` + the expert's label. Read from the folder's ``scenario.yaml``; an unreadable one gives none.
    """
    import yaml

    try:
        data = yaml.safe_load((run_dir / "scenario.yaml").read_text())
        entries = [c for c in data.get("controllers", []) if isinstance(c, dict)]
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    learners: dict[str, list[str]] = {}
    for entry in entries:
        warm = (entry.get("args") or {}).get("warm_start")
        if isinstance(warm, dict):
            learners.setdefault(str(warm.get("expert", "greedy")), []).append(str(entry.get("name", entry.get("type"))))
    return {prefix + expert: f"the expert {names[0] if len(names) == 1 else f'{len(names)} learners'} imitated"
            for expert, names in learners.items()}  # fmt: skip


def write_outputs(
    run_dir: Path,
    rows: Sequence[dict[str, Any]],
    title: str,
    curves: Mapping[str, Path] | None = None,
    clips: Mapping[str, Path] | None = None,
    warnings: Mapping[str, Sequence[str]] | None = None,
    experts: Mapping[str, str] | None = None,
) -> tuple[list[Path], Path]:
    """Draw the comparison plots into ``run_dir/plots`` and write ``run_dir/report.html``.

    Args:
        run_dir: the folder to write into.
        rows: the episode rows.
        title: the report's title.
        curves: learning-curve CSV per learner label; None: the folder's own (:func:`run_curves`).
        clips: an animation per controller label for the report's "Replays" section.
        warnings: the trainings' warnings per learner label; None: the folder's own (:func:`run_warnings`).
        experts: per expert label, which learners imitated it; None: the folder's own (:func:`warm_start_experts`).

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
                                       folder / "learning_curves.png", rows,
                                       warm_start_experts(run_dir) if experts is None else experts)  # fmt: skip
    if curve_plot is not None:
        written.append(curve_plot)
    found = run_warnings(run_dir) if warnings is None else warnings
    return written, write_report(run_dir / "report.html", rows, written, title, clips=clips, warnings=found)
