"""Commands that run episodes on one network: ``evaluate`` (a controller, scored) and ``simulate`` (a simple policy)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traffic_lam.cli.options import NETWORK_HELP, TIMING_OPTIONS, add_command, add_timing_flags, given_options

if TYPE_CHECKING:
    import numpy as np

    from traffic_lam.env import TrafficSignalEnv
    from traffic_lam.metrics import EpisodeRecord


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` and ``simulate``."""
    _add_evaluate(commands)
    _add_simulate(commands)


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "evaluate",
        summary="score one controller on one network (same as python -m traffic_lam.evaluation)",
        description="Evaluate a controller, or a trained model (--model), on a network; print one row of scores "
        "per episode: a table on a terminal, CSV when the output goes to a file or pipe (--csv / --table choose). "
        "Episode i runs with seed SEED + i. A model from a run folder is evaluated with the timing and SUMO "
        "options the run trained it with (timing flags given here replace them, with a warning): with the run's "
        "network, --seed S reproduces the run's row for seed S, episode 0 (episode K ran with seed S + 1000 K).",
        usage_examples=[
            "traffic-lam evaluate single-intersection --controller max-pressure --episodes 3",
            "traffic-lam evaluate single-intersection --model runs/quickstart/models/dqn --seed 0",
            "traffic-lam evaluate resco:cologne8 --controller greedy --resco --out runs/cologne8-greedy",
            "python -m traffic_lam.evaluation grid2x2 --controller mypackage.module:MyController --ssm",
        ],
        handler=evaluate_command,
    )
    p.add_argument("network", help=NETWORK_HELP)
    p.add_argument(
        "--controller",
        help="a controller named by 'traffic-lam list', or package.module:Class (default fixed-time); "
        "a learner needs --model",
    )
    p.add_argument(
        "--model",
        metavar="PATH",
        help="a trained model: a learner's folder in a run (runs/<run>/models/<label>) or its model.final",
    )
    p.add_argument("--episodes", default="1", help="number of episodes (default 1)")
    p.add_argument("--seed", default="0", help="seed of the first episode; episode i uses seed + i")
    p.add_argument("--out", help="run folder for SUMO's outputs and the CSV (default: a temporary folder)")
    p.add_argument("--ssm", action="store_true", help="count SSM conflicts (several times slower: README, Scoring)")
    p.add_argument("--resco", action="store_true", help="RESCO protocol: 10 s decisions, 3 s yellow ...")
    add_timing_flags(p)
    output = p.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="print every column as CSV (default when not a terminal)")
    output.add_argument("--table", action="store_true", help="print a rounded table (default on a terminal)")


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "simulate",
        summary="run one episode of a simple policy and print throughput, queues and safety counters",
        description="Run one episode on NETWORK with a simple policy (no learning) and print its metrics.",
        usage_examples=[
            "traffic-lam simulate",
            "traffic-lam simulate grid4x4 --policy random --seed 3 --end 600",
            "traffic-lam simulate single-intersection --gui",
        ],
        handler=simulate_command,
    )
    p.add_argument("network", nargs="?", default="single-intersection", help="default: single-intersection")
    p.add_argument(
        "--policy",
        choices=["random", "cycle", "keep"],
        default="cycle",
        help="random masked actions, cycle through greens every max-green, or keep green (default cycle)",
    )
    p.add_argument("--seed", type=int, default=0, help="SUMO seed (default 0)")
    add_timing_flags(p)
    p.add_argument("--backend", choices=["libsumo", "traci"], help="SUMO connection (default: the environment's)")
    p.add_argument("--gui", action="store_true", help="watch it in sumo-gui")


def _integer(name: str, text: str) -> int:
    from traffic_lam.errors import ConfigError

    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {text!r}") from None


def evaluate_command(args: argparse.Namespace) -> int:
    """``traffic-lam evaluate``: evaluate the controller or model, print the records as a table or CSV."""
    from traffic_lam.errors import ControllerError
    from traffic_lam.evaluation.run import evaluate, records_csv

    controller, label, options, where = _controller(args)
    try:
        records = evaluate(
            args.network,
            controller,
            episodes=_integer("episodes", args.episodes),
            seed=_integer("seed", args.seed),
            out_dir=args.out,
            ssm=args.ssm,
            label=label,
            **options,
        )
    except ControllerError as exc:
        if where is None:
            raise
        raise ControllerError(f"{where}: {exc}") from None
    table = args.table or (not args.csv and sys.stdout.isatty())
    print(records_table(records) if table else records_csv(records), end="")
    return 0


def _controller(args: argparse.Namespace) -> tuple[Any, str | None, dict[str, Any], str | None]:
    """The controller (a spec, or the model loaded), its label, the environment options, how errors name the model."""
    from traffic_lam.cli.models import merge_options, open_model
    from traffic_lam.errors import ConfigError
    from traffic_lam.evaluation.run import resco_protocol

    given: dict[str, Any] = resco_protocol(args.network) if args.resco else {}
    given.update(given_options(args, TIMING_OPTIONS))
    if args.model is None:
        return args.controller or "fixed-time", None, given, None
    model = open_model(args.model)
    name = model.controller.name
    if args.controller is not None and args.controller != name:
        raise ConfigError(f"--controller {args.controller}: {args.model} holds a '{name}' (leave --controller out)")
    flags = {option: f"--{attribute.replace('_', '-')}" for attribute, option in TIMING_OPTIONS.items()}
    flags.update({option: f"{option} (--resco)" for option in given if option not in flags})
    return model.controller, model.label, merge_options(model, given, flags), model.describe(args.model)


TABLE_COLUMNS = (
    ("controller", "", "controller", "{}"),
    ("seed", "", "seed", "{}"),
    ("avg_delay", "delay", "s", "{:.1f}"),
    ("avg_travel_time", "travel", "time s", "{:.1f}"),
    ("throughput_per_h", "throughput", "veh/h", "{:.0f}"),
    ("vehicles_arrived", "", "arrived", "{}"),
    ("vehicles_not_inserted", "never", "inserted", "{}"),
    ("collisions", "", "collisions", "{:g}"),
    ("emergency_stops", "emergency", "stops", "{}"),
    ("teleports", "", "teleports", "{}"),
)
"""The table's columns: record field, the two heading lines, and the format of a value."""

SSM_COLUMNS = tuple((f"ssm_{m}", "SSM", m.upper(), "{}") for m in ("ttc", "drac", "pet"))
"""Columns added when SSM conflicts were counted."""


def records_table(records: Sequence[EpisodeRecord]) -> str:
    """The records as a rounded table (two heading lines, one row per episode; ``-`` for a missing value)."""
    columns = TABLE_COLUMNS + (SSM_COLUMNS if any(r.ssm_ttc is not None for r in records) else ())
    cells = [[("-" if getattr(r, key) is None else form.format(getattr(r, key))) for key, _, _, form in columns]
             for r in records]  # fmt: skip
    widths = [max(len(top), len(bottom), *(len(row[i]) for row in cells)) for i, (_, top, bottom, _) in
              enumerate(columns)]  # fmt: skip

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        return "  ".join([first, *(v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))]).rstrip()

    heading = [line([c[1] for c in columns]), line([c[2] for c in columns])]
    return "\n".join([*heading, *(line(row) for row in cells)]) + "\n"


def simulate_command(args: argparse.Namespace) -> int:
    """``traffic-lam simulate``: one episode of ``--policy``; print throughput, queues and safety counters."""
    import numpy as np

    from traffic_lam.env import make_env

    env = make_env(args.network, gui=args.gui, **given_options(args, {**TIMING_OPTIONS, "backend": "backend"}))
    started = time.perf_counter()
    try:
        queues, system = _episode(env, args.policy, args.seed)
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
    print(f"  mean queue per signal {np.mean(queues):.1f} vehicles over {len(queues)} decisions")
    print(
        f"  collisions {system['collisions']:g}, emergency stops {system['emergency_stops']}, "
        f"teleports {system['teleports']}"
    )
    return 0


def _episode(env: TrafficSignalEnv, policy: str, seed: int) -> tuple[list[float], dict[str, Any]]:
    """Run one episode of ``policy``; the mean queue per signal after each decision, and the system counters."""
    import numpy as np

    rng = np.random.default_rng(seed)
    timing = env.config.timing
    _, infos = env.reset(seed=seed)
    queues: list[float] = []
    since = dict.fromkeys(env.agents, 0)
    while env.agents:
        actions = {}
        for agent in env.agents:
            turn = since[agent] * timing.delta_time >= timing.max_green // 2
            actions[agent] = _action(policy, infos[agent], turn, rng)
            if policy == "cycle" and turn:
                since[agent] = 0
            since[agent] += 1
        _observations, _rewards, _, _, infos = env.step(actions)
        queues.append(float(np.mean([infos[a]["queue"] for a in infos])))
    return queues, next(iter(infos.values()))["system"]


def _action(policy: str, info: dict[str, Any], turn: bool, rng: np.random.Generator) -> int:
    """``random``: any allowed action; ``cycle``: the next green when its ``turn`` came; otherwise keep the green."""
    import numpy as np

    mask = info["action_mask"]
    if policy == "random":
        return int(rng.choice(np.flatnonzero(mask)))
    if policy == "cycle" and turn:
        return (info["phase"] + 1) % len(mask)
    return info["phase"]
