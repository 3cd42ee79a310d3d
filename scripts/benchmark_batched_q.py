"""Batched Q-learner speed: agent-transitions per second versus sumo-rl's QLAgent, and end to end.

Part 1, synthetic (same transitions for everyone; shapes like RESCO grid4x4: 16 signals,
8 parallel simulations, 33 observation features, 8 actions, 10 bins per feature as
sumo-rl's discretisation):

* sumo-rl ``QLAgent``: one agent per signal per simulation, each transition encoded to a
  tuple (sumo-rl's ``encode``) and learned one at a time;
* ours, tabular: every transition of a step hashed and applied in one batched update, with
  the compiled (numba) CPU kernels that a CPU learner uses, and with torch tensor operations
  (the GPU path) on the CPU for comparison;
* ours, neural: gradient steps on the device replay buffer (batch 64 steps x 16 signals),
  counted as agent-transitions in the sampled batches.

With CUDA, the tabular update is also timed on the GPU across batch sizes to find where
it overtakes the CPU.

Then the tabular update on the CPU across batch sizes (where the Python/dispatch cost per
update stops dominating).

Part 2, end to end on RESCO grid4x4 (--e2e): simulated seconds per wall second while
training batched-q (tabular and neural) with 1 and 2 simulations, and the learner's share
of the training loop's wall time (its own work, including what overlaps the simulations:
neural gradient steps run while the simulations step) and the share of the wall time the
simulations wait for the main process (the learner's work that does not overlap, plus
sending the actions), with decisions every 5 s (yellow 2 s) and under the RESCO protocol (10 s, yellow 3 s).
The learner's CPU seconds per wall second are shown too: on a machine busy with other work
its wall-clock share includes the time it waited for a core.
The load average is printed at the end: on a shared 2-core machine every figure moves
with what else runs.

Everything runs torch on one thread, as the learner does while training (see the
learners' ``torch_threads``): sumo-rl's learner is single-threaded Python too. The
end-to-end figures come from the training loop's
:class:`~traffic_lam.controllers.offpolicy.Profiler` callback.

Usage: python scripts/benchmark_batched_q.py [--steps 300] [--e2e | --e2e-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

SIGNALS, SIMS, OBS, ACTIONS, BINS = 16, 8, 33, 8, 10


def synthetic(steps: int, batch_envs: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    obs = rng.random((steps + 1, batch_envs, SIGNALS, OBS), dtype=np.float32)
    actions = rng.integers(0, ACTIONS, (steps, batch_envs, SIGNALS))
    rewards = rng.standard_normal((steps, batch_envs, SIGNALS)).astype(np.float32)
    return obs, actions, rewards


def sumo_rl_rate(steps: int) -> float:
    import sumo

    os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)
    from gymnasium import spaces
    from sumo_rl.agents import QLAgent
    from sumo_rl.exploration import EpsilonGreedy

    obs, actions, rewards = synthetic(steps, SIMS)

    def encode(state: np.ndarray) -> tuple:  # sumo-rl's SumoEnvironment.encode
        phase = int(np.argmax(state[:ACTIONS]))
        return tuple([phase, state[ACTIONS]] + [min(int(d * 10), 9) for d in state[ACTIONS + 1 :]])

    space = spaces.Discrete(ACTIONS)
    agents = [
        [
            QLAgent(encode(obs[0, e, i]), None, space, alpha=0.1, gamma=0.99, exploration_strategy=EpsilonGreedy())
            for i in range(SIGNALS)
        ]
        for e in range(SIMS)
    ]
    started = time.perf_counter()
    for t in range(steps):
        for e in range(SIMS):
            for i in range(SIGNALS):
                agent = agents[e][i]
                agent.action = int(actions[t, e, i])
                agent.learn(encode(obs[t + 1, e, i]), float(rewards[t, e, i]))
    return steps * SIMS * SIGNALS / (time.perf_counter() - started)


def tabular_rate(steps: int, batch_envs: int, device: str, kernels: str = "auto") -> float:
    """Agent-transitions per second of the tabular update, as in training.

    Per step, as in training (``TabularBatchedQ.update``): the next observations are hashed once
    (their rows are the next step's states) and all ``batch_envs x 16`` transitions applied.
    ``kernels``: ``numba`` (compiled loops, the CPU default) or ``torch`` (tensor
    operations, the GPU path).
    """
    from traffic_lam.controllers.batched_q import TabularConfig
    from traffic_lam.controllers.batched_q.table import TabularQ

    dev = torch.device(device)
    obs_np, actions_np, rewards_np = synthetic(steps, batch_envs)
    obs, actions, rewards = (torch.from_numpy(x).to(dev) for x in (obs_np, actions_np, rewards_np))
    low, high = np.zeros((SIGNALS, OBS)), np.ones((SIGNALS, OBS))
    table = TabularQ(TabularConfig(bins=BINS, alpha=0.1, gamma=0.99), low, high, ACTIONS, dev, kernels=kernels)
    masks = torch.ones(batch_envs, SIGNALS, ACTIONS, dtype=torch.bool, device=dev)
    discounts = torch.full((batch_envs, SIGNALS), 0.99, device=dev)
    # per step, what a training step hands over (built there from the simulations' replies):
    # tensors, or numpy arrays where the table runs compiled CPU kernels (the learner's stacker
    # makes numpy arrays then)
    if table.compiled:
        obs, actions, rewards, masks, discounts = (x.numpy() for x in (obs, actions, rewards, masks, discounts))
    next_obs, step_actions, step_rewards = list(obs[1:]), list(actions), list(rewards)

    def step(t: int, rows: torch.Tensor) -> torch.Tensor:  # a training step's table work (TabularBatchedQ.update)
        return table.learn(rows, step_actions[t], step_rewards[t], next_obs[t], masks, discounts)

    rows = table.rows(obs[0])
    for t in range(min(5, steps)):  # warm-up
        rows = step(t, rows)
    rows = table.rows(obs[0])
    if dev.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for t in range(steps):
        rows = step(t, rows)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_envs * SIGNALS / (time.perf_counter() - started)


def neural_rate(steps: int, device: str, shared: bool) -> float:
    from traffic_lam.controllers.batched_q import BatchedQ
    from traffic_lam.controllers.batched_q.replay import ReplayBuffer

    learner = BatchedQ(mode="neural", shared=shared, device=device, learning_starts=0, batch_size=64)
    learner.build([f"s{i}" for i in range(SIGNALS)], [OBS] * SIGNALS, [ACTIONS] * SIGNALS)
    dev = learner.device
    buffer = ReplayBuffer(4096, SIGNALS, OBS, ACTIONS, dev)
    obs_np, actions_np, rewards_np = synthetic(512 // SIMS, SIMS)
    for t in range(len(actions_np)):
        o = torch.from_numpy(obs_np[t]).to(dev)
        buffer.add(
            o,
            torch.from_numpy(actions_np[t]).to(dev),
            torch.from_numpy(rewards_np[t]).to(dev),
            torch.from_numpy(obs_np[t + 1]).to(dev),
            torch.ones(SIMS, SIGNALS, ACTIONS, dtype=torch.bool, device=dev),
            torch.full((SIMS,), 0.97, device=dev),
        )
    learner.gradient_steps(buffer)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        learner.gradient_steps(buffer)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * 64 * SIGNALS / (time.perf_counter() - started)


def end_to_end(episode_seconds: int, delta: int, yellow: int) -> None:
    from traffic_lam.controllers.batched_q import BatchedQ
    from traffic_lam.controllers.budget import TrainingBudget
    from traffic_lam.controllers.offpolicy import Profiler, train
    from traffic_lam.env.factory import EnvFactory

    factory = EnvFactory(
        "resco:grid4x4", {"delta_time": delta, "yellow_time": yellow, "begin_time": 0, "end_time": episode_seconds}
    )
    print(
        f"\nend to end, RESCO grid4x4 training, decisions every {delta} s (yellow {yellow} s), {episode_seconds} s "
        "episodes, "
        "2 episodes per simulation; tabular: default observation, 10 bins (the synthetic shapes); neural: defaults:"
    )
    print(
        "| learner | simulations | simulated s per wall s | learner share of wall time "
        "| learner CPU s per wall s | simulations waiting for this process |\n|---|---|---|---|---|---|"
    )
    for mode, options in (("tabular", {"observation": "default", "bins": BINS}), ("neural", {})):
        base = None
        for sims in (1, 2):
            learner = BatchedQ(mode=mode, device="cpu", **options)
            profile = Profiler()
            train(learner, factory, TrainingBudget(episodes=2 * sims, seed=1, num_envs=sims), profile)
            wall = profile.wall_s  # the training loop (worker start-up excluded)
            rate = profile.simulated_s / wall
            base = base or rate
            share = profile.learner_share
            blocking = 1.0 - profile.waiting_s / wall  # learner work not overlapped + sending actions
            cpu = profile.learner_cpu_s / wall
            cells = [f"batched-q {mode}", str(sims), f"{rate:.0f} ({rate / base:.2f}x)", f"{share:.1%}", f"{cpu:.1%}"]
            print("| " + " | ".join([*cells, f"{blocking:.1%}"]) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="synthetic decision steps (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions, medians reported (default 3)")
    parser.add_argument("--e2e", action="store_true", help="also run the end-to-end grid4x4 measurement")
    parser.add_argument("--e2e-seconds", type=int, default=3600, help="episode length for --e2e")
    parser.add_argument("--e2e-only", action="store_true", help="only the end-to-end measurement")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core, like sumo-rl's Python loop (see the learners' torch_threads)
    if args.e2e_only:
        end_to_end(args.e2e_seconds, 5, 2)
        end_to_end(args.e2e_seconds, 10, 3)
        print(f"\nload average at the end (1, 5, 15 min; {os.cpu_count()} CPUs): {os.getloadavg()}")
        return 0

    rates: dict[str, list[float]] = {
        "sumo-rl QLAgent": [],
        "batched-q tabular (cpu, numba kernels: the default)": [],
        "batched-q tabular (cpu, torch operations)": [],
        "batched-q neural shared (cpu)": [],
        "batched-q neural independent (cpu)": [],
    }
    cuda = torch.cuda.is_available()
    if cuda:
        rates.update({"batched-q tabular (cuda)": [], "batched-q neural shared (cuda)": []})
    for _ in range(args.rounds):
        rates["sumo-rl QLAgent"].append(sumo_rl_rate(args.steps))
        rates["batched-q tabular (cpu, numba kernels: the default)"].append(tabular_rate(args.steps, SIMS, "cpu"))
        rates["batched-q tabular (cpu, torch operations)"].append(tabular_rate(args.steps, SIMS, "cpu", "torch"))
        rates["batched-q neural shared (cpu)"].append(neural_rate(max(20, args.steps // 10), "cpu", True))
        rates["batched-q neural independent (cpu)"].append(neural_rate(max(20, args.steps // 10), "cpu", False))
        if cuda:
            rates["batched-q tabular (cuda)"].append(tabular_rate(args.steps, SIMS, "cuda"))
            rates["batched-q neural shared (cuda)"].append(neural_rate(max(20, args.steps // 10), "cuda", True))
    base = statistics.median(rates["sumo-rl QLAgent"])
    print(f"synthetic transitions, {SIGNALS} signals x {SIMS} simulations, medians of {args.rounds} rounds:")
    print("| learner | agent-transitions / s | x sumo-rl QLAgent |\n|---|---|---|")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"| {name} | {med:,.0f} | {med / base:.1f} |")
    print("\ntabular update on the CPU by batch (simulations x 16 signals), one round:")
    print("| batch | numba /s | x sumo-rl QLAgent | torch /s | x sumo-rl QLAgent |\n|---|---|---|---|---|")
    for envs in (1, 8, 64, 512):
        rate = tabular_rate(max(20, args.steps * 8 // envs), envs, "cpu")
        tensor = tabular_rate(max(20, args.steps * 8 // envs), envs, "cpu", "torch")
        print(f"| {envs * SIGNALS} | {rate:,.0f} | {rate / base:.1f} | {tensor:,.0f} | {tensor / base:.1f} |")
    if not cuda:
        print("\nno CUDA device here: no GPU figures")
    else:
        print("\ntabular update, CPU vs CUDA by batch (simulations x 16 signals):")
        print("| batch | cpu /s | cuda /s | cuda / cpu |\n|---|---|---|---|")
        crossover = None
        for envs in (1, 8, 64, 256, 1024, 4096):
            cpu = tabular_rate(50, envs, "cpu")
            gpu = tabular_rate(50, envs, "cuda")
            if crossover is None and gpu > cpu:
                crossover = envs * SIGNALS
            print(f"| {envs * SIGNALS} | {cpu:,.0f} | {gpu:,.0f} | {gpu / cpu:.2f} |")
        print(
            f"GPU overtakes CPU at a batch of {crossover} agent-transitions" if crossover else "GPU never faster here"
        )
    if args.e2e:
        end_to_end(args.e2e_seconds, 5, 2)
        end_to_end(args.e2e_seconds, 10, 3)
    print(f"\nload average at the end (1, 5, 15 min; {os.cpu_count()} CPUs): {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
