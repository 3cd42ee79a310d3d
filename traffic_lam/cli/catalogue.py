"""Commands that look things up without simulating: ``list``, ``check-network`` and ``schema``."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from traffic_lam.cli.options import NETWORK_HELP, add_command

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
"""The scenario files shipped next to the package (a source checkout)."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``list``, ``check-network`` and ``schema``."""
    add_command(
        commands,
        "list",
        summary="bundled networks, scenarios, controllers, observations and rewards",
        description="List what can be named without a path: bundled networks, RESCO maps, the scenario files, "
        "controllers, observations and rewards.",
        usage_examples=["traffic-lam list"],
        handler=list_command,
    )
    p = add_command(
        commands,
        "check-network",
        summary="validate a network: signals, phases, lanes, problems",
        description="Read a network and report its controllable signals (green phases, incoming and outgoing "
        "lanes, neighbours) and every problem found, without simulating.",
        usage_examples=[
            "traffic-lam check-network grid4x4",
            "traffic-lam check-network resco:cologne8",
            "traffic-lam check-network path/to/town.net.xml --route-file path/to/town.rou.xml",
        ],
        handler=check_network_command,
    )
    p.add_argument("network", help=NETWORK_HELP)
    p.add_argument("--route-file", help="routes for a bare .net.xml")

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
    print("observations:     " + ", ".join(OBSERVATIONS))
    print("rewards:          " + ", ".join(REWARDS))
    return 0


def check_network_command(args: argparse.Namespace) -> int:
    """``traffic-lam check-network``: print the network's signals and the problems found reading it.

    Per signal: its green phases as SUMO state strings (the actions, in order), its lanes and
    its neighbours; the last line is ``no problems found`` or the list of problems.
    """
    from traffic_lam.report.summary import plural
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
        neighbours = f"{plural(len(layout.neighbours), 'neighbour')} ({', '.join(layout.neighbours)})"
        print(
            f"    {layout.id}: {plural(layout.num_greens, 'green phase')}, "
            f"{plural(len(layout.in_lanes), 'incoming lane')}, {plural(len(layout.out_lanes), 'outgoing lane')}, "
            f"{neighbours if layout.neighbours else 'no neighbours'}"
        )
        for k, green in enumerate(layout.greens):
            print(f"      green {k}: {green}")
    problems = [" ".join(str(w.message).split()) for w in caught]
    print(f"  {plural(len(problems), 'problem')} found:" if problems else "  no problems found")
    for problem in problems:
        print(f"    - {problem}")
    return 0


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
