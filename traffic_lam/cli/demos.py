"""``traffic-lam demos``: record an expert's demonstrations into a Parquet file, and show one.

``demos record`` runs the expert on a network (or a scenario's network and environment
options) for a number of seeded episodes and writes the rows the learners ``bc`` and
``dagger`` read (``docs/demonstrations.md``); ``demos show`` prints what a file holds.
Bad input is one line and exit code 2, with no file written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from traffic_lam.cli.options import NETWORK_HELP, TIMING_OPTIONS, add_command, add_timing_flags, given_options
from traffic_lam.env.observations import LEARNER_OBSERVATION
from traffic_lam.errors import ConfigError
from traffic_lam.validation import require_int


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``demos`` with its ``record`` and ``show`` subcommands."""
    p = add_command(
        commands,
        "demos",
        summary="record an expert's demonstrations (Parquet) and show them",
        description="Demonstrations for imitation learning: 'demos record' runs an expert controller and writes, "
        "for every signal at every decision, the learner's observation, the action mask and the expert's action; "
        "'demos show' prints a file's metadata, rows and action distribution.",
        usage_examples=[
            "traffic-lam demos record single-intersection --expert greedy --episodes 5 --out demos.parquet",
            "traffic-lam demos show demos.parquet",
        ],
        handler=_no_subcommand,
    )
    sub = p.add_subparsers(dest="demos_command", metavar="SUBCOMMAND", title="subcommands")
    _add_record(sub)
    _add_show(sub)


def _no_subcommand(args: argparse.Namespace) -> int:
    raise ConfigError("demos: expected a subcommand, record or show (see 'traffic-lam demos --help')")


def _add_record(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "record",
        summary="run an expert and write its demonstrations",
        description="Run EXPERT for --episodes episodes (episode k with SUMO seed SEED + k) and write one row per "
        "signal per decision to --out (Parquet, written when every episode is done). EXPERT is a controller "
        "(greedy, max-pressure, fixed-time, actuated, package.module:Class) or the path of a saved learner. "
        "The rows hold the learner's observation (--observation); an expert reading another observation reads "
        "its own. Given a scenario file, the network and environment options are the scenario's.",
        usage_examples=[
            "traffic-lam demos record single-intersection --expert greedy --episodes 5 --out demos.parquet",
            "traffic-lam demos record scenarios/quickstart.yaml --expert max-pressure --seed 100 --out mp.parquet",
            "traffic-lam demos record grid2x2 --expert fixed-time --observation wave --end 900 --out ft.parquet",
            "traffic-lam demos record grid2x2 --expert runs/q/models/dqn/model.final --out dqn.parquet",
        ],
        handler=record_command,
    )
    p.add_argument("source", metavar="SCENARIO_OR_NETWORK", help=f"a scenario .yaml, or a network: {NETWORK_HELP}")
    p.add_argument("--expert", default="greedy", help="controller name, package.module:Class or saved model")
    p.add_argument("--expert-args", metavar="JSON", help="the expert's arguments, e.g. '{\"detection_range\": 100}'")
    p.add_argument("--episodes", default="1", help="number of episodes (default 1)")
    p.add_argument("--seed", default="0", help="seed of the first episode; episode k uses seed + k (default 0)")
    p.add_argument(
        "--observation",
        help="the learner's observation: a name or JSON {name, args} (default: the scenario's, else the learners' own)",
    )
    p.add_argument("--out", required=True, help="the Parquet file to write")
    add_timing_flags(p)


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "show",
        summary="print a demonstrations file's metadata, rows, signals and action distribution",
        description="Print what a demonstrations file holds: format, expert, observation, network, environment "
        "options, episodes (seed, the expert's delay), and per signal its sizes and how often each green was chosen.",
        usage_examples=["traffic-lam demos show demos.parquet"],
        handler=show_command,
    )
    p.add_argument("file", help="a file written by 'traffic-lam demos record'")


def _integer(name: str, text: str, low: int) -> int:
    try:
        value: object = int(text)
    except ValueError:
        value = text
    return require_int(name, value, low)


def _json_object(name: str, text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a JSON object, got {text!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a JSON object, got {text!r}")
    return value


def _source(argument: str) -> tuple[str, dict[str, Any]]:
    """The network and environment options: a scenario's, or a network's (no options)."""
    path = Path(argument)
    if path.suffix in (".yaml", ".yml"):
        from traffic_lam.experiments.scenario import load_scenario

        scenario = load_scenario(path)
        options = dict(scenario.env_options)
        if scenario.route_file is not None:
            options["route_file"] = scenario.route_file
        return scenario.network, options
    return argument, {}


def record_command(args: argparse.Namespace) -> int:
    """``traffic-lam demos record``: record the expert, write the file, print a summary."""
    from traffic_lam.imitation import record_demos

    episodes = _integer("--episodes", args.episodes, 1)
    seed = _integer("--seed", args.seed, 0)
    expert_args = _json_object("--expert-args", args.expert_args)
    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder, expected a file name")
    network, options = _source(args.source)
    observation = options.pop("observation", LEARNER_OBSERVATION)
    if args.observation is not None:
        observation = (
            _json_object("--observation", args.observation) if args.observation.startswith("{") else args.observation
        )
    options.update(given_options(args, TIMING_OPTIONS))

    def progress(episode: int, summary: Any) -> None:
        delay = "n/a" if summary.avg_delay is None else f"{summary.avg_delay:.1f} s"
        print(f"episode {episode} (seed {seed + episode}): {summary.rows} rows, expert delay {delay}", file=sys.stderr)

    dataset = record_demos(
        network, args.expert, seeds=range(seed, seed + episodes), observation=observation, expert_args=expert_args,
        env_options=options, out=out, progress=progress,
    )  # fmt: skip
    print(f"wrote {out}: {len(dataset)} rows, {len(dataset.signals)} signal(s), {episodes} episode(s)")
    return 0


def show_command(args: argparse.Namespace) -> int:
    """``traffic-lam demos show``: print the file's metadata and action distribution."""
    from traffic_lam.imitation import DemoDataset
    from traffic_lam.imitation.dataset import observation_label

    dataset = DemoDataset.load(args.file)
    meta = dataset.metadata
    options = meta.env_options
    expert = meta.expert
    args_text = json.dumps(expert.get("args") or {}, sort_keys=True)
    lines = [
        f"file:         {args.file} (format {meta.format})",
        f"rows:         {len(dataset)}",
        f"expert:       {expert['name']} {args_text}" + (f" from {expert['model']}" if expert.get("model") else ""),
        f"observation:  {observation_label(meta.observation)}",
        f"network:      {meta.network['name']} (fingerprint {meta.network['fingerprint'][:12]})",
        f"control:      {options.get('control')}, reward {options.get('reward')}",
        f"timing:       {json.dumps(options.get('timing'), sort_keys=True)}, "
        f"{options.get('begin_time'):g}-{options.get('end_time'):g} s",
        f"episodes:     {len(meta.episodes)}",
    ]
    for entry in meta.episodes:
        delay = "n/a" if entry.get("avg_delay") is None else f"{entry['avg_delay']:.1f} s"
        share = entry.get("expert_share", 1.0)
        lines.append(f"  episode {entry['episode']}: seed {entry['seed']}, delay {delay}, expert share {share:.2f}")
    lines.append("signals (observation size, greens, rows, share of each green):")
    counts = dataset.action_counts()
    for sid, size, greens in zip(dataset.signals, meta.obs_sizes, meta.action_sizes, strict=True):
        total = sum(counts[sid])
        shares = " ".join(f"{c / total:.2f}" if total else "-" for c in counts[sid])
        lines.append(f"  {sid}: {size}, {greens}, {total}, [{shares}]")
    print("\n".join(lines))
    return 0
