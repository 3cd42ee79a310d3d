"""Commands over scenarios and run folders: ``run`` and ``compare``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from traffic_lam.cli.options import add_command

if TYPE_CHECKING:
    from tqdm import tqdm

    from traffic_lam.experiments.progress import ProgressUpdate
    from traffic_lam.experiments.runner import PreparedRun, RunSummary


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
    p.add_argument("--quiet", action="store_true", help="no progress bars (as off a terminal): a line per phase")
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
    from traffic_lam.report.outputs import run_warnings
    from traffic_lam.report.terminal import terminal_summary

    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("runs") / scenario.name
    on_change = "restart" if args.restart else "resume-anyway" if args.resume_anyway else "refuse"
    run = prepare_run(scenario, out, workers=args.workers, executor=args.executor, on_change=on_change)
    for note in run.notes:
        print(note)
    print(f"scenario {scenario.name}: {_count(len(scenario.controllers), 'controller')} x "
          f"{_count(len(scenario.evaluation.seeds), 'seed')} x {_count(scenario.evaluation.episodes, 'episode')} "
          f"on {scenario.network} -> {out}")  # fmt: skip
    progress = _ProgressBars(quiet=args.quiet)
    try:
        summary = execute_run(run, progress=progress)
    finally:
        progress.close()
    print("\n" + _totals(run, summary))
    if summary.rows:
        print("\n" + terminal_summary(summary.rows, warnings=run_warnings(summary.run_dir)))
        print(f"\nresults: {summary.run_dir / 'results.csv'}")
        print(f"report:  {summary.report}")
    for what, error in summary.failures:
        print(f"traffic-lam: error: {what} failed: {error} (details in {summary.failure_log})", file=sys.stderr)
    return 1 if summary.failures else 0


def _count(n: int, noun: str) -> str:
    """``1 episode``, ``2 episodes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _duration(seconds: float) -> str:
    """``8.2 s``, ``21 s``, ``1 min 3 s``, ``2 h 5 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _totals(run: PreparedRun, summary: RunSummary) -> str:
    """The run's last line: what was trained and evaluated now, each with its own wall time."""
    parts = []
    if summary.to_train:
        parts.append(f"{_count(summary.trained, 'learner')} trained in {_duration(summary.training_s)}")
    elif run.learners:
        parts.append(f"{_count(len(run.learners), 'learner')} already trained")
    evaluated = f"{_count(summary.evaluated, 'episode')} evaluated, {summary.skipped} already done"
    parts.append(f"{evaluated}, in {_duration(summary.evaluation_s)}" if summary.evaluated else evaluated)
    return "; ".join(parts)


def _on_terminal(*streams: TextIO) -> bool:
    """Whether every stream is a terminal."""
    return all(getattr(stream, "isatty", lambda: False)() for stream in streams)


class _ProgressBars:
    """The runner's progress callback: live bars on a terminal, one line per finished phase.

    On a terminal (stdout and stderr), unless ``quiet``: a bar per learner while it trains,
    from its first episode (total: its training episodes; ETA; its latest episode's delay
    and return), and a bar for the evaluation (total: its episodes), on stderr. Always: a
    line on stdout when a learner's training or the evaluation ends.
    """

    def __init__(self, quiet: bool) -> None:
        self.live = not quiet and _on_terminal(sys.stdout, sys.stderr)
        self.bars: dict[tuple[str, str], tqdm] = {}

    def __call__(self, update: ProgressUpdate) -> None:
        key = (update.phase, update.name)
        if self.live and (key in self.bars or not update.finished or update.done):
            self._draw(key, update)
        if update.finished:
            bar = self.bars.pop(key, None)
            if bar is not None:
                bar.close()
            self._say(_phase_line(update))

    def _draw(self, key: tuple[str, str], update: ProgressUpdate) -> None:
        """Create or move the phase's bar to ``update``."""
        from tqdm import tqdm

        bar = self.bars.get(key)
        total = max(update.total, update.done)
        if bar is None:  # shown by the refresh below (delay), once its clock is set
            desc = f"train {update.name}" if update.phase == "train" else update.phase
            bar = tqdm(total=total, desc=desc, unit="episode", smoothing=0, delay=1e-9, file=sys.stderr)
            bar.start_t -= update.elapsed_s  # rates and ETA from the phase's start (a learner's training)
            self.bars[key] = bar
        bar.total, bar.n = total, update.done
        bar.set_postfix_str(_postfix(update), refresh=False)
        bar.refresh()

    def _say(self, line: str) -> None:
        if self.live:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def close(self) -> None:
        """Close every bar (a run that stops early leaves some open)."""
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _postfix(update: ProgressUpdate) -> str:
    """The latest episode in a bar: a learner's delay and return, an evaluated controller's delay."""
    latest = update.latest
    if update.phase == "train":
        parts = [f"delay {_number(latest.get('delay_s'))} s", f"return {_number(latest.get('return'), 2)}"]
        return ", ".join(p for p in parts if "?" not in p)
    delay = _number(latest.get("avg_delay"))
    return f"{latest.get('controller', '')} delay {delay} s" if latest and "?" not in delay else ""


def _phase_line(update: ProgressUpdate) -> str:
    """The line saying a phase ended: ``trained dqn: 40 episodes in 28 s, last delay 51.3 s``."""
    if update.phase != "train":
        return f"evaluated {_count(update.done, 'episode')} in {_duration(update.elapsed_s)}"
    if update.failed:
        return f"training {update.name} failed after {_count(update.done, 'episode')}"
    delay = _number(update.latest.get("delay_s"))
    last = f", last delay {delay} s" if "?" not in delay else ""
    if not update.done:  # no training episodes (a behaviour clone fits recorded demonstrations)
        return f"trained {update.name} in {_duration(update.elapsed_s)}"
    return f"trained {update.name}: {_count(update.done, 'episode')} in {_duration(update.elapsed_s)}{last}"


def _number(value: Any, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals, ``?`` when it is no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?"
    return f"{value:.{digits}f}"


def compare_command(args: argparse.Namespace) -> int:
    """``traffic-lam compare``: merge run folders' results and curves, draw the plots and report, print the table."""
    from traffic_lam.errors import ConfigError
    from traffic_lam.experiments.run_folder import written_by_run
    from traffic_lam.experiments.store import write_rows
    from traffic_lam.files import ensure_writable_dir
    from traffic_lam.report.outputs import (
        comparison_curves,
        comparison_experts,
        comparison_warnings,
        folder_names,
        write_outputs,
    )
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
    title = "traffic_lam — comparison of " + ", ".join(folder_names(runs) if len(runs) > 1 else [runs[0].name])
    found = comparison_warnings(runs)
    plots, report = write_outputs(
        out, rows, title=title, curves=comparison_curves(runs), warnings=found, experts=comparison_experts(runs)
    )
    print(terminal_summary(rows, warnings=found))
    print(f"\nplots:  {out / 'plots'} ({', '.join(p.name for p in plots)})")
    print(f"report: {report}")
    return 0


def _merged_rows(runs: list[Path]) -> list[dict]:
    """Every row of every run's results.csv; with several runs, controllers prefixed ``<folder>/`` and a ``run`` column.

    The prefix is the folder's name (the end of its path that tells it apart when two folders share a name:
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
