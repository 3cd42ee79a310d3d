"""What the SSM device costs: RESCO grid4x4, 3600 s, with and without SSM, side by side.

Measures, interleaved so that machine noise hits both sides alike, the median wall time of

* raw ``sumo`` on the map's own program, without and with the SSM device (every vehicle,
  TTC/DRAC/PET, restricted to the junction areas as evaluate() does);
* ``traffic_lam.evaluate`` of a controller (default greedy) under the RESCO protocol,
  ``ssm=False`` and ``ssm=True`` (tripinfo and statistic output are written in both),

and prints the ratios (README, Scoring, quotes them).

    python scripts/benchmark_ssm.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import traffic_lam
from traffic_lam.files import atomic_write_text
from traffic_lam.metrics import SSMSettings
from traffic_lam.metrics.ssm import edge_selection, junction_edges
from traffic_lam.signals import read_signal_layouts
from traffic_lam.sim.discovery import sumo_binary
from traffic_lam.sim.network import resolve_network

NETWORK = "resco:grid4x4"


def _raw_sumo(ssm: bool, folder: Path, edges: Path, seed: int) -> float:
    spec = resolve_network(NETWORK)
    command = [
        sumo_binary("sumo"),
        "--net-file",
        str(spec.net_file),
        "--route-files",
        ",".join(str(r) for r in spec.route_files),
        "--begin",
        "0",
        "--end",
        "3600",
        "--seed",
        str(seed),
        "--time-to-teleport",
        "-1",
        "--no-step-log",
        "true",
        "--no-warnings",
        "true",
        "--duration-log.disable",
        "true",
        "--collision.check-junctions",
        "true",
    ]
    if ssm:
        command += SSMSettings().sumo_options(folder / "raw.ssm.xml", edges)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _evaluate(controller: str, ssm: bool, folder: Path, seed: int) -> float:
    start = time.perf_counter()
    traffic_lam.evaluate(NETWORK, controller, seed=seed, out_dir=folder, ssm=ssm, **traffic_lam.resco_protocol(NETWORK))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--controller", default="greedy")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    spec = resolve_network(NETWORK)
    layouts = read_signal_layouts(spec.net_file, spec.additional_files)
    times: dict[str, list[float]] = {"raw": [], "raw+ssm": [], "evaluate": [], "evaluate+ssm": []}
    with tempfile.TemporaryDirectory(prefix="benchmark-ssm-") as tmp:
        folder = Path(tmp)
        edges = folder / "edges.txt"
        atomic_write_text(edges, edge_selection(junction_edges(spec.net_file, layouts)))
        for i in range(args.repeats):
            times["raw"].append(_raw_sumo(False, folder, edges, i))
            times["raw+ssm"].append(_raw_sumo(True, folder, edges, i))
            times["evaluate"].append(_evaluate(args.controller, False, folder, i))
            times["evaluate+ssm"].append(_evaluate(args.controller, True, folder, i))
            print(f"  run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), file=sys.stderr)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"RESCO grid4x4, 3600 s, medians of {args.repeats} interleaved runs:\n")
    print("| run | without SSM (s) | with SSM (s) | ratio |")
    print("|---|---|---|---|")
    raw_ratio = median["raw+ssm"] / median["raw"]
    print(f"| raw sumo (own program) | {median['raw']:.2f} | {median['raw+ssm']:.2f} | {raw_ratio:.2f}× |")
    print(
        f"| evaluate({args.controller}, RESCO protocol) | {median['evaluate']:.2f} | {median['evaluate+ssm']:.2f} "
        f"| {median['evaluate+ssm'] / median['evaluate']:.2f}× |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
