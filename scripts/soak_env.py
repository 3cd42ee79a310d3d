"""Soak test: many episodes in one process and in worker processes; memory and file descriptors stay flat.

Two phases on the same map (default RESCO grid4x4, its own 3600 s window):

* ``one process``: ``--episodes`` scored episodes of ``traffic_lam.evaluate`` (max-pressure) in
  this process, one call per episode (SUMO starts, runs, writes and parses its tripinfo and
  statistics, closes);
* ``2 workers``: ``--episodes`` episodes of random valid actions in
  ``make_vector_env(num_envs=2, trip_dir=...)`` (two simulations in spawned worker processes,
  automatic resets, each finished episode's tripinfo read and deleted).

Every ``--every`` episodes it prints the resident memory (RSS, MiB) and the number of open
file descriptors of this process and, in the second phase, of the worker processes (summed),
read from ``/proc`` (Linux). Growth between the first and the last report is printed at the
end of each phase.

    python scripts/soak_env.py                         # 200 + 200 episodes of grid4x4
    python scripts/soak_env.py --episodes 40 --end 600 # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def open_fds(pid: int) -> int:
    """Open file descriptors of process ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (the simulation workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def report(phase: str, episode: int, started: float, pids: list[int], history: list[tuple[float, int]]) -> None:
    """Print one line of memory and descriptors (summed over ``pids``) and keep it in ``history``."""
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    rss = sum(rss_mib(p) for p in alive)
    fds = sum(open_fds(p) for p in alive)
    history.append((rss, fds))
    print(
        f"{phase:12s} episode {episode:4d}  {time.perf_counter() - started:7.1f} s  "
        f"RSS {rss:8.1f} MiB  fds {fds:4d}  ({len(alive)} process{'es' if len(alive) > 1 else ''})",
        flush=True,
    )


def growth(phase: str, history: list[tuple[float, int]]) -> None:
    """Print the change from the first report to the last."""
    (rss0, fds0), (rss1, fds1) = history[0], history[-1]
    print(f"{phase}: RSS {rss0:.1f} -> {rss1:.1f} MiB ({rss1 - rss0:+.1f}), fds {fds0} -> {fds1} ({fds1 - fds0:+d})\n")


def soak_one_process(args: argparse.Namespace, options: dict) -> None:
    """Scored episodes of max-pressure in this process."""
    import traffic_lam

    history: list[tuple[float, int]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for episode in range(1, args.episodes + 1):
            traffic_lam.evaluate(args.network, "max-pressure", seed=episode, out_dir=Path(tmp) / "ep", **options)
            if episode % args.every == 0 or episode == 1:
                report("one process", episode, started, [os.getpid()], history)
    growth("one process", history)


def soak_workers(args: argparse.Namespace, options: dict) -> None:
    """Random valid actions in two worker processes with automatic resets."""
    import traffic_lam

    rng = np.random.default_rng(0)
    history: list[tuple[float, int]] = []
    started = time.perf_counter()
    finished = 0
    next_report = 1
    with (
        tempfile.TemporaryDirectory() as tmp,
        traffic_lam.make_vector_env(args.network, num_envs=2, trip_dir=tmp, **options) as venv,
    ):
        _, infos = venv.reset(seed=0)
        while finished < args.episodes:
            actions = [{a: int(rng.choice(np.flatnonzero(i[a]["action_mask"]))) for a in i} for i in infos]
            _, _, dones, infos = venv.step(actions)
            finished += sum(dones)
            if finished >= next_report:
                report("2 workers", finished, started, [os.getpid(), *children(os.getpid())], history)
                while next_report <= finished:
                    next_report = args.every if next_report == 1 else next_report + args.every
    growth("2 workers", history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resco:grid4x4")
    parser.add_argument("--episodes", type=int, default=200, help="episodes per phase (default 200)")
    parser.add_argument("--every", type=int, default=20, help="report every this many episodes (default 20)")
    parser.add_argument("--end", type=float, default=None, help="episode end time (default: the map's own)")
    parser.add_argument("--phase", choices=["both", "one", "workers"], default="both")
    args = parser.parse_args()
    import traffic_lam

    options = traffic_lam.resco_protocol(args.network) if args.network.startswith("resco:") else {}
    if args.end is not None:
        options["end_time"] = args.end
    if args.phase in ("both", "one"):
        soak_one_process(args, options)
    if args.phase in ("both", "workers"):
        soak_workers(args, options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
