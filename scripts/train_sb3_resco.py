"""SB3 DQN / PPO on RESCO maps under the RESCO protocol, against our max-pressure and fixed-time.

For each map: max-pressure and fixed-time are evaluated on the evaluation seeds; each learner
is trained (N simulations in worker processes, parameter sharing, action masks, validation on
seeds 5000 and 5001 every 10 episodes), then its *final* policy, and the one validation
selected when that is another, are evaluated on the same fresh seeds (training uses seeds from
10000 on).
Prints a markdown table beside the published RESCO IDQN / IPPO delays (best training
episode of 100, SUMO 1.9) and writes results.csv, curves/*.csv and learning_curves.png.

Usage:
    python scripts/train_sb3_resco.py --maps grid4x4 cologne8 --algos dqn ppo --episodes 60 --out runs/sb3-resco
    python scripts/train_sb3_resco.py --maps grid4x4 --algos dqn --variants features both   # coordination

Variants (coordination): ``plain`` (own observation and reward), ``features`` (plus the
neighbours' queue occupancy and phase in the input), ``reward`` (plus 0.5 x the neighbours'
mean reward), ``both``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

PUBLISHED = {  # docs/definitions.md (reference figures): average delay (s), RESCO, SUMO 1.9
    "grid4x4": {"IDQN": 33.0, "IPPO": 44.0, "MaxPressure": 52.6},
    "cologne8": {"IDQN": 22.1, "IPPO": 21.6, "MaxPressure": 47.7, "Fixed": 63.8},
    "arterial4x4": {"IDQN": 1168.3, "IPPO": 686.6, "MaxPressure": 952.8},
    "cologne1": {"IDQN": 26.1, "IPPO": 43.2},
    "cologne3": {"IDQN": 24.0, "IPPO": 24.0},
    "ingolstadt1": {"IDQN": 21.5, "IPPO": 20.9},
    "ingolstadt7": {"IDQN": 31.2, "IPPO": 31.7},
    "ingolstadt21": {"IDQN": 59.6, "IPPO": 93.1},
}


VARIANTS = {
    "plain": {},
    "features": {"neighbours": True},
    "reward": {"neighbour_reward": 0.5},
    "both": {"neighbours": True, "neighbour_reward": 0.5},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", nargs="+", default=["grid4x4", "cologne8"])
    parser.add_argument("--algos", nargs="+", default=["dqn", "ppo"])
    parser.add_argument("--episodes", type=int, default=60, help="training episodes per learner (default 60)")
    parser.add_argument("--num-envs", type=int, default=2, help="parallel simulations (default 2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="evaluation seeds")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=["plain"],
        help="coordination variants to train (default: plain)",
    )
    parser.add_argument(
        "--reward", default="queue", help="reward of the learners: a name or a JSON {name, args} (default: queue)"
    )
    parser.add_argument("--hyper", default="{}", help="JSON of extra learner arguments")
    parser.add_argument("--out", default="runs/sb3-resco")
    args = parser.parse_args()

    from traffic_lam.controllers import TrainingBudget, make_controller
    from traffic_lam.env.factory import EnvFactory
    from traffic_lam.evaluation import evaluate, resco_protocol
    from traffic_lam.experiments.store import write_rows
    from traffic_lam.report.plots import learning_curves

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    lines = [
        "| map | controller | avg delay (s), 3 seeds | published RESCO | training wall |",
        "|---|---|---|---|---|",
    ]

    def score(network: str, label: str, controller: object, protocol: dict, wall: float | None) -> float:
        records = evaluate(network, controller, episodes=len(args.seeds), seed=args.seeds[0], **protocol)
        for r in records:
            rows.append({**r.to_row(), "controller": label, "map": network, "train_wall_s": wall})
        delays = [r.avg_delay for r in records]
        write_rows(out / "results.csv", rows)
        return statistics.mean(delays)

    for name in args.maps:
        network = f"resco:{name}"
        protocol = resco_protocol(network)
        published = PUBLISHED.get(name, {})
        for classic in ("max-pressure", "fixed-time"):
            delay = score(network, classic, classic, protocol, None)
            ref = published.get("MaxPressure" if classic == "max-pressure" else "Fixed")
            lines.append(f"| {name} | {classic} | {delay:.1f} | {ref if ref else '–'} | – |")
            print(lines[-1], flush=True)
        for algo, variant in [(algo, variant) for algo in args.algos for variant in args.variants]:
            extra = VARIANTS[variant]
            label = algo if variant == "plain" else f"{algo}+{variant}"
            learner = make_controller(algo, {"device": "cpu", **json.loads(args.hyper), **extra})
            reward = json.loads(args.reward) if args.reward.lstrip().startswith("{") else args.reward
            factory = EnvFactory(network, {**protocol, "reward": reward, **learner.env_options()})
            started = time.perf_counter()
            curve = out / name / "curves" / f"{label}.csv"
            curve.parent.mkdir(parents=True, exist_ok=True)
            models = out / name / "models" / label
            budget = TrainingBudget(
                episodes=args.episodes,
                num_envs=args.num_envs,
                checkpoint_every=10,
                checkpoint_dir=models,
                curve_file=curve,
            )
            learner.learn(factory, budget)
            wall = time.perf_counter() - started
            learner.save(models / "model.final")
            ref = published.get("IDQN" if algo == "dqn" else "IPPO")
            policies = [("final", learner)]
            selection = learner.selection
            if selection is not None and not selection.is_final:
                selection.controller.save(models / "model.selected")
                policies.insert(0, (f"selected at episode {selection.episode}", selection.controller))
            for policy, controller in policies:
                delay = score(network, f"{label}.{policy.split()[0]}", controller, protocol, wall)
                what = f"{label} ({args.episodes} episodes, {policy})"
                lines.append(f"| {name} | {what} | {delay:.1f} | {ref} | {wall / 60:.1f} min |")
                print(lines[-1], flush=True)
        curves = {p.stem: p for p in sorted((out / name / "curves").glob("*.csv"))}
        learning_curves(curves, out / f"learning_curves_{name}.png")
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
