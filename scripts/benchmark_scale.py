"""Env step cost as the number of signals grows: 1, 16, ~50, ~100 (and optionally 144) signals, side by side.

Maps: the bundled ``single-intersection`` (1 signal), RESCO ``grid4x4`` (16), and square grids
generated at benchmark time with ``netgenerate`` + ``randomTrips.py`` + ``duarouter`` through
``scripts/generate_networks.py``'s own recipe functions (7x7 = 49, 10x10 = 100, ``--sizes`` adds
e.g. 12), written to a cache folder (``--cache``, default a folder under the system temp dir), never
to the repository. Generated grids have 200 m blocks, two lanes per direction and random
fringe-to-fringe demand scaled with the grid's side.

For every map, three runs in fresh processes, interleaved round by round so machine noise hits
them alike (the same three as ``scripts/benchmark_env.py``, whose functions are reused):

* raw ``sumo``: the binary on the network's own programs, no control;
* floor: libsumo stepping the same random masked switching with yellows, nothing else;
* env: ``traffic_lam.make_env`` with default observation and reward, random valid actions.

Printed per map: vehicles inserted, median wall seconds of each, env / floor, env / raw, and the
per-decision cost of the env beyond the floor, ``(env - floor) / decisions``, next to SUMO's own
simulation of the same interval, ``floor / decisions`` (the floor is SUMO simulating the controlled
traffic; env and floor run the same traffic). A decision is one step of every signal (``delta_time``
= 5 s simulated). Ratios and differences are taken within a round (whose runs feel the same machine
load), then their median over rounds.

Wall time is what the targets speak of; CPU time (user + system of the run's own process) is printed
too, as it is steadier on a busy machine. ``--baseline DIR`` also runs the env from another checkout of
traffic_lam (e.g. a ``git worktree`` of an older commit), interleaved, for before/after ratios.

Usage: python scripts/benchmark_scale.py [--rounds 3] [--seconds 900] [--sizes 7 10] [--cache DIR] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import operator
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchmark_env
import generate_networks as gen

DELTA_TIME = 5


def grid_spec(side: int) -> gen.NetworkSpec:
    """A ``side`` x ``side`` signalised grid recipe, like the bundled grid4x4 with demand scaled to its size."""
    return gen.NetworkSpec(
        name=f"grid{side}x{side}",
        description=f"A {side}x{side} grid of signalised junctions 200 m apart (benchmark map, generated).",
        netgenerate_args=gen.grid_args(side),
        demands=(gen.Demand(prefix="veh", seed=42, vehicles_per_hour=1200 * side, min_distance=400),),
    )


def generated_grid(side: int, cache: Path) -> Path:
    """The folder of the generated ``side`` x ``side`` grid, generated once into ``cache``."""
    spec = grid_spec(side)
    folder = cache / spec.name
    if not (folder / "network.yaml").is_file():
        print(f"generating {spec.name} into {folder} ...", flush=True)
        vehicles = gen.generate(spec, folder, gen.find_sumo(), verbose=False)
        print(f"  {vehicles} vehicles", flush=True)
    return folder


def _raw_inputs(network: str) -> list[str]:
    from traffic_lam.sim.network import resolve_network

    spec = resolve_network(network)
    return ["-n", str(spec.net_file), "-r", ",".join(map(str, spec.route_files))]


RUNS = ("raw", "floor", "env")


def _run(kind: str, network: str, seconds: int, seed: int, binary: str, baseline: str | None) -> dict:
    """One fresh-process run: ``{"seconds": wall, "cpu": cpu}``."""
    if kind == "raw":
        return benchmark_env.raw_sumo_times(binary, _raw_inputs(network), seconds, seed, collisions=False)
    if kind == "floor":
        return benchmark_env.run_floor(network, seconds, seed)
    if kind == "env":
        return benchmark_env.run_ours(network, seconds, seed)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = baseline or ""  # the baseline checkout's traffic_lam comes first
    try:
        return benchmark_env.run_ours(network, seconds, seed)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved


def _paired(runs: dict[str, list[dict]], measure: str, ratio: Callable[..., float], *kinds: str) -> float:
    """Median over rounds of ``ratio(...)`` of the same round's runs (pairs feel the same machine load)."""
    rounds = zip(*(runs[k] for k in kinds), strict=True)
    return statistics.median(ratio(*(r[measure] for r in group)) for group in rounds)


def _table(maps: dict[str, tuple[int, str]], times: dict, measure: str, seconds: int) -> list[str]:
    decisions = seconds // DELTA_TIME
    baseline = any("baseline" in runs for runs in times.values())
    rows = [
        "| map | signals | vehicles inserted | raw s | floor s | env s | env / floor | env / raw "
        "| (env − floor) / decision ms | floor / decision ms | overhead / SUMO |"
        + (" env / baseline |" if baseline else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if baseline else ""),
    ]
    for name, (signals, _) in maps.items():
        runs = times[name]
        med = {kind: statistics.median(r[measure] for r in values) for kind, values in runs.items()}
        inserted = statistics.median(r["departed"] for r in runs["env"])
        over = _paired(runs, measure, lambda e, f: (e - f) / decisions * 1e3, "env", "floor")
        share = _paired(runs, measure, lambda e, f: (e - f) / f, "env", "floor")
        row = (
            f"| {name} | {signals} | {inserted:.0f} | {med['raw']:.2f} | {med['floor']:.2f} | {med['env']:.2f} "
            f"| {_paired(runs, measure, operator.truediv, 'env', 'floor'):.2f}× "
            f"| {_paired(runs, measure, operator.truediv, 'env', 'raw'):.2f}× "
            f"| {over:.2f} | {med['floor'] / decisions * 1e3:.2f} | {share:.2f} |"
        )
        if baseline:
            row += f" {_paired(runs, measure, operator.truediv, 'env', 'baseline'):.2f}× |"
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--seconds", type=int, default=900, help="simulated seconds per episode (default 900)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[7, 10], help="generated grid sides (default 7 10)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "traffic_lam-scale-maps")
    parser.add_argument("--only", nargs="*", help="map names to run (default all)")
    parser.add_argument("--baseline", help="also run the env from this checkout of traffic_lam (before/after)")
    args = parser.parse_args()

    from traffic_lam.signals import read_signal_layouts
    from traffic_lam.sim.discovery import sumo_binary
    from traffic_lam.sim.network import resolve_network

    networks = {"single-intersection": "single-intersection", "grid4x4": "resco:grid4x4"}
    networks.update({f"grid{s}x{s}": str(generated_grid(s, args.cache)) for s in args.sizes})
    if args.only:
        networks = {k: v for k, v in networks.items() if k in args.only}
    maps = {k: (len(read_signal_layouts(resolve_network(v).net_file)), v) for k, v in networks.items()}
    binary = sumo_binary("sumo")
    kinds = RUNS + (("baseline",) if args.baseline else ())
    times: dict[str, dict[str, list[dict]]] = {name: {kind: [] for kind in kinds} for name in maps}
    for round_ in range(args.rounds):
        for name, (_, network) in maps.items():
            for kind in kinds:
                times[name][kind].append(_run(kind, network, args.seconds, round_ + 1, binary, args.baseline))
            shown = ", ".join(f"{kind} {runs[-1]['seconds']:.2f} s" for kind, runs in times[name].items())
            print(f"round {round_ + 1}/{args.rounds} {name}: {shown}", flush=True)
    for measure, title in (("seconds", "wall"), ("cpu", "CPU")):
        print(f"\n{title} time, {args.seconds} s simulated, delta {DELTA_TIME} s, {args.rounds} rounds, medians:")
        print("\n".join(_table(maps, times, measure, args.seconds)))
    print(
        "\nRatios, the env's cost beyond the floor per decision (one step of every signal) and overhead / SUMO "
        "(that cost over the floor's per decision: SUMO simulating the interval under the same control) are "
        "medians of the per-round values; seconds are medians of the runs."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
