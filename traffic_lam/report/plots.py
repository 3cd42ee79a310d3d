"""Comparison plots (PNG) from episode rows, drawn with matplotlib's object API.

Which metrics a plot draws and its axis labels (unit, which way is better) come from the
metric declarations (:data:`traffic_lam.metrics.METRICS`, or the catalog passed as ``metrics``).

No pyplot and no global backend switch: each figure is a ``matplotlib.figure.Figure``
saved with the Agg canvas, so plotting works headless and touches no global state.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from traffic_lam.files import atomic_open
from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import COUNT, Metric
from traffic_lam.report.summary import controllers_in, present, stat, values

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _save(fig: Figure, path: Path) -> Path:
    with atomic_open(path, "wb", encoding=None) as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    return path


def performance_bars(
    rows: Sequence[dict[str, Any]], path: Path, title: str = "", metrics: Iterable[Metric] = METRICS
) -> Path:
    """A panel per performance metric (declared ``in_plots``, not ``safety``): mean bar, std whisker, episode dots."""
    shown = present(rows, [m for m in metrics if m.in_plots and not m.safety])
    controllers = controllers_in(rows)
    fig = Figure(figsize=(4.6 * max(1, len(shown)), 4.4), layout="constrained")
    for k, metric in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), k + 1)
        for i, controller in enumerate(controllers):
            s = stat(rows, controller, metric.name)
            ax.bar(i, s.mean, yerr=s.std if s.n > 1 else None, color=_colour(i), alpha=0.8, capsize=4)
            xs = values(rows, controller, metric.name)
            ax.scatter([i] * len(xs), xs, color="black", s=10, zorder=3)
        ax.set_xticks(range(len(controllers)), controllers, rotation=30, ha="right")
        ax.set_ylabel(metric.axis_label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "Performance per controller (bars: mean over episodes, whiskers: std, dots: episodes)")
    return _save(fig, path)


def safety_bars(
    rows: Sequence[dict[str, Any]], path: Path, title: str = "", metrics: Iterable[Metric] = METRICS
) -> Path:
    """Safety metrics (declared ``safety`` and ``in_plots``) per controller: mean, whiskers from min to max episode."""
    shown = present(rows, [m for m in metrics if m.in_plots and m.safety])
    controllers = controllers_in(rows)
    fig = Figure(figsize=(max(6.0, 0.6 * len(controllers) * max(1, len(shown))), 4.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(shown))
    for j, metric in enumerate(shown):
        means = [stat(rows, c, metric.name).mean for c in controllers]
        ranges = [values(rows, c, metric.name) or [0.0] for c in controllers]
        spread = [[m - min(r) for m, r in zip(means, ranges, strict=True)],
                  [max(r) - m for m, r in zip(means, ranges, strict=True)]]  # fmt: skip
        xs = [i + (j - (len(shown) - 1) / 2) * width for i in range(len(controllers))]
        legend = metric.heading if metric.better == "lower" else f"{metric.heading} (higher is safer)"
        ax.bar(xs, means, width, yerr=spread, label=legend, color=_colour(j), capsize=3)
    ax.set_xticks(range(len(controllers)), controllers, rotation=30, ha="right")
    counts = all(m.unit == COUNT for m in shown)
    lower = all(m.better == "lower" for m in shown)
    ax.set_ylabel(f"{'events' if counts else 'value'} per episode{' (lower is safer)' if lower else ''}")
    ax.grid(axis="y", alpha=0.3)
    if shown:
        ax.legend(fontsize="small")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Safety per controller (mean over episodes, whiskers: min-max)")
    return _save(fig, path)


SAFETY_EVENTS = ("collisions", "emergency_stops", "emergency_braking")
"""Metrics summed on the safety axis of :func:`delay_vs_safety`."""


def delay_vs_safety(
    rows: Sequence[dict[str, Any]],
    path: Path,
    title: str = "",
    x: str = "avg_delay",
    events: Sequence[str] = SAFETY_EVENTS,
) -> Path:
    """Scatter: a metric (delay) against the sum of safety events, a dot per episode (built-in metric names)."""
    metric = METRICS[x]
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for i, controller in enumerate(controllers_in(rows)):
        mine = [r for r in rows if r["controller"] == controller and r.get(x) is not None]
        counted = [sum(float(r.get(m) or 0) for m in events) for r in mine]
        ax.scatter([float(r[x]) for r in mine], counted, label=controller, color=_colour(i), s=40)
    ax.set_xlabel(f"{metric.heading} — {metric.better} is better")
    ax.set_ylabel(" + ".join(METRICS[m].heading for m in events) + "\nper episode — lower is safer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    corner = "left" if metric.better == "lower" else "right"
    ax.set_title(title or f"{metric.label.capitalize()} versus safety (one dot per episode; best is bottom {corner})")
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
    ax.set_ylabel(METRICS[metric].axis_label if metric in METRICS else metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("Learning curves")
    return _save(fig, path)
