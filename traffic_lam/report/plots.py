"""Comparison plots (PNG) from episode rows, drawn with matplotlib's object API.

No pyplot and no global backend switch: each figure is a ``matplotlib.figure.Figure``
saved with the Agg canvas, so plotting works headless and touches no global state.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from traffic_lam.files import atomic_open
from traffic_lam.report.summary import controllers_in, stat, values

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _save(fig: Figure, path: Path) -> Path:
    with atomic_open(path, "wb", encoding=None) as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    return path


def performance_bars(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Delay, travel time and throughput per controller: mean bar, std whisker, one dot per episode."""
    metrics = [
        ("avg_delay", "average delay (s)\nlower is better"),
        ("avg_travel_time", "average travel time (s)\nlower is better"),
        ("throughput_per_h", "throughput (veh/h)\nhigher is better"),
    ]
    controllers = controllers_in(rows)
    fig = Figure(figsize=(4.6 * len(metrics), 4.4), layout="constrained")
    for k, (metric, label) in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        for i, controller in enumerate(controllers):
            s = stat(rows, controller, metric)
            ax.bar(i, s.mean, yerr=s.std if s.n > 1 else None, color=_colour(i), alpha=0.8, capsize=4)
            xs = values(rows, controller, metric)
            ax.scatter([i] * len(xs), xs, color="black", s=10, zorder=3)
        ax.set_xticks(range(len(controllers)), controllers, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "Performance per controller (bars: mean over episodes, whiskers: std, dots: episodes)")
    return _save(fig, path)


def safety_bars(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Safety counters per controller: mean per episode, whiskers from the min to the max episode."""
    metrics = [m for m in ("collisions", "emergency_stops", "emergency_braking", "teleports",
                           "ssm_ttc", "ssm_drac", "ssm_pet") if any(r.get(m) is not None for r in rows)]  # fmt: skip
    controllers = controllers_in(rows)
    fig = Figure(figsize=(max(6.0, 0.6 * len(controllers) * max(1, len(metrics))), 4.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(metrics))
    for j, metric in enumerate(metrics):
        means = [stat(rows, c, metric).mean for c in controllers]
        ranges = [values(rows, c, metric) or [0.0] for c in controllers]
        spread = [[m - min(r) for m, r in zip(means, ranges, strict=True)],
                  [max(r) - m for m, r in zip(means, ranges, strict=True)]]  # fmt: skip
        xs = [i + (j - (len(metrics) - 1) / 2) * width for i in range(len(controllers))]
        ax.bar(xs, means, width, yerr=spread, label=metric.replace("_", " "), color=_colour(j), capsize=3)
    ax.set_xticks(range(len(controllers)), controllers, rotation=30, ha="right")
    ax.set_ylabel("events per episode (lower is safer)")
    ax.grid(axis="y", alpha=0.3)
    if metrics:
        ax.legend(fontsize="small")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Safety per controller (mean over episodes, whiskers: min-max)")
    return _save(fig, path)


def delay_vs_safety(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Scatter: average delay against safety events (emergency stops + braking + collisions), a dot per episode."""
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for i, controller in enumerate(controllers_in(rows)):
        mine = [r for r in rows if r["controller"] == controller and r.get("avg_delay") is not None]
        events = [
            sum(float(r.get(m) or 0) for m in ("collisions", "emergency_stops", "emergency_braking")) for r in mine
        ]
        ax.scatter([float(r["avg_delay"]) for r in mine], events, label=controller, color=_colour(i), s=40)
    ax.set_xlabel("average delay (s) — lower is better")
    ax.set_ylabel("collisions + emergency stops + emergency braking\nper episode — lower is safer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or "Delay versus safety (one dot per episode; best is bottom left)")
    return _save(fig, path)


CURVE_METRICS = ("avg_delay", "avg_queue", "return")
"""Learning-curve columns, in order of preference (the first one every curve has is drawn)."""


def learning_curves(curves: dict[str, Path], path: Path) -> Path | None:
    """Per-training-episode delay (else queue, else return) of every learner; None without data."""
    tables: dict[str, list[dict[str, str]]] = {}
    for name, csv_path in curves.items():
        if csv_path.is_file():
            with csv_path.open(newline="") as handle:
                tables[name] = list(csv.DictReader(handle))
    tables = {name: rows for name, rows in tables.items() if rows}
    metric = next((m for m in CURVE_METRICS if tables and all(m in rows[0] for rows in tables.values())), None)
    if metric is None:
        return None
    series = {
        name: ([float(r["episode"]) for r in rows], [float(r[metric]) for r in rows]) for name, rows in tables.items()
    }
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for i, (name, (xs, ys)) in enumerate(series.items()):
        ax.plot(xs, ys, marker="o", markersize=3, label=name, color=_colour(i))
    ax.set_xlabel("training episode")
    labels = {"avg_delay": "average delay (s)", "avg_queue": "average queue per signal (vehicles)", "return": "return"}
    ax.set_ylabel(labels[metric])
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("Learning curves")
    return _save(fig, path)
