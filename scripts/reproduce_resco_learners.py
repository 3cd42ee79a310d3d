"""The learners on the RESCO maps, beside our classic controllers and the published figures.

For each map, one scenario run (``traffic-lam run``'s own code: training, validation,
selection, evaluation, plots and report) under the RESCO protocol
(:func:`traffic_lam.resco_protocol`): greedy, max-pressure, actuated and fixed-time, and
each learner asked for with exactly the settings and reward of ``scenarios/train-<learner>.yaml``
(no per-map tuning), trained ``--episodes`` episodes on two parallel simulations (SUMO seeds
from 10000 on), with validation on held-apart seeds during training. Every controller is
evaluated on the fresh seeds 0, 1 and 2; a learner is reported twice: its *selected* policy
(best validation delay, the one ``traffic-lam run`` reports by default) and its *final* one.

Prints (and writes to ``<out>/learners.md``) a markdown table of the mean average delay
(RESCO's definition, ``docs/definitions.md``), the vehicles never inserted and the training
wall time, beside RESCO's published learners (best of 100 training episodes, SUMO 1.9).
Every map's run folder (``<out>/<map>``) keeps results.csv, curves, models, plots and
report.html; a rerun resumes what is done.

Usage:
    python scripts/reproduce_resco_learners.py --learners ppo --out runs/resco-learners
    python scripts/reproduce_resco_learners.py --maps grid4x4 cologne8 ingolstadt7 --learners ppo dqn batched-q
    python scripts/reproduce_resco_learners.py --table-only --out runs/resco-learners
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
CLASSIC = ("greedy", "max-pressure", "actuated", "fixed-time")
PUBLISHED = {  # docs/definitions.md (reference figures): RESCO, average delay (s), SUMO 1.9, best of 100 episodes
    "grid4x4": {"IDQN": 33.0, "IPPO": 44.0},
    "arterial4x4": {"IDQN": 1168.3, "IPPO": 686.6},
    "cologne1": {"IDQN": 26.1, "IPPO": 43.2},
    "cologne3": {"IDQN": 24.0, "IPPO": 24.0},
    "cologne8": {"IDQN": 22.1, "IPPO": 21.6},
    "ingolstadt1": {"IDQN": 21.5, "IPPO": 20.9},
    "ingolstadt7": {"IDQN": 31.2, "IPPO": 31.7},
    "ingolstadt21": {"IDQN": 59.6, "IPPO": 93.1},
}


def learner_entry(learner: str) -> tuple[dict[str, Any], Any]:
    """The controller entry and the reward of ``scenarios/train-<learner>.yaml``."""
    data = yaml.safe_load((SCENARIOS / f"train-{learner}.yaml").read_text())
    entry = next(c for c in data["controllers"] if isinstance(c, dict) and c.get("type") == learner)
    return entry, data.get("reward")


def map_scenario(name: str, learners: list[str], episodes: int) -> dict[str, Any]:
    """The scenario of one map: the classic controllers and the learners, RESCO protocol."""
    from traffic_lam.evaluation import resco_protocol

    protocol = resco_protocol(f"resco:{name}")
    entries, rewards = zip(*(learner_entry(learner) for learner in learners), strict=True) if learners else ((), ())
    if len(set(map(str, rewards))) > 1:
        raise SystemExit(f"the train-*.yaml scenarios of {', '.join(learners)} disagree on the reward: {rewards}")
    timing = {k: protocol[k] for k in ("delta_time", "yellow_time", "all_red_time", "min_green", "max_green")}
    return {
        "name": f"resco-learners-{name}",
        "description": f"Learners with their default settings beside the classic controllers on RESCO {name}.",
        "network": f"resco:{name}",
        "timing": timing,
        "time_to_teleport": protocol["time_to_teleport"],
        "reward": rewards[0] if rewards else "queue",
        "controllers": [*CLASSIC, *entries],
        "training": {"episodes": episodes, "seed": 10000, "num_envs": 2, "checkpoint_every": 10},
        "evaluation": {"seeds": [0, 1, 2], "episodes": 1},
    }


def run_map(name: str, learners: list[str], episodes: int, out: Path, workers: int) -> None:
    """Run (or resume) the scenario of one map into ``out/<name>``; failures are printed, not raised."""
    run_scenario_data(name, map_scenario(name, learners, episodes), out, workers)


def check_scenarios(scenarios: dict[str, dict[str, Any]], out: Path) -> None:
    """Parse every map's scenario before anything runs or is written: a bad one exits 2 with its one-line error."""
    from traffic_lam.errors import TrafficLamError
    from traffic_lam.experiments.scenario import parse_scenario

    for name, data in scenarios.items():
        source = out / f"{name}.yaml"
        try:
            parse_scenario(data, where=str(source), base=out, default_name=name, path=source)
        except TrafficLamError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


def run_scenario_data(name: str, data: dict[str, Any], out: Path, workers: int = 1) -> None:
    """Write ``data`` to ``out/<name>.yaml``, run (or resume) it into ``out/<name>``; failures are printed."""
    from traffic_lam.experiments.runner import run_scenario
    from traffic_lam.experiments.scenario import parse_scenario

    folder = out / name
    source = out / f"{name}.yaml"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    scenario = parse_scenario(data, where=str(source), base=source.parent, default_name=name, path=source)
    summary = run_scenario(scenario, folder, workers=workers, on_change="resume-anyway")
    for what, error in summary.failures:
        print(f"{name}: {what} failed: {error}", file=sys.stderr)
    print(f"{name}: trained {summary.trained}, evaluated {summary.evaluated} ({summary.training_s / 60:.1f} min "
          f"training, {summary.evaluation_s / 60:.1f} min evaluation)", flush=True)  # fmt: skip


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return statistics.fmean(values) if values else None


def _cell(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def training_minutes(folder: Path, learner: str) -> float | None:
    """Wall-clock minutes of a learner's training: the last ``wall_s`` of its learning curve."""
    import csv

    curve = folder / "curves" / f"{learner}.csv"
    if not curve.is_file():
        return None
    with curve.open() as handle:
        rows = list(csv.DictReader(handle))
    return float(rows[-1]["wall_s"]) / 60 if rows and rows[-1].get("wall_s") else None


def table(out: Path, maps: list[str]) -> str:
    """The markdown table of every map's run folder under ``out``: one row per map.

    A cell is the mean average delay over the evaluation seeds; a learner's is its selected
    policy's, then its final policy's when that differs, and its training wall time; vehicles
    never inserted are added where there were any. Bold: the best of the row.
    """
    import csv

    learners = ("ppo", "dqn", "batched-q")
    head = ["map", *CLASSIC, *learners, "RESCO IDQN / IPPO (best of 100 training episodes)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in maps:
        results = out / name / "results.csv"
        if not results.is_file():
            continue
        with results.open() as handle:
            rows = list(csv.DictReader(handle))
        delays = {
            c: _mean([r for r in rows if r["controller"] == c], "avg_delay") for c in {r["controller"] for r in rows}
        }
        ranked = [d for c, d in delays.items() if d is not None and not c.endswith(".final")]
        best = min(ranked) if ranked else None
        cells = [name]
        for controller in (*CLASSIC, *learners):
            mine = [r for r in rows if r["controller"] == controller]
            delay = delays.get(controller)
            if delay is None:
                cells.append("–")
                continue
            text = f"**{delay:.1f}**" if delay == best else f"{delay:.1f}"
            notes = []
            final = delays.get(controller + ".final")
            if final is not None:
                notes.append(f"final {final:.1f}")
            never = _mean(mine, "vehicles_not_inserted") or 0.0
            if never >= 1.5:
                notes.append(f"{never:.0f} never inserted")
            wall = None if controller in CLASSIC else training_minutes(out / name, controller)
            if wall is not None:
                notes.append(f"{wall:.1f} min")
            cells.append(text + (f" ({'; '.join(notes)})" if notes else ""))
        published = PUBLISHED.get(name, {})
        cells.append(f"{published.get('IDQN', '–')} / {published.get('IPPO', '–')}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    from traffic_lam.sim.network import RESCO_MAPS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", nargs="+", default=list(RESCO_MAPS), choices=RESCO_MAPS, metavar="MAP")
    parser.add_argument("--learners", nargs="+", default=["ppo"], choices=["ppo", "dqn", "batched-q"])
    parser.add_argument("--episodes", type=int, default=80, help="training episodes per learner (default 80)")
    parser.add_argument("--workers", type=int, default=1, help="jobs at a time (default 1)")
    parser.add_argument("--out", type=Path, default=Path("runs/resco-learners"))
    parser.add_argument("--table-only", action="store_true", help="print the table of what is in --out")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # short-yellow warnings are in the records
    if not args.table_only:
        check_scenarios({name: map_scenario(name, args.learners, args.episodes) for name in args.maps}, args.out)
        for name in args.maps:
            run_map(name, args.learners, args.episodes, args.out, args.workers)
    text = table(args.out, list(RESCO_MAPS))
    (args.out / "learners.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
