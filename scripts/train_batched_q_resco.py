"""Train batched-q (neural) on a RESCO map under the RESCO protocol; compare its final policy with the classics.

RESCO protocol (``docs/definitions.md``, :func:`traffic_lam.evaluation.resco_protocol`): 10 s decisions
with a 3 s yellow inside them, 3600 s episodes, no teleporting. The learner trains on
``--num-envs`` parallel simulations (SUMO seeds 10000, 10001, ...), then its final greedy
policy (and the one validation selected, on seeds 5000 and 5001 every 10 episodes, when that is
another), fixed-time, max-pressure and greedy (max-wave) are evaluated through
:func:`traffic_lam.evaluate` on the same fresh seeds (0, 1, 2 by default), average delay by the
RESCO definition. Prints a markdown table beside RESCO's published figures (SUMO 1.9; their
learners at their best training episode, ours the final policy on fresh seeds).

Everything lands in ``--out``: the checkpoint (a rerun resumes from it), the learning
curve, the trained model, every evaluation episode's SUMO outputs and a ``summary.json``.
The Stable-Baselines3 learners (``dqn``, ``ppo``) have their own script,
``scripts/train_sb3_resco.py``.

Usage:
    python scripts/train_batched_q_resco.py --episodes 160 --out runs/batched-q-grid4x4
    python scripts/train_batched_q_resco.py --set gamma=0.95 --set shared=true ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

PUBLISHED = {  # RESCO, average delay (s), SUMO 1.9 (docs/definitions.md)
    "grid4x4": {"greedy": 34.3, "max-pressure": 52.6, "IDQN": 33.0, "IPPO": 44.0, "MPLight": 46.9, "FMA2C": 99.8},
    "arterial4x4": {"greedy": 820.8, "max-pressure": 952.8, "IDQN": 1168.3, "IPPO": 686.6},
}


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="grid4x4", help="RESCO map (default grid4x4)")
    parser.add_argument("--episodes", type=int, default=160, help="training episodes, all simulations (default 160)")
    parser.add_argument("--num-envs", type=int, default=2, help="parallel simulations (default 2)")
    parser.add_argument("--reward", default="queue", help="environment reward (default queue)")
    parser.add_argument("--eval-seeds", type=int, default=3, help="evaluation seeds 0..n-1 (default 3)")
    parser.add_argument("--checkpoint-every", type=int, default=20, help="episodes between checkpoints")
    parser.add_argument("--out", default="runs/batched-q-resco", help="run folder (resumes from its checkpoint)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a BatchedQ option")
    args = parser.parse_args()

    import torch

    from traffic_lam.controllers.batched_q import BatchedQ, NeuralBatchedQ
    from traffic_lam.controllers.budget import TrainingBudget
    from traffic_lam.controllers.offpolicy import Profiler, train
    from traffic_lam.env.factory import EnvFactory
    from traffic_lam.evaluation import evaluate, resco_protocol

    warnings.filterwarnings("ignore", message=".*short yellow.*")
    network = f"resco:{args.map}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = {**resco_protocol(network), "reward": args.reward}
    params: dict[str, Any] = {"mode": "neural", "device": "auto", "seed": 0}
    params.update(dict(item.split("=", 1) for item in args.set))
    text_options = ("mode", "device", "observation")
    params = {k: v if k in text_options or not isinstance(v, str) else parse_value(v) for k, v in params.items()}

    learner = BatchedQ(**params)
    budget = TrainingBudget(
        episodes=args.episodes,
        num_envs=args.num_envs,
        checkpoint_every=args.checkpoint_every,
        checkpoint_dir=out,
        curve_file=out / "curve.csv",
    )
    profile = Profiler()  # this call's training loop (a resumed run's earlier calls are not in it)
    started = time.perf_counter()
    train(learner, EnvFactory(network, options), budget, profile)
    train_wall = time.perf_counter() - started
    learner.save(out / "model.pt")
    timing = profile.as_dict()
    updates = learner.gradient_updates if isinstance(learner, NeuralBatchedQ) else 0

    seeds = list(range(args.eval_seeds))
    results: dict[str, list[float]] = {}
    eval_wall: dict[str, float] = {}
    candidates: list[tuple[str, Any]] = [("batched-q neural (ours, final policy)", learner)]
    selection = learner.selection
    if selection is not None and not selection.is_final:
        selection.controller.save(out / "model.selected.pt")
        candidates.insert(
            0, (f"batched-q neural (ours, selected at episode {selection.episode})", selection.controller)
        )
    for name, controller in (
        *candidates,
        ("fixed-time", "fixed-time"),
        ("max-pressure", "max-pressure"),
        ("greedy (max-wave)", "greedy"),
    ):
        label = (
            str(controller)
            if isinstance(controller, str)
            else ("batched-q" if controller is learner else "batched-q.selected")
        )
        tick = time.perf_counter()
        records = evaluate(
            network, controller, episodes=len(seeds), seed=seeds[0], out_dir=out / "eval", label=label, **options
        )
        eval_wall[name] = time.perf_counter() - tick
        results[name] = [float(r.avg_delay) for r in records]

    published = PUBLISHED.get(args.map, {})
    reference = {
        candidates[0][0]: (
            f"IDQN {published['IDQN']}, IPPO {published['IPPO']} (best episode)" if "IDQN" in published else None
        ),
        "fixed-time": None,
        "max-pressure": published.get("max-pressure"),
        "greedy (max-wave)": published.get("greedy"),
    }
    print(
        f"\n{network}, RESCO protocol ({options['delta_time']} s decisions, {options['yellow_time']} s yellow, "
        f"3600 s), reward {args.reward}; batched-q {params}; {learner.training_episodes} training episodes on "
        f"{args.num_envs} simulations in {train_wall / 60:.1f} min wall (this call; its loop "
        f"{timing['wall_s'] / 60:.1f} min), {timing['simulated_s'] / max(timing['wall_s'], 1e-9):.0f} simulated s "
        f"per wall s, learner {profile.learner_share:.0%} of the loop's wall time, "
        f"{updates} gradient steps, device {learner.device}, torch {torch.__version__}\n"
    )
    print("| controller | delay per seed (s) | mean delay (s) | RESCO published (SUMO 1.9) |")
    print("|---|---|---|---|")
    for name, delays in results.items():
        per_seed = ", ".join(f"{d:.1f}" for d in delays)
        ref = reference.get(name)
        print(f"| {name} | {per_seed} | {statistics.mean(delays):.1f} | {ref if ref is not None else '–'} |")
    print("| Stable-Baselines3 DQN / PPO | not run here: scripts/train_sb3_resco.py | – | – |")
    summary = {
        "network": network,
        "options": options,
        "params": params,
        "training_episodes": learner.training_episodes,
        "train_wall_s": train_wall,
        "timing": timing,
        "gradient_updates": updates,
        "eval_seeds": seeds,
        "avg_delay": results,
        "eval_wall_s": eval_wall,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
