"""Environment speed: raw SUMO vs traffic_lam vs sumo-rl on RESCO grid4x4, side by side.

Each measurement runs in its own fresh process (libsumo is one simulation per process) and
the three are interleaved round by round, so machine noise hits them alike. Reported:
median wall time per 3600 s episode and ratios to raw SUMO.

(a) raw ``sumo`` binary, the network's own programs, no control (also with
    ``--collision.check-junctions``, which our env switches on for the safety counters);
(b) traffic_lam's env, random valid actions, delta 5 s, yellow 2 s, metrics on;
(c) sumo-rl's ``SumoEnvironment`` with libsumo (``LIBSUMO_AS_TRACI``), same settings,
    random actions;
(d) the floor: libsumo stepping the same random masked control with yellows, and nothing
    else (no observations, rewards or counters). It shows how much of (b) is SUMO itself
    simulating randomly controlled traffic rather than environment overhead.

Times for (b) and (c) are measured inside their process, from building the environment to
the end of the episode (interpreter start-up and imports excluded); (a) is the whole
``sumo`` process.

Usage: python scripts/benchmark_env.py [--rounds 5] [--seconds 3600]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

OURS = r"""
import json, sys, time
import libsumo  # imported before the clock starts, as the floor does
import numpy as np
import traffic_lam
seconds, seed, network = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0, c0 = time.perf_counter(), time.process_time()
env = traffic_lam.make_env(network, delta_time=5, yellow_time=2, min_green=5, max_green=50,
                           begin_time=0, end_time=seconds)
rng = np.random.default_rng(seed)
obs, infos = env.reset(seed=seed)
while env.agents:
    actions = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
    obs, rewards, terms, truncs, infos = env.step(actions)
system = next(iter(infos.values()))["system"]
env.close()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "arrived": system["arrived"],
                  "departed": system["departed"]}))
"""

FLOOR = r"""
import json, os, sys, time
import libsumo
import numpy as np
from traffic_lam.signals import SignalTiming, TrafficSignal, read_signal_layouts
from traffic_lam.sim.discovery import sumo_binary
from traffic_lam.sim.network import resolve_network
seconds, seed, network = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
spec = resolve_network(network)
t0, c0 = time.perf_counter(), time.process_time()
signals = {k: TrafficSignal(v, SignalTiming(5, 2, 0, 5, 50)) for k, v in read_signal_layouts(spec.net_file).items()}
libsumo.start([sumo_binary(), "-n", str(spec.net_file), "-r", ",".join(map(str, spec.route_files)), "--begin", "0",
               "--end", str(seconds), "--seed", str(seed), "--no-step-log", "--no-warnings",
               "--time-to-teleport", "-1", "--collision.check-junctions"])
for k, sig in signals.items():
    libsumo.trafficlight.setRedYellowGreenState(k, sig.reset(0))
rng = np.random.default_rng(seed)
events, t = {}, 0
while t < seconds:
    if t % 5 == 0:
        for k, sig in signals.items():
            sig.now = t
            for when, state in sig.request(int(rng.choice(np.flatnonzero(sig.action_mask())))):
                events.setdefault(when, []).append((k, state))
    for k, state in events.pop(t, ()):
        libsumo.trafficlight.setRedYellowGreenState(k, state)
    libsumo.simulationStep()
    t += 1
inserted = int(libsumo.simulation.getParameter("", "stats.vehicles.inserted"))
libsumo.close()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "departed": inserted}))
"""

SUMO_RL = r"""
import json, os, sys, time
import sumo
os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)
os.environ["LIBSUMO_AS_TRACI"] = "1"
from sumo_rl import SumoEnvironment
seconds, seed, net, route = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
t0 = time.perf_counter()
env = SumoEnvironment(net_file=net, route_file=route, num_seconds=seconds, delta_time=5, yellow_time=2,
                      min_green=5, max_green=50, sumo_seed=seed, sumo_warnings=False, single_agent=False)
obs = env.reset()
for space in (env.action_spaces(ts) for ts in env.ts_ids):
    space.seed(seed)
done = {"__all__": False}
while not done["__all__"]:
    actions = {ts: env.action_spaces(ts).sample() for ts in env.ts_ids}
    obs, rewards, done, info = env.step(actions)
arrived = env.sumo.simulation.getArrivedNumber()
env.close()
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def run_ours(network: str, seconds: int, seed: int) -> dict:
    """Our env's episode on ``network`` (random valid actions) in a fresh process: wall ``seconds`` and ``cpu`` s."""
    return _python(OURS, str(seconds), str(seed), network)


def run_floor(network: str, seconds: int, seed: int) -> dict:
    """The same-control floor's episode on ``network`` in a fresh process: wall ``seconds`` and ``cpu`` s."""
    return _python(FLOOR, str(seconds), str(seed), network)


def _python(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def raw_sumo(binary: str, inputs: list[str], seconds: int, seed: int, collisions: bool) -> float:
    """Seconds the ``sumo`` binary takes for one episode of ``inputs`` (``-c cfg`` or ``-n net -r routes``)."""
    return raw_sumo_times(binary, inputs, seconds, seed, collisions)["seconds"]


def raw_sumo_times(binary: str, inputs: list[str], seconds: int, seed: int, collisions: bool) -> dict:
    """As :func:`raw_sumo`: wall ``seconds`` and the process's ``cpu`` seconds."""
    command = [
        binary,
        *inputs,
        "--begin",
        "0",
        "--end",
        str(seconds),
        "--seed",
        str(seed),
        "--no-step-log",
        "true",
        "--no-warnings",
        "true",
        "--duration-log.disable",
        "true",
    ]
    if collisions:
        command += ["--collision.check-junctions", "true"]
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run(command, check=True, capture_output=True)
    return {"seconds": time.perf_counter() - t0, "cpu": _children_cpu() - c0}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--seconds", type=int, default=3600, help="simulated seconds (default 3600)")
    parser.add_argument("--skip-sumo-rl", action="store_true", help="leave out sumo-rl")
    args = parser.parse_args()

    from traffic_lam.sim.discovery import sumo_binary
    from traffic_lam.sim.network import resolve_network

    spec = resolve_network("resco:grid4x4")
    sumocfg = str(spec.net_file.with_name("grid4x4.sumocfg"))
    binary = sumo_binary("sumo")
    env = {k: v for k, v in os.environ.items() if k != "SUMO_HOME"}
    os.environ.clear()
    os.environ.update(env)  # our env must not need SUMO_HOME; sumo-rl's child sets its own

    times: dict[str, list[float]] = {
        "raw sumo": [],
        "raw sumo + junction collisions": [],
        "floor: libsumo + same random control": [],
        "traffic_lam": [],
    }
    if not args.skip_sumo_rl:
        times["sumo-rl (libsumo)"] = []
    for round_ in range(args.rounds):
        seed = round_ + 1
        times["raw sumo"].append(raw_sumo(binary, ["-c", sumocfg], args.seconds, seed, collisions=False))
        times["raw sumo + junction collisions"].append(raw_sumo(binary, ["-c", sumocfg], args.seconds, seed, True))
        times["floor: libsumo + same random control"].append(run_floor("resco:grid4x4", args.seconds, seed)["seconds"])
        times["traffic_lam"].append(run_ours("resco:grid4x4", args.seconds, seed)["seconds"])
        if not args.skip_sumo_rl:
            times["sumo-rl (libsumo)"].append(
                _python(SUMO_RL, str(args.seconds), str(seed), str(spec.net_file), str(spec.route_files[0]))["seconds"]
            )
        print(
            f"round {round_ + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
            flush=True,
        )

    raw = statistics.median(times["raw sumo"])
    print(f"\nRESCO grid4x4, {args.seconds} s simulated, {args.rounds} rounds, medians:")
    print("| run | median s | × raw sumo |\n|---|---|---|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.2f} | {med / raw:.2f} |")
    floor = statistics.median(times["floor: libsumo + same random control"])
    ours = statistics.median(times["traffic_lam"])
    print(f"\ntraffic_lam / floor (environment overhead over SUMO under the same control): {ours / floor:.2f}x")
    if "sumo-rl (libsumo)" in times:
        ratio = statistics.median(times["sumo-rl (libsumo)"]) / statistics.median(times["traffic_lam"])
        print(
            f"\nsumo-rl / traffic_lam: {ratio:.2f}× (per-round: "
            + ", ".join(f"{s / t:.2f}" for s, t in zip(times["sumo-rl (libsumo)"], times["traffic_lam"], strict=True))
            + ")"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
