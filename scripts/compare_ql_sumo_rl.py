"""Tabular Q-learning: sumo-rl's ``QLAgent`` versus our batched-q (tabular), same network, same budget.

Both learners train for the same number of episodes on the same network with the same
timing and the same state discretisation, then both final greedy policies are evaluated
on the same fresh SUMO seeds and scored the same way: average delay (RESCO definition,
``docs/definitions.md``) from SUMO's own tripinfo output, read by :func:`traffic_lam.metrics.read_tripinfo`
(vehicles still running at the end and vehicles never inserted included).

* **Network**: sumo-rl's own ``nets/single-intersection`` (one signal, two greens, two
  lanes per approach, 2520 veh/h; the network of sumo-rl's ``ql_single-intersection``
  example). sumo-rl's signal model only handles ``green, yellow, green, yellow`` programs
  without all-red, so our bundled networks with protected lefts (which need an all-red)
  are out of its reach; this one runs unchanged in both.
* **Timing**: sumo-rl's defaults: decisions every 5 s, 2 s yellow, min green 5 s (sumo-rl
  counts it from the yellow's start: switching at most every 10 s, the same as our mask);
  no max green (sumo-rl ignores it; ours is set beyond the episode).
* **State**: sumo-rl's default observation (phase one-hot, min-green flag, density and
  queue per incoming lane) discretised by ``SumoEnvironment.encode`` (``min(int(10 x), 9)``
  per lane feature); ours: the same layout (``observation="default"``) with ``bins=10``,
  which is the same discretisation.
* **Learning**: the same ``alpha`` and ``gamma`` for both (sumo-rl's example's 0.1 / 0.99).
  sumo-rl is run twice: with its example's exploration (``EpsilonGreedy(0.05, 0.005,
  decay=1.0)``), and with an exploration matched to ours (1.0 decaying to 0.05 over the first
  half of training, geometric where ours is linear).
* **Environment**: each learner in its own environment; sumo-rl with libsumo
  (``LIBSUMO_AS_TRACI=1``). Both simulations get the same tripinfo flags and ``--end``.
  Reward ``diff-waiting-time`` on both sides: the change of the incoming lanes' vehicles'
  accumulated waiting time (``--waiting-time-memory 1000``) / 100. sumo-rl also splits a
  vehicle's time between the lanes it waited on, ours counts it whole on the lane it is on;
  on this single intersection the two differ only for a vehicle that changed lanes while
  waiting (on a grid, ours also counts waiting done upstream).
* **Ours**: the same alpha, gamma, discretisation and episode count; ``--ours`` adds our
  learner's own settings (JSON of :class:`~traffic_lam.controllers.batched_q.TabularConfig` fields) to try,
  each printed in its row.

Every side runs in its own process (libsumo: one simulation per process), one after the
other. Prints a markdown table.

Usage: python scripts/compare_ql_sumo_rl.py [--episodes 30] [--runs 3] [--eval-seeds 10] [--ours JSON ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

DELTA, YELLOW, MIN_GREEN = 5, 2, 5
TRAIN_SEED = 10_000
ALPHA, GAMMA = 0.1, 0.99


def network_files() -> tuple[Path, Path]:
    """sumo-rl's single-intersection net and routes, found through the installed wheel (no import)."""
    import importlib.util

    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or spec.origin is None:
        raise SystemExit("sumo-rl is not installed: pip install sumo-rl")
    folder = Path(spec.origin).parent / "nets" / "single-intersection"
    return folder / "single-intersection.net.xml", folder / "single-intersection.rou.xml"


def sim_flags(tripinfo: Path | None, seconds: int) -> list[str]:
    """SUMO flags both sides get: the end time, and (when scoring) every vehicle's tripinfo."""
    from traffic_lam.metrics import tripinfo_options

    return ["--end", str(seconds)] + (tripinfo_options(tripinfo) if tripinfo is not None else [])


# ---------------------------------------------------------------------------------- sumo-rl side
def sumo_rl_run(
    exploration: str, episodes: int, seconds: int, eval_seeds: list[int], out: str, run: int
) -> dict[str, Any]:
    """Train sumo-rl's QLAgent as its examples do, then evaluate the greedy policy (runs in a child process).

    ``run`` numbers the training run: its SUMO seeds start at ``TRAIN_SEED + 1000 run`` and
    NumPy's global generator (sumo-rl's exploration draws from it) is seeded with ``run``.
    """
    import numpy as np
    import sumo

    os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)
    os.environ["LIBSUMO_AS_TRACI"] = "1"
    from sumo_rl import SumoEnvironment
    from sumo_rl.agents import QLAgent
    from sumo_rl.exploration import EpsilonGreedy

    from traffic_lam.metrics import read_tripinfo

    net, routes = network_files()

    def encode(env: Any, state: Any, ts: str) -> tuple:
        """``SumoEnvironment.encode``, line for line, except ``int(np.where(...)[0])``, which
        NumPy 2 refuses (sumo-rl 1.4.5): the phase is the index of the one-hot's 1."""
        n = env.traffic_signals[ts].num_green_phases
        phase = int(np.flatnonzero(state[:n] == 1)[0])
        return tuple([phase, state[n]] + [env._discretize_density(d) for d in state[n + 1 :]])

    def make(sumo_flags: list[str]) -> Any:
        return SumoEnvironment(
            net_file=str(net),
            route_file=str(routes),
            num_seconds=seconds,
            delta_time=DELTA,
            yellow_time=YELLOW,
            min_green=MIN_GREEN,
            max_green=seconds,
            sumo_warnings=False,
            add_system_info=False,
            add_per_agent_info=False,
            additional_sumo_cmd=" ".join(sumo_flags),
        )

    decisions = episodes * seconds // DELTA
    if exploration == "example":  # sumo-rl's experiments/ql_single-intersection.py
        strategy = {"initial_epsilon": 0.05, "min_epsilon": 0.005, "decay": 1.0}
    else:  # ours: 1.0 -> 0.05 over the first half of the decisions
        strategy = {"initial_epsilon": 1.0, "min_epsilon": 0.05, "decay": 0.05 ** (1.0 / (decisions / 2))}

    np.random.seed(run)  # sumo-rl's EpsilonGreedy and QLAgent draw from the global generator
    started = time.perf_counter()
    env = make(sim_flags(None, seconds))
    agents: dict[str, QLAgent] = {}
    for episode in range(episodes):
        states = env.reset(seed=TRAIN_SEED + 1000 * run + episode)
        for ts in env.ts_ids:
            if ts not in agents:
                agents[ts] = QLAgent(
                    starting_state=encode(env, states[ts], ts),
                    state_space=env.observation_space,
                    action_space=env.action_space,
                    alpha=ALPHA,
                    gamma=GAMMA,
                    exploration_strategy=EpsilonGreedy(**strategy),
                )
            agents[ts].state = encode(env, states[ts], ts)
        done = {"__all__": False}
        while not done["__all__"]:
            actions = {ts: agent.act() for ts, agent in agents.items()}
            states, rewards, done, _ = env.step(action=actions)
            for ts, state in states.items():
                agents[ts].learn(next_state=encode(env, state, ts), reward=rewards[ts])
    env.close()
    train_s = time.perf_counter() - started

    delays = []
    for seed in eval_seeds:
        tripinfo = Path(out) / f"sumo-rl-{exploration}-run{run}-seed{seed}.tripinfo.xml"
        env = make(sim_flags(tripinfo, seconds))
        states = env.reset(seed=seed)
        done = {"__all__": False}
        while not done["__all__"]:
            actions = {}
            for ts, state in states.items():
                values = agents[ts].q_table.get(encode(env, state, ts))
                actions[ts] = int(max(range(len(values)), key=values.__getitem__)) if values else 0  # np.argmax
            states, _, done, _ = env.step(action=actions)
        env.close()  # SUMO writes the tripinfo when it closes
        delays.append(read_tripinfo(tripinfo).avg_delay)
    states_seen = sum(len(a.q_table) for a in agents.values())
    return {"delays": delays, "train_s": train_s, "states": states_seen}


def _child(queue: Any, *args: Any) -> None:
    try:
        queue.put(sumo_rl_run(*args))
    except BaseException as exc:  # report, do not hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_in_child(*args: Any) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, *args))
    process.start()
    result = queue.get()
    process.join()
    if "error" in result:
        raise SystemExit(f"sumo-rl run failed: {result['error']}")
    return result


# ---------------------------------------------------------------------------------- our side
def ours_run(
    episodes: int, seconds: int, eval_seeds: list[int], num_envs: int, extra: dict, run: int
) -> dict[str, Any]:
    """Train our tabular batched-q with sumo-rl's discretisation, evaluate the greedy policy with evaluate()."""
    from traffic_lam.controllers.batched_q import BatchedQ
    from traffic_lam.controllers.budget import TrainingBudget
    from traffic_lam.env.factory import EnvFactory
    from traffic_lam.evaluation import evaluate

    net, routes = network_files()
    options = env_options(routes, seconds)
    settings = {"mode": "tabular", "observation": "default", "bins": 10, "device": "cpu"}
    settings.update({"alpha": ALPHA, "gamma": GAMMA, "seed": run, **extra})
    learner = BatchedQ(**settings)
    training = TrainingBudget(episodes=episodes, seed=TRAIN_SEED + 1000 * run, num_envs=num_envs)
    started = time.perf_counter()
    learner.learn(EnvFactory(str(net), options), training)
    train_s = time.perf_counter() - started
    records = evaluate(str(net), learner, episodes=len(eval_seeds), seed=eval_seeds[0], **options)
    assert [r.seed for r in records] == eval_seeds
    assert learner.table is not None
    states = int((learner.table.q != 0).any(-1).sum())
    return {"delays": [r.avg_delay for r in records], "train_s": train_s, "states": states}


def classic_run(controller: str, seconds: int, eval_seeds: list[int]) -> dict[str, Any]:
    from traffic_lam.evaluation import evaluate

    net, routes = network_files()
    records = evaluate(
        str(net), controller, episodes=len(eval_seeds), seed=eval_seeds[0], **env_options(routes, seconds)
    )
    return {"delays": [r.avg_delay for r in records], "train_s": 0.0, "states": None}


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Several training runs of one learner: every evaluation delay, each run's mean, median costs."""
    states = [r["states"] for r in results if r["states"] is not None]
    return {
        "delays": [d for r in results for d in r["delays"]],
        "per_run": [statistics.mean(r["delays"]) for r in results],
        "train_s": statistics.median(r["train_s"] for r in results),
        "states": statistics.median(states) if states else None,
    }


def env_options(routes: Path, seconds: int) -> dict[str, Any]:
    return {
        "route_file": str(routes),
        "delta_time": DELTA,
        "yellow_time": YELLOW,
        "min_green": MIN_GREEN,
        "max_green": seconds,
        "begin_time": 0,
        "end_time": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=30, help="training episodes for both (default 30)")
    parser.add_argument("--seconds", type=int, default=3600, help="episode length in s (default 3600)")
    parser.add_argument("--eval-seeds", type=int, default=10, help="evaluation seeds 0..n-1 (default 10)")
    parser.add_argument("--num-envs", type=int, default=2, help="parallel simulations for ours (default 2)")
    parser.add_argument("--out", default=None, help="folder for sumo-rl's tripinfo files (default: temporary)")
    parser.add_argument(
        "--ours", nargs="+", default=["{}"], help="JSON of our learner's extra settings, one run each (default {})"
    )
    parser.add_argument("--runs", type=int, default=3, help="training runs per learner, other seeds (default 3)")
    parser.add_argument("--skip-sumo-rl", action="store_true", help="only our side and the references")
    args = parser.parse_args()
    seeds = list(range(args.eval_seeds))
    runs = range(args.runs)
    warnings.filterwarnings("ignore", message=".*short yellow.*")

    with tempfile.TemporaryDirectory(prefix="compare-ql-") as tmp:
        out = args.out or tmp
        Path(out).mkdir(parents=True, exist_ok=True)
        rows: list[tuple[str, str, dict[str, Any]]] = []
        for example in () if args.skip_sumo_rl else ("example", "matched"):
            result = combine([run_in_child(example, args.episodes, args.seconds, seeds, out, r) for r in runs])
            label = "sumo-rl QLAgent, its example's exploration (0.05 -> 0.005)"
            if example == "matched":
                label = "sumo-rl QLAgent, exploration matched to ours (1.0 -> 0.05)"
            rows.append((label, "dict of tuples", result))
            print(f"done: {label}: {result}", file=sys.stderr)
        for extra in map(json.loads, args.ours):
            result = combine([ours_run(args.episodes, args.seconds, seeds, args.num_envs, extra, r) for r in runs])
            label = "batched-q tabular (ours), default observation, bins 10" + "".join(
                f", {k} {v}" for k, v in extra.items()
            )
            rows.append((label, "hashed tensor", result))
            print(f"done: {label}: {result}", file=sys.stderr)
        for controller in ("fixed-time", "max-pressure"):
            result = combine([classic_run(controller, args.seconds, seeds)])
            rows.append((f"{controller} (reference, no training)", "-", result))

    net, _ = network_files()
    print(
        f"\nsumo-rl {net.parent.name} ({net.parent.parent.parent.name} wheel), {args.seconds} s episodes, "
        f"decisions every {DELTA} s, yellow {YELLOW} s, min green {MIN_GREEN} s; {args.episodes} training "
        f"episodes per training run, {args.runs} runs (run r: SUMO seeds {TRAIN_SEED} + 1000 r + episode, learner "
        f"seed r), alpha {ALPHA}, gamma {GAMMA}; each run's greedy policy evaluated on seeds {seeds}; average "
        "delay (s) from SUMO tripinfo (running and never-inserted vehicles included)\n"
    )
    print("| learner | table | states seen (median) | training wall (s, median) | mean delay per training run (s) "
          "| mean delay (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, table, result in rows:
        per_run = ", ".join(f"{d:.1f}" for d in result["per_run"])
        states = "-" if result["states"] is None else f"{result['states']:.0f}"
        train = f"{result['train_s']:.0f}" if result["train_s"] else "-"
        print(f"| {label} | {table} | {states} | {train} | {per_run} | {statistics.mean(result['delays']):.1f} |")
    print(json.dumps({label: result for label, _, result in rows}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
