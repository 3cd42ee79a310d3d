"""Reproduce RESCO's classic-controller table on SUMO 1.x with traffic_lam.

Runs fixed-time, actuated, max-pressure and greedy on the eight RESCO maps under the
RESCO protocol (docs/definitions.md §3: 10 s decisions with a 3 s yellow inside them — arterial4x4
5 s / 2 s —, 3600 s, no teleporting), a few seeds each, and prints a markdown table of
the mean average delay (RESCO's definition) beside the published RESCO figures (SUMO 1.9).
Every episode's record goes to a CSV; every episode's tripinfo stays in the run folder.

    python scripts/reproduce_resco_classic.py                    # all maps, 3 seeds, 2 processes
    python scripts/reproduce_resco_classic.py --maps grid4x4 cologne1 --seeds 1

Each (map, controller) pair runs in its own process (libsumo: one simulation per process).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import traffic_lam
from traffic_lam.errors import TrafficLamError
from traffic_lam.evaluation import records_csv
from traffic_lam.files import atomic_write_text, ensure_writable_dir
from traffic_lam.metrics import EpisodeRecord
from traffic_lam.sim.network import RESCO_MAPS

CONTROLLERS = ("fixed-time", "actuated", "max-pressure", "greedy")

PUBLISHED: dict[str, dict[str, float | None]] = {
    # RESCO (Ault & Sharon 2021), average delay (s), SUMO 1.9; docs/definitions.md §4.
    # map: (Fixed, MaxWave/Greedy, MaxPressure)
    "grid4x4": {"fixed-time": None, "greedy": 34.3, "max-pressure": 52.6},
    "arterial4x4": {"fixed-time": None, "greedy": 820.8, "max-pressure": 952.8},
    "cologne1": {"fixed-time": 56.6, "greedy": 27.8, "max-pressure": 65.9},
    "cologne3": {"fixed-time": 46.4, "greedy": 90.7, "max-pressure": 162.3},
    "cologne8": {"fixed-time": 63.8, "greedy": 21.9, "max-pressure": 47.7},
    "ingolstadt1": {"fixed-time": 39.4, "greedy": 28.3, "max-pressure": 23.6},
    "ingolstadt7": {"fixed-time": 91.3, "greedy": 80.6, "max-pressure": 46.8},
    "ingolstadt21": {"fixed-time": 133.1, "greedy": 76.3, "max-pressure": 136.7},
}

JAMMED = 20
"""An episode with more vehicles than this never inserted counts as jammed (spill-back to the entries)."""

# Rough cost order (largest first) so the pool finishes together.
_COST = {
    "ingolstadt21": 8,
    "arterial4x4": 7,
    "cologne8": 6,
    "grid4x4": 5,
    "ingolstadt7": 4,
    "cologne3": 3,
    "cologne1": 2,
    "ingolstadt1": 1,
}


Variant = tuple[str, dict[str, Any], dict[str, Any]]
"""(controller, controller options, environment options replacing the RESCO protocol's)."""


def _job(job: tuple[str, Variant, int, int, str]) -> tuple[str, str, list[dict[str, Any]] | str]:
    """Run one (map, variant) pair in a worker process; return rows or an error line."""
    map_name, variant, seeds, seed0, out = job
    controller, options, overrides = variant
    warnings.simplefilter("ignore")  # short-yellow warnings are in the records
    network = f"resco:{map_name}"
    label = _label(variant)
    try:
        records = traffic_lam.evaluate(
            network,
            controller,
            episodes=seeds,
            seed=seed0,
            out_dir=Path(out) / map_name,
            controller_options=options or None,
            label=label,
            **{**traffic_lam.resco_protocol(network), **overrides},
        )
    except TrafficLamError as exc:
        return map_name, label, f"{exc}"
    return map_name, label, [r.to_row() for r in records]


def _label(variant: Variant) -> str:
    controller, options, overrides = variant
    label = controller
    if "detection_range" in options:
        label += f"-range{options['detection_range']:g}"
    if "max_green" in overrides:
        label += f"-maxgreen{overrides['max_green']:g}"
    return label


def _fmt(values: list[float]) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {statistics.stdev(values):.1f}"


def _pub(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def markdown(rows: list[dict[str, Any]], labels: list[str]) -> str:
    """The comparison table: ours (mean ± sd over seeds) beside RESCO's published delays."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by.setdefault((row["network"].removeprefix("resco:"), row["controller"]), []).append(row)
    maps = [m for m in RESCO_MAPS if any(k[0] == m for k in by)]
    head = ["map"]
    for label in labels:
        head.append(f"{label} (ours)")
        if label in ("fixed-time", "greedy", "max-pressure"):
            head.append(f"{label} (RESCO)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in maps:
        cells = [m]
        for label in labels:
            cells.append(_fmt([r["avg_delay"] for r in by.get((m, label), []) if r["avg_delay"] is not None]))
            if label in ("fixed-time", "greedy", "max-pressure"):
                cells.append(_pub(PUBLISHED[m][label]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(rows: list[dict[str, Any]], labels: list[str]) -> str:
    """Per map and controller: throughput, vehicles never inserted, collisions, teleports (means)."""
    lines = [
        "| map | controller | delay (s) | median delay (s) | travel time (s) | throughput (/h) | not inserted "
        "| running at end | jammed episodes | collisions | emergency braking | yellow warnings | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in RESCO_MAPS:
        for label in labels:
            sel = [r for r in rows if r["network"] == f"resco:{m}" and r["controller"] == label]
            if not sel:
                continue

            def mean(key: str, sel: list[dict[str, Any]] = sel) -> float:
                return statistics.fmean(float(r[key] or 0) for r in sel)

            median = statistics.median(float(r["avg_delay"] or 0) for r in sel)
            jammed = sum(1 for r in sel if r["vehicles_not_inserted"] > JAMMED)
            lines.append(
                f"| {m} | {label} | {mean('avg_delay'):.1f} | {median:.1f} | {mean('avg_travel_time'):.1f} "
                f"| {mean('throughput_per_h'):.0f} | {mean('vehicles_not_inserted'):.0f} "
                f"| {mean('vehicles_running'):.0f} | {jammed}/{len(sel)} | {mean('collisions'):.1f} "
                f"| {mean('emergency_braking'):.1f} | {mean('yellow_warnings'):.0f} | {mean('wall_time_s'):.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", nargs="+", default=list(RESCO_MAPS), choices=RESCO_MAPS)
    parser.add_argument("--controllers", nargs="+", default=list(CONTROLLERS), choices=CONTROLLERS)
    parser.add_argument("--seeds", type=int, default=3, help="episodes (seeds) per map and controller")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--greedy-range", type=float, nargs="*", default=[], help="extra greedy detection ranges (m)")
    parser.add_argument(
        "--max-green",
        type=int,
        nargs="*",
        default=[],
        help="extra runs of max-pressure and greedy with this max green (s); RESCO has none",
    )
    parser.add_argument("--out", default="runs/resco_classic", help="run folder (tripinfo files, CSV)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.processes < 1:
        print("reproduce_resco_classic: error: --seeds and --processes must be >= 1", file=sys.stderr)
        return 2
    try:
        out = ensure_writable_dir(args.out, "--out")
    except TrafficLamError as exc:
        print(f"reproduce_resco_classic: error: {exc}", file=sys.stderr)
        return 2
    variants: list[Variant] = [(c, {}, {}) for c in args.controllers]
    variants += [("greedy", {"detection_range": r}, {}) for r in args.greedy_range]
    variants += [(c, {}, {"max_green": g}) for g in args.max_green for c in ("max-pressure", "greedy")]
    maps = sorted(args.maps, key=lambda m: -_COST[m])
    jobs = [(m, v, args.seeds, args.seed, str(out)) for m in maps for v in variants]
    labels = [_label(v) for v in variants]
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    with mp.get_context("spawn").Pool(args.processes) as pool:
        for map_name, label, result in pool.imap_unordered(_job, jobs):
            if isinstance(result, str):
                failures.append(f"{map_name} {label}: {result}")
                print(f"  {map_name:13s} {label:20s} FAILED: {result}", file=sys.stderr, flush=True)
                continue
            rows.extend(result)
            delays = ", ".join(f"{r['avg_delay']:.1f}" for r in result)
            wall = sum(r["wall_time_s"] for r in result)
            print(f"  {map_name:13s} {label:20s} delay {delays}  ({wall:.0f} s)", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (RESCO_MAPS.index(r["network"].removeprefix("resco:")), r["controller"], r["seed"]))
    records = [EpisodeRecord(**r) for r in rows]
    csv_path = out / "resco_classic.csv"
    atomic_write_text(csv_path, records_csv(records))
    version = rows[0]["sumo_version"] if rows else "?"
    print(f"\nAverage delay (s), RESCO definition; ours on SUMO {version}, mean ± sd over {args.seeds} seed(s):\n")
    print(markdown(rows, labels))
    print("\nMeans per map and controller:\n")
    print(details(rows, labels))
    print(f"\n{len(rows)} episodes in {time.perf_counter() - start:.0f} s; records in {csv_path}")
    if failures:
        print(f"{len(failures)} job(s) failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
