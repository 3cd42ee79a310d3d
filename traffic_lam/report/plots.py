"""Comparison plots (PNG) from episode rows, drawn with matplotlib's object API.

Which metrics a plot draws and its axis labels (unit, which way is better) come from the
metric declarations (:data:`traffic_lam.metrics.METRICS`, or the catalog passed as ``metrics``).
Every controller label has one colour in every plot (:mod:`traffic_lam.report.colours`).

* :func:`performance_bars` (here);
* :func:`~traffic_lam.report.safety.safety_bars` and :func:`~traffic_lam.report.safety.delay_vs_safety`;
* :func:`~traffic_lam.report.curves.learning_curves`.

No pyplot and no global backend switch: each figure is a ``matplotlib.figure.Figure``
saved with the Agg canvas, so plotting works headless and touches no global state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import Metric
from traffic_lam.report.colours import folders_in, looks
from traffic_lam.report.curves import CURVE_METRICS, learning_curves
from traffic_lam.report.figures import bar_panels, save
from traffic_lam.report.safety import SAFETY_EVENTS, delay_vs_safety, safety_bars
from traffic_lam.report.summary import PLOT_LABEL, controllers_in, display_names, present, stat, values


def performance_bars(
    rows: Sequence[dict[str, Any]], path: Path, title: str = "", metrics: Iterable[Metric] = METRICS
) -> Path:
    """A panel per performance metric (declared ``in_plots``, not ``safety``): mean bar, std whisker, episode dots.

    A metric that is never negative keeps its axis and whiskers at or above 0. The panels stand side
    by side for a few controllers and are stacked for more (:func:`~traffic_lam.report.figures.bar_panels`).
    """
    shown = present(rows, [m for m in metrics if m.in_plots and not m.safety])
    controllers = controllers_in(rows)
    drawn = looks(controllers, folders_in(rows))
    names = display_names(rows, PLOT_LABEL)
    fig, panels = bar_panels(len(shown), len(controllers), least_width=4.6)
    for ax, metric in zip(panels, shown, strict=True):
        positive = all(x >= 0 for c in controllers for x in values(rows, c, metric.name))
        for i, controller in enumerate(controllers):
            s = stat(rows, controller, metric.name)
            below = min(s.std, s.mean) if positive else s.std  # a whisker never reaches below 0 s or 0 veh/h
            spread = [[below], [s.std]] if s.n > 1 else None
            ax.bar(i, s.mean, yerr=spread, color=drawn[controller].colour, alpha=0.8, capsize=4)
            xs = values(rows, controller, metric.name)
            ax.scatter([i] * len(xs), xs, color="black", marker=drawn[controller].marker, s=10, zorder=3)
        if positive:
            ax.set_ylim(bottom=0)
        ax.set_xticks(range(len(controllers)), [names[c] for c in controllers], rotation=30, ha="right")
        ax.set_ylabel(metric.axis_label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "Performance per controller (bars: mean over episodes, whiskers: std, dots: episodes)")
    return save(fig, path)


__all__ = [
    "CURVE_METRICS",
    "SAFETY_EVENTS",
    "delay_vs_safety",
    "learning_curves",
    "performance_bars",
    "safety_bars",
]
