"""``traffic-lam`` command line: list, check-network, simulate."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence

import numpy as np

from traffic_lam.errors import TrafficLamError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``traffic-lam`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["evaluate"]:  # its own parser (python -m traffic_lam.evaluation), flags and all
        from traffic_lam.evaluation.command import main as evaluate_main

        return evaluate_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except TrafficLamError as exc:
        print(f"traffic-lam: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("traffic-lam: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="traffic-lam", description="Multi-agent traffic signal control on Eclipse SUMO."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "run",
        help="run a scenario: train, evaluate, write results, plots and a report",
        description="Train what needs training, evaluate every controller on the same seeds, and write "
        "results.csv, plots/*.png and report.html into the run folder. Re-running into the same folder "
        "resumes: finished episodes are skipped.",
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
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "compare",
        help="plots and a table from existing run folders (no simulation)",
        description="Merge the results.csv of one or more run folders and draw the comparison plots and report.",
    )
    p.add_argument("runs", nargs="+", help="run folders holding results.csv")
    p.add_argument("--out", help="folder for the comparison (default: the single run folder, or ./comparison)")
    p.set_defaults(handler=_cmd_compare)

    p = sub.add_parser(
        "evaluate",
        help="score one controller on one network (same as python -m traffic_lam.evaluation)",
        add_help=False,
    )
    p.add_argument("arguments", nargs=argparse.REMAINDER, help="see traffic-lam evaluate --help")

    p = sub.add_parser("list", help="bundled networks, scenarios, controllers, observations and rewards")
    p.set_defaults(handler=_cmd_list)

    p = sub.add_parser("check-network", help="validate a network: signals, phases, lanes, problems")
    p.add_argument("network", help="bundled name, resco:<map>, folder, .sumocfg or .net.xml")
    p.add_argument("--route-file", help="routes for a bare .net.xml")
    p.set_defaults(handler=_cmd_check_network)

    p = sub.add_parser(
        "simulate",
        help="run one episode of a simple policy and print throughput, queues and safety counters",
        description="Run one episode on NETWORK with a simple policy (no learning) and print its metrics.",
    )
    p.add_argument("network", nargs="?", default="single-intersection", help="default: single-intersection")
    p.add_argument(
        "--policy",
        choices=["random", "cycle", "keep"],
        default="cycle",
        help="random masked actions, cycle through greens every max-green, or keep green (default cycle)",
    )
    p.add_argument("--seed", type=int, default=0, help="SUMO seed (default 0)")
    p.add_argument("--begin", type=float, help="begin time (default: from the network)")
    p.add_argument("--end", type=float, help="end time (default: from the network)")
    p.add_argument("--delta-time", type=int, default=5)
    p.add_argument("--yellow-time", type=int, default=2)
    p.add_argument("--min-green", type=int, default=5)
    p.add_argument("--max-green", type=int, default=50)
    p.add_argument("--backend", choices=["libsumo", "traci"], default="libsumo")
    p.add_argument("--gui", action="store_true", help="watch it in sumo-gui")
    p.set_defaults(handler=_cmd_simulate)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from traffic_lam.experiments.runner import run_scenario
    from traffic_lam.experiments.scenario import load_scenario
    from traffic_lam.report.summary import summary_table

    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("runs") / scenario.name
    bars: dict[str, tqdm] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if args.quiet:
            return
        if phase not in bars:
            bars[phase] = tqdm(total=total, desc=f"{phase:>8}", unit="job", leave=True)
        bars[phase].n = done
        bars[phase].refresh()
        if done == total:
            bars[phase].close()

    print(f"scenario {scenario.name}: {len(scenario.controllers)} controllers x {len(scenario.evaluation.seeds)} "
          f"seeds x {scenario.evaluation.episodes} episodes on {scenario.network} -> {out}")  # fmt: skip
    started = time.perf_counter()
    summary = run_scenario(scenario, out, workers=args.workers, executor=args.executor, progress=progress)
    for bar in bars.values():
        bar.close()
    print(f"\n{summary.evaluated} episodes evaluated, {summary.skipped} already done, {summary.trained} learners "
          f"trained in {time.perf_counter() - started:.0f} s")  # fmt: skip
    if summary.rows:
        print("\n" + summary_table(summary.rows))
        print(f"\nresults: {summary.run_dir / 'results.csv'}")
        print(f"report:  {summary.report}")
    for what, error in summary.failures:
        print(f"traffic-lam: error: {what} failed: {error}", file=sys.stderr)
    return 1 if summary.failures else 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from traffic_lam.errors import ConfigError
    from traffic_lam.experiments.runner import write_outputs
    from traffic_lam.experiments.store import read_rows, write_rows
    from traffic_lam.files import ensure_writable_dir
    from traffic_lam.report.summary import summary_table

    runs = [Path(r) for r in args.runs]
    rows = []
    for run in runs:
        results = run / "results.csv"
        if not results.is_file():
            raise ConfigError(f"{run}: no results.csv (expected a run folder written by 'traffic-lam run')")
        prefix = f"{run.name}/" if len(runs) > 1 else ""
        for row in read_rows(results):
            row["controller"] = f"{prefix}{row['controller']}"
            rows.append(row)
    if not rows:
        raise ConfigError(f"{', '.join(map(str, runs))}: results.csv has no rows")
    out = ensure_writable_dir(Path(args.out) if args.out else (runs[0] if len(runs) == 1 else Path("comparison")))
    if out not in runs:
        write_rows(out / "results.csv", rows)
    plots, report = write_outputs(out, rows, title="traffic_lam — comparison of " + ", ".join(r.name for r in runs))
    print(summary_table(rows))
    print(f"\nplots:  {', '.join(str(p) for p in plots)}")
    print(f"report: {report}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from traffic_lam.controllers import controller_names
    from traffic_lam.env import OBSERVATIONS, REWARDS
    from traffic_lam.sim.network import RESCO_MAPS, bundled_networks

    scenarios = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))
    print("bundled networks: " + ", ".join(bundled_networks()))
    print("RESCO maps:       " + ", ".join(f"resco:{m}" for m in RESCO_MAPS))
    print("scenarios:        " + (", ".join(str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd())
                                            else str(p) for p in scenarios) or "none found"))  # fmt: skip
    print("controllers:      " + ", ".join(controller_names()))
    print("observations:     " + ", ".join(OBSERVATIONS))
    print("rewards:          " + ", ".join(REWARDS))
    return 0


def _cmd_check_network(args: argparse.Namespace) -> int:
    from traffic_lam.signals import read_signal_layouts
    from traffic_lam.sim.network import resolve_network

    spec = resolve_network(args.network, args.route_file)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layouts = read_signal_layouts(spec.net_file, spec.additional_files)
    print(f"network {spec.name}: {spec.net_file}")
    print(f"  routes: {', '.join(str(r) for r in spec.route_files)}")
    times = f"{spec.begin:g}-{spec.end:g} s" if spec.begin is not None and spec.end is not None else "not set"
    print(f"  begin/end: {times}")
    print(f"  controlled signals: {len(layouts)}")
    for layout in layouts.values():
        print(
            f"    {layout.id}: {layout.num_greens} green phases, {len(layout.in_lanes)} incoming lanes, "
            f"{len(layout.out_lanes)} outgoing lanes, {len(layout.neighbours)} neighbours"
        )
    for warning in caught:
        print(f"  problem: {warning.message}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from traffic_lam.env import make_env

    env = make_env(
        args.network,
        begin_time=args.begin,
        end_time=args.end,
        delta_time=args.delta_time,
        yellow_time=args.yellow_time,
        min_green=args.min_green,
        max_green=args.max_green,
        backend=args.backend,
        gui=args.gui,
    )
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    try:
        _, infos = env.reset(seed=args.seed)
        queues: list[float] = []
        steps = 0
        since = dict.fromkeys(env.agents, 0)
        while env.agents:
            actions = {}
            for agent in env.agents:
                mask = infos[agent]["action_mask"]
                if args.policy == "random":
                    actions[agent] = int(rng.choice(np.flatnonzero(mask)))
                elif args.policy == "cycle" and since[agent] * args.delta_time >= args.max_green // 2:
                    actions[agent] = (infos[agent]["phase"] + 1) % len(mask)
                    since[agent] = 0
                else:
                    actions[agent] = infos[agent]["phase"]
                since[agent] += 1
            _observations, _rewards, _, _, infos = env.step(actions)
            queues.append(float(np.mean([infos[a]["queue"] for a in infos])))
            steps += 1
        system = next(iter(infos.values()))["system"]
    finally:
        env.close()
    wall = time.perf_counter() - started
    hours = (env.config.end_time - env.config.begin_time) / 3600.0
    print(
        f"{env.config.network.name}: {len(env.possible_agents)} signals, policy {args.policy}, seed {args.seed}, "
        f"{env.config.begin_time:g}-{env.config.end_time:g} s simulated in {wall:.1f} s wall"
    )
    print(
        f"  vehicles departed {system['departed']}, arrived {system['arrived']} ({system['arrived'] / hours:.0f} veh/h)"
    )
    print(f"  mean queue per signal {np.mean(queues):.1f} vehicles over {steps} decisions")
    print(
        f"  collisions {system['collisions']:g}, emergency stops {system['emergency_stops']}, "
        f"teleports {system['teleports']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
