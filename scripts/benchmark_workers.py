"""Speed-up of ``traffic-lam run --workers N`` over ``--workers 1`` on a scenario with several jobs.

Runs the same scenario into fresh temporary run folders with 1 and N workers (alternating,
``--rounds`` times) and prints median wall times and the speed-up. Jobs are independent
(controller x seed), each in its own process: libsumo allows one simulation per process.

Usage: python scripts/benchmark_workers.py [--scenario scenarios/grid4x4.yaml] [--workers 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/grid4x4.yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--executor", default="local", choices=["local", "ray"])
    args = parser.parse_args()

    from traffic_lam.experiments.runner import run_scenario
    from traffic_lam.experiments.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    jobs = len(scenario.controllers) * len(scenario.evaluation.seeds) * scenario.evaluation.episodes
    times: dict[int, list[float]] = {1: [], args.workers: []}
    for round_ in range(args.rounds):
        for workers in (1, args.workers):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                summary = run_scenario(scenario, Path(tmp) / "run", workers=workers, executor=args.executor)
                times[workers].append(time.perf_counter() - started)
                if summary.failures:
                    raise SystemExit(f"jobs failed: {summary.failures}")
            print(f"round {round_ + 1}: workers={workers} {times[workers][-1]:.1f} s", flush=True)
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    print(f"\n{scenario.name}: {jobs} jobs, executor {args.executor}, medians of {args.rounds} rounds")
    print(f"| workers | median wall s | speed-up |\n|---|---|---|\n| 1 | {one:.1f} | 1.00 |")
    print(f"| {args.workers} | {many:.1f} | {one / many:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
