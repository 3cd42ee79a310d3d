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

Printed per map: median wall seconds of each, env / floor, env / raw, and the per-decision cost of
the env beyond the floor, ``(env - floor) / decisions``, next to SUMO's own simulation of the
same interval, ``floor / decisions`` (the floor is SUMO simulating the controlled traffic). A
decision is one step of every signal (``delta_time`` = 5 s simulated).

Usage: python scripts/benchmark_scale.py [--rounds 3] [--seconds 900] [--sizes 7 10] [--cache DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
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
        netgenerate_args=(
            "--grid",
            "--grid.number",
            str(side),
            "--grid.length",
            "200",
            "--grid.attach-length",
            "200",
            "--default.lanenumber",
            "2",
        ),
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


@dataclasses.dataclass
class Times:
    """Wall seconds per round of one map's three runs."""

    raw: list[float] = dataclasses.field(default_factory=list)
    floor: list[float] = dataclasses.field(default_factory=list)
    env: list[float] = dataclasses.field(default_factory=list)


def _table(maps: dict[str, tuple[int, str]], times: dict[str, Times], seconds: int) -> list[str]:
    decisions = seconds // DELTA_TIME
    rows = [
        "| map | signals | raw s | floor s | env s | env / floor | env / raw "
        "| (env − floor) / decision ms | floor / decision ms | overhead / SUMO |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (signals, _) in maps.items():
        t = times[name]
        raw, floor, env = (statistics.median(v) for v in (t.raw, t.floor, t.env))
        over, sim = (env - floor) / decisions * 1e3, floor / decisions * 1e3
        rows.append(
            f"| {name} | {signals} | {raw:.2f} | {floor:.2f} | {env:.2f} | {env / floor:.2f}× | {env / raw:.2f}× "
            f"| {over:.2f} | {sim:.2f} | {over / sim:.2f} |"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--seconds", type=int, default=900, help="simulated seconds per episode (default 900)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[7, 10], help="generated grid sides (default 7 10)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "traffic_lam-scale-maps")
    parser.add_argument("--only", nargs="*", help="map names to run (default all)")
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
    times = {name: Times() for name in maps}
    for round_ in range(args.rounds):
        seed = round_ + 1
        for name, (_, network) in maps.items():
            t = times[name]
            t.raw.append(benchmark_env.raw_sumo(binary, _raw_inputs(network), args.seconds, seed, collisions=False))
            t.floor.append(benchmark_env.run_floor(network, args.seconds, seed))
            t.env.append(benchmark_env.run_ours(network, args.seconds, seed))
            print(
                f"round {round_ + 1}/{args.rounds} {name}: raw {t.raw[-1]:.2f} s, floor {t.floor[-1]:.2f} s, "
                f"env {t.env[-1]:.2f} s",
                flush=True,
            )
    print(f"\n{args.seconds} s simulated, delta {DELTA_TIME} s, {args.rounds} rounds, medians:")
    print("\n".join(_table(maps, times, args.seconds)))
    print(
        "\noverhead / SUMO: the env's cost beyond the floor per decision (one step of every signal) "
        "over the floor's cost per decision (SUMO simulating that interval under the same control)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
