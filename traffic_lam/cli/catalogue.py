"""Commands that look things up without simulating: ``list``, ``check-network`` and ``schema``."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from traffic_lam.cli.options import NETWORK_HELP, add_command

if TYPE_CHECKING:
    from traffic_lam.diagnostics import Problem
    from traffic_lam.signals import SignalLayout
    from traffic_lam.sim.network import NetworkSpec

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
"""The scenario files shipped next to the package (a source checkout)."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``list``, ``check-network`` and ``schema``."""
    add_command(
        commands,
        "list",
        summary="bundled networks, scenarios, controllers, observations and rewards",
        description="List what can be named without a path: bundled networks, RESCO maps, the scenario files, "
        "controllers (with the imitation learners and the warm start of the RL learners from an expert), "
        "observations and rewards.",
        usage_examples=["traffic-lam list"],
        handler=list_command,
    )
    p = add_command(
        commands,
        "check-network",
        summary="validate a network: signals, phases, lanes, problems",
        description="Read a network and report its controllable signals (green phases, incoming and outgoing "
        "lanes, neighbours) and every problem found, one line each as error or warning: programs the env cannot "
        "drive, lanes two signals control, short yellows, repeated vehicle ids, routes with a gap, signals no "
        "route passes; with --simulate also whether the demand jams under the network's own programs. Exit code "
        "1 when an error was found (SUMO would refuse the files), 0 with warnings only (the network still "
        "loads), 2 when the input is not a SUMO network at all.",
        usage_examples=[
            "traffic-lam check-network grid4x4",
            "traffic-lam check-network resco:cologne8",
            "traffic-lam check-network path/to/town.net.xml --route-file path/to/town.rou.xml",
            "traffic-lam check-network networks/town --simulate",
        ],
        handler=check_network_command,
    )
    p.add_argument("network", help=NETWORK_HELP)
    p.add_argument("--route-file", help="routes for a bare .net.xml")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="also run the network's own programs over its begin..end and warn when the demand jams "
        "(vehicles never inserted, teleports, vehicles still running at the end)",
    )

    p = add_command(
        commands,
        "schema",
        summary="print the JSON schema of scenario files (for editors that validate YAML)",
        description="Print the JSON schema that scenario YAML files follow, or write it to FILE. Point an "
        "editor's YAML support at it to get completion and checks while writing a scenario.",
        usage_examples=["traffic-lam schema", "traffic-lam schema --out scenario.schema.json"],
        handler=schema_command,
    )
    p.add_argument("--out", metavar="FILE", help="write the schema to FILE (atomically) instead of printing it")


def list_command(args: argparse.Namespace) -> int:
    """``traffic-lam list``: print the names that can be used without a path."""
    from traffic_lam.controllers import controller_names
    from traffic_lam.env import OBSERVATIONS, REWARDS
    from traffic_lam.sim.network import RESCO_MAPS, bundled_networks

    scenarios = sorted(SCENARIOS.glob("*.yaml"))
    print("bundled networks: " + ", ".join(bundled_networks()))
    print("RESCO maps:       " + ", ".join(f"resco:{m}" for m in RESCO_MAPS))
    print("scenarios:        " + (", ".join(str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd())
                                            else str(p) for p in scenarios) or "none found"))  # fmt: skip
    print("controllers:      " + ", ".join(controller_names()))
    print("imitation:        bc, dagger (learners); warm start of dqn, ppo, batched-q: args: {warm_start: "
          "{expert: NAME, method: bc | dagger, episodes: N, ...}} (traffic_lam.imitation.warm_start)")  # fmt: skip
    print("observations:     " + ", ".join(OBSERVATIONS))
    print("rewards:          " + ", ".join(REWARDS))
    return 0


def check_network_command(args: argparse.Namespace) -> int:
    """``traffic-lam check-network``: print the network's signals and every problem found.

    Per signal: its green phases as SUMO state strings (the actions, in order), its lanes and
    its neighbours. Then one line per problem, ``error:`` or ``warning:`` first
    (:func:`traffic_lam.diagnostics.check_network`; with ``args.simulate`` also a run of the
    network's own programs); the last line is ``no problems found`` or their count.

    Args:
        args: ``network``, ``route_file`` and, optionally, ``simulate`` (default False).

    Returns:
        1 when an error was found (SUMO would refuse the files or the run fail), else 0; a
        network with warnings only still loads and runs. Unreadable input raises instead
        (the CLI prints one line and exits 2).

    """
    from traffic_lam.diagnostics import check_network, simulate_own_programs
    from traffic_lam.sim.network import resolve_network

    spec = resolve_network(args.network, args.route_file)
    check = check_network(spec)
    _print_network(spec, check.layouts)
    problems = list(check.problems)
    if getattr(args, "simulate", False) and not check.errors:
        run = simulate_own_programs(spec)
        print(f"  {run.summary()}")
        problems += run.problems()
    for problem in problems:
        print(f"  {problem.line()}")
    print(_problem_count(problems) if problems else "  no problems found")
    return 1 if check.errors else 0


def _print_network(spec: NetworkSpec, layouts: Mapping[str, SignalLayout]) -> None:
    """The files the network is made of (every route file loaded, in order) and each controllable signal."""
    from traffic_lam.report.summary import plural

    print(f"network {spec.name}: {spec.net_file}")
    routes = ", ".join(str(r) for r in spec.route_files)
    print(f"  routes ({plural(len(spec.route_files), 'file')}, loaded in this order): {routes}")
    if spec.additional_files:
        print(f"  additional files: {', '.join(str(a) for a in spec.additional_files)}")
    times = f"{spec.begin:g}-{spec.end:g} s" if spec.begin is not None and spec.end is not None else "not set"
    print(f"  begin/end: {times}")
    print(f"  controlled signals: {len(layouts)}")
    for layout in layouts.values():
        neighbours = f"{plural(len(layout.neighbours), 'neighbour')} ({', '.join(layout.neighbours)})"
        print(
            f"    {layout.id}: {plural(layout.num_greens, 'green phase')}, "
            f"{plural(len(layout.in_lanes), 'incoming lane')}, {plural(len(layout.out_lanes), 'outgoing lane')}, "
            f"{neighbours if layout.neighbours else 'no neighbours'}"
        )
        for k, green in enumerate(layout.greens):
            print(f"      green {k}: {green}")


def _problem_count(problems: Sequence[Problem]) -> str:
    from traffic_lam.report.summary import plural

    errors = sum(p.severity == "error" for p in problems)
    return (
        f"  {plural(len(problems), 'problem')} found ({plural(errors, 'error')}, "
        f"{plural(len(problems) - errors, 'warning')})"
    )


def schema_command(args: argparse.Namespace) -> int:
    """``traffic-lam schema``: print the scenario JSON schema, or write it atomically to ``--out``."""
    import json

    from traffic_lam.errors import ConfigError
    from traffic_lam.experiments.schema import json_schema
    from traffic_lam.files import atomic_write_text, ensure_writable_dir

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    out = Path(args.out)
    ensure_writable_dir(out.parent, "schema folder")
    try:
        atomic_write_text(out, text)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    print(f"schema: {out}")
    return 0
