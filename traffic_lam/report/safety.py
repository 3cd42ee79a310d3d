"""Safety plots: events per controller, and delay against events, drawn so that few events read as few.

Counts are drawn as what they are: one dot per episode over a bar at the mean, on an
integer axis that never goes below 0, without whiskers (a single event in three episodes
is a dot at 1 and a bar at 0.33, not a whisker three times the bar). When nothing happened
the plot says so ("no safety events in N episodes") instead of drawing an empty axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import COUNT, Metric
from traffic_lam.report.colours import Look, folders_in, looks
from traffic_lam.report.figures import bar_panels, count_axis, message_panel, outside_legend, save
from traffic_lam.report.summary import (
    PLOT_LABEL,
    controllers_in,
    display_names,
    plural,
    present,
    stat,
    values,
)

SAFETY_EVENTS = ("collisions", "emergency_stops", "emergency_braking")
"""Metrics summed on the safety axis of :func:`delay_vs_safety`."""


def safety_bars(
    rows: Sequence[dict[str, Any]], path: Path, title: str = "", metrics: Iterable[Metric] = METRICS
) -> Path:
    """Safety metrics (declared ``safety`` and ``in_plots``): a panel per metric with events, dots per episode.

    Each panel shows, per controller, a bar at the mean over episodes and a dot per episode.
    Metrics that stayed at zero get no panel; they are named under the plot. When every
    metric stayed at zero the plot is one line: "No safety events in N episodes".
    """
    shown = present(rows, [m for m in metrics if m.in_plots and m.safety])
    controllers = controllers_in(rows)
    eventful = [m for m in shown if any(any(values(rows, c, m.name)) for c in controllers)]
    quiet = ", ".join(m.heading for m in shown if m not in eventful)
    episodes = plural(sum(1 for r in rows if any(r.get(m.name) is not None for m in shown)), "episode")
    if not eventful:
        fig = Figure(figsize=(7.0, 2.4), layout="constrained")
        text = f"No safety events in {episodes}\n({quiet}: all zero)" if shown else "No safety metric was measured"
        message_panel(fig.add_subplot(1, 1, 1), text)
        fig.suptitle(title or "Safety per controller")
        return save(fig, path)
    drawn = looks(controllers, folders_in(rows))
    names = display_names(rows, PLOT_LABEL)
    fig, panels = bar_panels(len(eventful), len(controllers), least_width=4.2)
    for ax, metric in zip(panels, eventful, strict=True):
        _dots_over_means(ax, rows, controllers, metric, drawn)
        ax.set_xticks(range(len(controllers)), [names[c] for c in controllers], rotation=30, ha="right")
        ax.set_title(metric.heading if metric.better == "lower" else f"{metric.heading} (higher is safer)")
    if quiet:
        fig.supxlabel(f"zero in all {episodes}: {quiet}", fontsize="medium")
    fig.suptitle(title or "Safety per controller (bars: mean over episodes, dots: episodes; lower is safer)")
    return save(fig, path)


def _dots_over_means(
    ax: Axes, rows: Sequence[dict[str, Any]], controllers: list[str], metric: Metric, drawn: Mapping[str, Look]
) -> None:
    """One bar at the mean and one dot per episode (side by side, so equal counts stay visible) per controller."""
    highest = 0.0
    for i, controller in enumerate(controllers):
        xs = sorted(values(rows, controller, metric.name))
        look = drawn[controller]
        mean = stat(rows, controller, metric.name).mean if xs else 0.0
        ax.bar(i, mean, 0.7, color=look.colour, alpha=0.45)
        step = min(0.12, 0.56 / max(1, len(xs)))
        offsets = [i + (j - (len(xs) - 1) / 2) * step for j in range(len(xs))]
        ax.scatter(offsets, xs, color=look.colour, edgecolors="black", marker=look.marker, s=28, zorder=3)
        highest = max([highest, *xs])
    ax.grid(axis="y", alpha=0.3)
    if metric.unit == COUNT:
        count_axis(ax, highest)
        ax.set_ylabel("events per episode")
    else:
        ax.set_ylim(bottom=0)
        ax.set_ylabel(metric.axis_label)


def delay_vs_safety(
    rows: Sequence[dict[str, Any]],
    path: Path,
    title: str = "",
    x: str = "avg_delay",
    events: Sequence[str] = SAFETY_EVENTS,
) -> Path:
    """Scatter: a metric (delay) against the sum of safety events, a dot per episode (built-in metric names).

    The event axis has integer ticks from 0 up (never a negative count); when no episode had an
    event the plot says so.
    """
    metric = METRICS[x]
    controllers = controllers_in(rows)
    drawn = looks(controllers, folders_in(rows))
    names = display_names(rows, PLOT_LABEL)
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    highest, dots = 0.0, 0
    for controller in controllers:
        mine = [r for r in rows if r["controller"] == controller and r.get(x) is not None]
        counted = [sum(float(r.get(m) or 0) for m in events) for r in mine]
        look = drawn[controller]
        shown = names[controller]
        ax.scatter([float(r[x]) for r in mine], counted, label=shown, s=40, **look.dots())
        highest, dots = max([highest, *counted]), dots + len(mine)
    count_axis(ax, highest)
    if highest == 0:
        ax.text(0.5, 0.6, f"no safety events in {plural(dots, 'episode')}", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"{metric.heading} — {metric.better} is better")
    ax.set_ylabel(" + ".join(METRICS[m].heading for m in events) + "\nper episode — lower is safer")
    ax.grid(alpha=0.3)
    outside_legend(ax)  # inside, a legend covers dots wherever matplotlib puts it
    corner = "left" if metric.better == "lower" else "right"
    ax.set_title(title or f"{metric.label.capitalize()} versus safety (one dot per episode; best is bottom {corner})")
    return save(fig, path)
