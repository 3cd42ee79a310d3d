"""Commands over scenarios and run folders: ``run`` and ``compare``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from traffic_lam.cli.options import add_command

if TYPE_CHECKING:
    from tqdm import tqdm


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``run`` and ``compare``."""
    p = add_command(
        commands,
        "run",
        summary="run a scenario: train, evaluate, write results, plots and a report",
        description="Train what needs training, evaluate every controller on the same seeds, and write "
        "results.csv, plots/*.png and report.html into the run folder. The folder records the run's fingerprint "
        "(scenario after defaults, network files, versions) in fingerprint.json. Re-running the same scenario "
        "into it resumes: finished episodes are skipped and failed ones retried; a changed scenario is refused "
        "unless --restart or --resume-anyway is given. A failed job ends only itself: one line here, its "
        "traceback in logs/failures.log, exit code 1.",
        usage_examples=[
            "traffic-lam run scenarios/quickstart.yaml",
            "traffic-lam run scenarios/quickstart.yaml --workers 2",
            "traffic-lam run scenarios/quickstart.yaml --restart",
            "traffic-lam run scenarios/grid4x4.yaml --out runs/grid --executor ray --workers 8 --quiet",
        ],
        handler=run_command,
    )
    p.add_argument("scenario", help="scenario YAML file (see scenarios/)")
    p.add_argument("--out", help="run folder (default: runs/<scenario name>)")
    p.add_argument("--workers", type=int, default=1, help="jobs in parallel processes (default 1)")
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local process pool, or Ray tasks (pip install -e .[ray]; RAY_ADDRESS for a cluster)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_folder_flags(p)

    p = add_command(
        commands,
        "compare",
        summary="plots and a table from existing run folders (no simulation)",
        description="Merge the results.csv of one or more run folders and draw the comparison plots and report.",
        usage_examples=[
            "traffic-lam compare runs/quickstart",
            "traffic-lam compare runs/quickstart runs/grid --out runs/comparison",
        ],
        handler=compare_command,
    )
    p.add_argument("runs", nargs="+", help="run folders holding results.csv")
    p.add_argument(
        "--out",
        help="folder for the comparison, not another run folder (default: the single run folder, or ./comparison)",
    )


def _add_folder_flags(parser: argparse.ArgumentParser) -> None:
    """``--restart`` / ``--resume-anyway``: what to do with a run folder holding results of another scenario."""
    changed = parser.add_mutually_exclusive_group()
    changed.add_argument(
        "--restart",
        action="store_true",
        help="start over: move the folder's old results aside, to <folder>.old-<UTC time> (nothing is deleted)",
    )
    changed.add_argument(
        "--resume-anyway",
        action="store_true",
        help="keep the old results of a changed scenario and go on (recorded in the folder's fingerprint.json)",
    )


def run_command(args: argparse.Namespace) -> int:
    """``traffic-lam run``: check everything, open the run folder, run the jobs, print the summary table."""
    from traffic_lam.experiments.runner import execute_run, prepare_run
    from traffic_lam.experiments.scenario import load_scenario
    from traffic_lam.report.terminal import terminal_summary

    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("runs") / scenario.name
    on_change = "restart" if args.restart else "resume-anyway" if args.resume_anyway else "refuse"
    run = prepare_run(scenario, out, workers=args.workers, executor=args.executor, on_change=on_change)
    for note in run.notes:
        print(note)
    print(f"scenario {scenario.name}: {len(scenario.controllers)} controllers x {len(scenario.evaluation.seeds)} "
          f"seeds x {scenario.evaluation.episodes} episodes on {scenario.network} -> {out}")  # fmt: skip
    progress = _ProgressBars(quiet=args.quiet)
    started = time.perf_counter()
    summary = execute_run(run, progress=progress)
    progress.close()
    print(f"\n{summary.evaluated} episodes evaluated, {summary.skipped} already done, {summary.trained} learners "
          f"trained in {time.perf_counter() - started:.0f} s")  # fmt: skip
    if summary.rows:
        print("\n" + terminal_summary(summary.rows))
        print(f"\nresults: {summary.run_dir / 'results.csv'}")
        print(f"report:  {summary.report}")
    for what, error in summary.failures:
        print(f"traffic-lam: error: {what} failed: {error} (details in {summary.failure_log})", file=sys.stderr)
    return 1 if summary.failures else 0


class _ProgressBars:
    """The runner's ``progress(phase, done, total)`` callback: one tqdm bar per phase (none when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bars: dict[str, tqdm] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if phase not in self.bars:
            self.bars[phase] = tqdm(total=total, desc=f"{phase:>8}", unit="job", leave=True)
        bar = self.bars[phase]
        bar.n = done
        bar.refresh()
        if done == total:
            bar.close()

    def close(self) -> None:
        """Close every bar (a run that stops early leaves some open)."""
        for bar in self.bars.values():
            bar.close()


def compare_command(args: argparse.Namespace) -> int:
    """``traffic-lam compare``: merge run folders' results and curves, draw the plots and report, print the table."""
    from traffic_lam.errors import ConfigError
    from traffic_lam.experiments.run_folder import written_by_run
    from traffic_lam.experiments.store import write_rows
    from traffic_lam.files import ensure_writable_dir
    from traffic_lam.report.outputs import comparison_curves, write_outputs
    from traffic_lam.report.terminal import terminal_summary

    runs = [Path(r) for r in args.runs]
    rows = _merged_rows(runs)
    out = Path(args.out) if args.out else (runs[0] if len(runs) == 1 else Path("comparison"))
    into_run = len(runs) == 1 and out.resolve() == runs[0].resolve()  # the run's own plots and report, redrawn
    if not into_run and written_by_run(out):
        raise ConfigError(
            f"compare --out {out}: is a run folder (written by 'traffic-lam run'); the comparison would overwrite "
            "its results.csv, plots and report: choose another --out"
        )
    out = ensure_writable_dir(out)
    if not into_run:
        write_rows(out / "results.csv", rows)
    title = "traffic_lam — comparison of " + ", ".join(r.name for r in runs)
    plots, report = write_outputs(out, rows, title=title, curves=comparison_curves(runs))
    print(terminal_summary(rows))
    print(f"\nplots:  {out / 'plots'} ({', '.join(p.name for p in plots)})")
    print(f"report: {report}")
    return 0


def _merged_rows(runs: list[Path]) -> list[dict]:
    """Every row of every run's results.csv; with several runs, controllers prefixed ``<folder>/`` and a ``run`` column.

    The prefix is the folder's name (its path when two folders share a name:
    :func:`~traffic_lam.report.outputs.folder_names`); the ``run`` column holds it, so that
    a label has the same colour in every folder (:mod:`traffic_lam.report.colours`).
    """
    from traffic_lam.errors import ConfigError
    from traffic_lam.experiments.store import read_rows
    from traffic_lam.report.outputs import folder_names

    rows = []
    for run, name in zip(runs, folder_names(runs), strict=True):
        results = run / "results.csv"
        if not results.is_file():
            raise ConfigError(f"{run}: no results.csv (expected a run folder written by 'traffic-lam run')")
        for row in read_rows(results):
            if name:
                row["controller"] = f"{name}/{row['controller']}"
                row["run"] = name
            rows.append(row)
    if not rows:
        raise ConfigError(f"{', '.join(map(str, runs))}: results.csv has no rows")
    return rows
