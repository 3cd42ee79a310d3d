"""Learning from an expert on the RESCO maps: imitation alone, and DQN / PPO from scratch vs warm-started.

For each map, one scenario run (``traffic-lam run``'s own code) under the RESCO protocol
(:func:`traffic_lam.resco_protocol`), with the reward and learner settings of
``scenarios/train-dqn.yaml`` and ``scenarios/train-ppo.yaml`` (no per-map tuning; ``--reward``
trains every learner on another built-in reward):

* the expert (``--expert``, default greedy: our best classic controller on grid4x4,
  cologne8 and ingolstadt7);
* ``bc``: behaviour cloning of ``--demo-episodes`` expert episodes;
* ``dagger``: DAgger, the expert's episodes then ``--dagger-iterations`` rounds of the
  student's own rollouts labelled by the expert;
* with ``--detector-clones``, ``bc-detector`` and ``dagger-detector``: the same on the
  ``detector`` observation (the detector-range queues the classic experts read);
* ``dqn`` and ``ppo`` (and with ``--families``, ``batched-q``, the settings of
  ``scenarios/train-batched-q.yaml``) from scratch and warm-started (``warm_start: {expert,
  method: dagger}``), each with ``--seeds`` training seeds (the learner's ``seed``; the SUMO
  training seeds are the same for all). A warm-started learner acts on its warm start from the
  first step: DQN's epsilon starts at ``exploration_final_eps`` (``sb3:
  {exploration_initial_eps}``), batched-q's at ``epsilon_end`` (``epsilon_start``);
  ``--dqn-initial-eps`` sets another for both.

Every learner trains ``--episodes`` episodes on two parallel simulations (SUMO seeds 10000
on), validates every ``--validate-every`` on seeds 5000/5001 and is evaluated on the fresh seeds 0, 1 and 2,
its selected policy and its final one. Prints (and writes to ``<out>/imitation.md``) per
map: each controller's mean average delay, the episodes each learner needed to reach the
expert's delay (the first episode after which its validation delay, seeds 5000/5001, is at
or below the expert's mean delay on those same seeds — 0 when a warm-started learner's warm start,
validated before any training episode, already is — and the first whose own training episode is at
or below the expert's mean evaluation delay, exploration included; ">N" when none did), its training
wall time, and any reward-hacking warning. A rerun resumes what is done (and runs the expert on the
validation seeds of a folder that lacks them); ``--table-only`` runs nothing.

Usage:
    python scripts/reproduce_resco_imitation.py --maps grid4x4 cologne8 --out runs/resco-imitation
    python scripts/reproduce_resco_imitation.py --maps ingolstadt7 --seeds 0 --out runs/resco-imitation
    python scripts/reproduce_resco_imitation.py --table-only --out runs/resco-imitation
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml
from reproduce_resco_learners import check_scenarios, learner_entry, run_scenario_data, training_minutes

from traffic_lam.env.rewards import REWARDS

MAPS = ("grid4x4", "cologne8", "ingolstadt7")
FAMILIES = ("dqn", "ppo", "batched-q")
DEFAULT_FAMILIES = ("dqn", "ppo")


def learner_args(family: str) -> tuple[dict[str, Any], Any]:
    """The arguments and the reward of ``scenarios/train-<family>.yaml``."""
    entry, reward = learner_entry(family)
    return dict(entry.get("args") or {}), reward


def training_observation() -> str:
    """The observation ``scenarios/train-dqn.yaml`` and ``train-ppo.yaml`` train on (``default`` when unsaid)."""
    found = {str(learner_args(family)[0].get("observation", "default")) for family in DEFAULT_FAMILIES}
    if len(found) > 1:
        raise SystemExit(f"scenarios/train-dqn.yaml and train-ppo.yaml disagree on the observation: {sorted(found)}")
    return found.pop()


def settings(items: list[str], option: str = "--warm") -> dict[str, Any]:
    """``["keep_demos=false", "margin=0.5"]`` as a mapping of YAML values."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"{option} {item}: expected KEY=VALUE", file=sys.stderr)
            raise SystemExit(2)
        out[key] = yaml.safe_load(value)
    return out


def first_epsilon(family: str, family_args: dict[str, Any], start: float | None) -> dict[str, Any]:
    """The arguments that start a warm-started learner's exploration at ``start`` (default: its final epsilon)."""
    if family == "dqn":
        return {"sb3": {"exploration_initial_eps": family_args.get("exploration_final_eps", 0.05) if start is None
                        else start}}  # fmt: skip
    if family == "batched-q":
        return {"epsilon_start": family_args.get("epsilon_end", 0.05) if start is None else start}
    return {}


def learner_entries(args: argparse.Namespace) -> tuple[list, Any]:
    """Scratch (unless ``--no-scratch``) and warm-started (unless ``--no-warm``) learners of each family and
    seed, and their reward."""
    entries, rewards = [], set()
    warm = {"expert": args.expert, "method": "dagger", "episodes": args.demo_episodes,
            "iterations": args.dagger_iterations, **settings(args.warm)}  # fmt: skip
    for family in args.families:
        family_args, reward = learner_args(family)
        family_args.update(observation=args.observation, **settings(args.learner, "--learner"))
        rewards.add(str(reward))
        for seed in args.seeds:
            if not args.no_scratch:
                entries.append({"name": f"{family}-scratch-s{seed}", "type": family,
                                "args": {**family_args, "seed": seed}})  # fmt: skip
            if args.no_warm:
                continue
            warm_args = {**copy.deepcopy(family_args), "seed": seed, "warm_start": warm}
            warm_args.update(first_epsilon(family, family_args, args.dqn_initial_eps))
            entries.append({"name": f"{family}-warm-s{seed}", "type": family, "args": warm_args})
    if args.reward is not None:
        return entries, args.reward
    if len(rewards) > 1:
        families = ", ".join(args.families)
        raise SystemExit(f"the train-*.yaml scenarios of {families} disagree on the reward: {sorted(rewards)}")
    return entries, reward


def map_scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The scenario of one map: the expert, bc, dagger and the learners, RESCO protocol."""
    from traffic_lam.evaluation import resco_protocol

    protocol = resco_protocol(f"resco:{name}")
    learners, reward = learner_entries(args)
    imitation = []
    observations = (args.observation, "detector") if args.detector_clones else (args.observation,)
    for observation in () if args.no_imitation else observations:
        suffix = "" if observation == args.observation else f"-{observation}"
        common = {"expert": args.expert, "episodes": args.demo_episodes, "observation": observation}
        imitation += [
            {"name": f"bc{suffix}", "type": "bc", "args": common},
            {"name": f"dagger{suffix}", "type": "dagger", "args": {**common, "iterations": args.dagger_iterations}},
        ]
    timing = {k: protocol[k] for k in ("delta_time", "yellow_time", "all_red_time", "min_green", "max_green")}
    return {
        "name": f"resco-imitation-{name}",
        "description": f"{args.expert} as the expert on RESCO {name}: bc, dagger, dqn and ppo from scratch and "
        "warm-started.",
        "network": f"resco:{name}",
        "timing": timing,
        "time_to_teleport": protocol["time_to_teleport"],
        "reward": reward,
        "controllers": [args.expert, *imitation, *learners],
        "training": {
            "episodes": args.episodes,
            "seed": 10000,
            "num_envs": 2,
            "checkpoint_every": 10,
            "validate_every": args.validate_every,
        },
        "evaluation": {"seeds": [0, 1, 2], "episodes": 1},
    }


def run_map(name: str, args: argparse.Namespace) -> None:
    """Run (or resume) the scenario of one map into ``out/<name>``, then the expert on the validation seeds;
    failures are printed, not raised."""
    run_scenario_data(name, map_scenario(name, args), args.out)
    expert_on_validation_seeds(args.out / name, name, args.expert)


def expert_on_validation_seeds(folder: Path, name: str, expert: str, run: bool = True) -> float | None:
    """The expert's mean delay on the learners' validation seeds (kept in ``expert-validation.json``).

    What a validation is compared with: the same seeds, not the evaluation ones. Run once per folder (not
    at all unless ``run``); None when it has not run, or the folder holds no run (nothing is written then).
    """
    from traffic_lam.controllers.budget import TrainingBudget
    from traffic_lam.evaluation import evaluate, resco_protocol
    from traffic_lam.files import atomic_write_text

    path = folder / "expert-validation.json"
    if path.is_file():
        kept = json.loads(path.read_text())
        return float(kept["delay_s"]) if kept.get("expert") == expert else None
    if not run or not (folder / "results.csv").is_file():
        return None
    seeds = list(TrainingBudget().validation_seeds)  # the scenarios here keep the default
    delays = [evaluate(f"resco:{name}", expert, seed=s, **resco_protocol(f"resco:{name}"))[0].avg_delay for s in seeds]
    mean = statistics.fmean(delays)
    atomic_write_text(path, json.dumps({"expert": expert, "seeds": seeds, "delays_s": delays, "delay_s": mean}))
    return mean


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def mean_delays(folder: Path) -> dict[str, float]:
    """Each controller label's mean average delay over the evaluation seeds."""
    rows = _rows(folder / "results.csv")
    out = {}
    for label in {r["controller"] for r in rows}:
        values = [float(r["avg_delay"]) for r in rows if r["controller"] == label and r.get("avg_delay")]
        if values:
            out[label] = statistics.fmean(values)
    return out


def episodes_to_reach(rows: list[dict[str, str]], target: float, column: str = "delay_s") -> int | None:
    """The first episode whose ``column`` is at or below ``target``: rows of validations (episode 0: the warm
    start itself, before any training episode) or of the learning curve (the training episodes' delay)."""
    for row in rows:
        if row.get(column) and float(row[column]) <= target:
            return int(row["episode"])
    return None


def learner_row(
    folder: Path, label: str, delays: dict[str, float], target: float, on_validation: float | None = None
) -> dict[str, Any]:
    """What the table says of one learner: selected / final delay, episodes to the expert, wall time, warnings.

    Validations are compared with the expert on the validation seeds (``on_validation``; None: with
    ``target``, its evaluation delay), training episodes with ``target``.
    """
    from traffic_lam.controllers.selection import read_warnings, validation_file, warnings_file

    curve = _rows(folder / "curves" / f"{label}.csv")
    validations = _rows(validation_file(folder / "curves" / f"{label}.csv"))
    found = read_warnings(warnings_file(folder / "curves" / f"{label}.csv"))
    return {
        "selected": delays.get(label),
        "final": delays.get(f"{label}.final", delays.get(label)),
        "reached": episodes_to_reach(validations, target if on_validation is None else on_validation),
        "reached_training": episodes_to_reach(curve, target),
        "episodes": len(curve),
        "wall_min": training_minutes(folder, label),
        "warning": "; ".join(found) or None,
    }


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def map_table(folder: Path, name: str, expert: str) -> str:
    """The markdown table of one map's run folder."""
    delays = mean_delays(folder)
    if expert not in delays:
        return ""
    target = delays[expert]
    on_validation = expert_on_validation_seeds(folder, name, expert, run=False)
    seen = "" if on_validation is None else f" (on the validation seeds: {on_validation:.1f} s)"
    lines = [
        f"**{name}** — expert {expert}: {target:.1f} s{seen}",
        "",
        "| controller | delay, selected (s) | final (s) | vs expert (final) | episodes to reach the expert: "
        "validation / training episode | training (min) | reward-hacking guard |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in ("bc", "dagger", "bc-detector", "dagger-detector"):
        if label in delays:
            ratio = delays[label] / target - 1
            lines.append(f"| {label} | {_cell(delays[label])} | – | {ratio:+.1%} | – | – | – |")
    labels = sorted({c.removesuffix(".final") for c in delays if c.startswith(FAMILIES)})
    for label in labels:
        row = learner_row(folder, label, delays, target, on_validation)
        reached = " / ".join(
            f"{row[key]}" if row[key] is not None else f">{row['episodes']}" for key in ("reached", "reached_training")
        )
        ratio = f"{row['final'] / target - 1:+.1%}" if row["final"] is not None else "–"
        lines.append(
            f"| {label} | {_cell(row['selected'])} | {_cell(row['final'])} | {ratio} | {reached} | "
            f"{_cell(row['wall_min'])} | {'**fired**: ' + row['warning'] if row['warning'] else 'silent'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", nargs="+", default=list(MAPS[:2]), choices=MAPS, metavar="MAP")
    parser.add_argument("--expert", default="greedy", help="the expert controller (default greedy)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="training seeds (default 0 1)")
    parser.add_argument("--episodes", type=int, default=30, help="training episodes per learner (default 30)")
    parser.add_argument("--demo-episodes", type=int, default=3, help="expert episodes (per DAgger round; default 3)")
    parser.add_argument("--dagger-iterations", type=int, default=2, help="DAgger's student rounds (default 2)")
    parser.add_argument("--validate-every", type=int, default=5, help="episodes between validations (default 5)")
    parser.add_argument("--no-scratch", action="store_true", help="only the warm-started learners")
    parser.add_argument("--no-warm", action="store_true", help="only the learners from scratch")
    parser.add_argument(
        "--warm",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="more warm_start settings (YAML values), e.g. keep_demos=false",
    )
    parser.add_argument(
        "--learner",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="more arguments of every learner, scratch and warm-started (YAML values), e.g. anneal_lr=true",
    )
    parser.add_argument(
        "--observation",
        default=None,
        help="every learner's and clone's observation (default: that of the train-*.yaml scenarios)",
    )
    parser.add_argument(
        "--reward",
        default=None,
        choices=sorted(REWARDS),
        help="every learner's training reward (default: that of the train-*.yaml scenarios)",
    )
    parser.add_argument("--detector-clones", action="store_true", help="bc and dagger on the detector observation too")
    parser.add_argument("--no-imitation", action="store_true", help="without bc and dagger alone")
    parser.add_argument(
        "--families", nargs="+", default=list(DEFAULT_FAMILIES), choices=FAMILIES, help="default: dqn ppo"
    )
    parser.add_argument(
        "--dqn-initial-eps",
        type=float,
        default=None,
        help="warm-started DQN's and batched-q's first epsilon (default: their final one)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/resco-imitation"))
    parser.add_argument("--table-only", action="store_true", help="print the tables of what is in --out")
    args = parser.parse_args()
    if args.no_scratch and args.no_warm:
        print(
            "error: --no-scratch and --no-warm: expected at most one of them",
            file=sys.stderr,
        )
        return 2
    args.observation = args.observation or training_observation()
    settings(args.warm), settings(args.learner, "--learner")  # a bad KEY=VALUE stops before anything is written
    warnings.simplefilter("ignore")  # short-yellow warnings are in the records
    if not args.table_only:
        check_scenarios({name: map_scenario(name, args) for name in args.maps}, args.out)
        for name in args.maps:
            run_map(name, args)
    text = "\n\n".join(t for t in (map_table(args.out / m, m, args.expert) for m in MAPS) if t)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "imitation.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
