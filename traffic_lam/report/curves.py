"""Learning curves: delay per training episode of every learner, against the classic controllers' delays.

Each learner's curve (``curves/<label>.csv``, a row per training episode) is drawn raw (thin,
faint) and as a moving median (bold, robust to one jammed episode). The delay column
(``delay_s``, the RESCO delay of the training episode, see ``docs/definitions.md``) is drawn
when a curve has it, else the queue (``avg_queue``), else the return; the axis says which.
The classic controllers of the same rows (those that need no training) are drawn as
horizontal lines at their mean evaluated value, so the reader sees where a learner crosses
each of them. A curve row marked ``selected`` (the checkpoint training kept) gets a star.

An episode far above the others (a training episode where the network jammed) would squash
every curve to the bottom of the axis: the axis stops a little above the moving medians and
the reference lines, and such an episode is drawn as a triangle on the top edge, labelled
with its value (and its arrived vehicles when the curve records them), so the spike is
explained rather than hidden.

The axis starts at 0 unless everything drawn lies in the upper half of it (a learner fine-tuned
from an expert, curves within a few per cent of the reference lines): then it spans the data, and
its label says the axis does not start at 0.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from traffic_lam.errors import TrafficLamError
from traffic_lam.files import read_csv
from traffic_lam.metrics.catalog import METRICS
from traffic_lam.report.colours import Look, folders_in, look, looks
from traffic_lam.report.figures import outside_legend, save
from traffic_lam.report.summary import PLOT_LABEL, controllers_in, short_label, stat

CURVE_METRICS = ("delay_s", "avg_queue", "return")
"""Learning-curve columns, in order of preference (each curve is drawn by the first one it has)."""

REFERENCE_METRICS: Mapping[str, str] = MappingProxyType({"delay_s": "avg_delay", "avg_queue": "avg_queue"})
"""The evaluated metric (results column) a curve column is compared with; the return has none."""

FOLDER_IN_LEGEND = 28
"""Longest folder name in a reference line's legend entry (``fixed-time (runA, runB)``), cut in the middle."""

REFERENCE_DASH = 5.0
"""Length of a reference line's dashes (points); lines at one value leave gaps for each other."""

SHARED_STAR = "selected checkpoint (each learner's colour)"
"""The one legend entry of the selected-checkpoint stars when several learners have one."""

MAX_WINDOW = 10
"""Largest moving-median window (episodes); shorter curves use about an eighth of their length."""


@dataclass(frozen=True)
class Curve:
    """One learner's learning curve, as drawn.

    Attributes:
        label: the learner's label.
        column: the curve column drawn (one of :data:`CURVE_METRICS`).
        episodes: training episode numbers.
        values: the column's value per episode.
        arrived: vehicles arrived per episode (None where the curve does not record it).
        not_inserted: vehicles never inserted per episode (None where the curve does not record it).
        selected: episodes whose row says ``selected`` (the checkpoint kept).
    """

    label: str
    column: str
    episodes: tuple[float, ...]
    values: tuple[float, ...]
    arrived: tuple[float | None, ...]
    not_inserted: tuple[float | None, ...]
    selected: tuple[float, ...] = ()


def read_curve(label: str, path: Path) -> Curve | None:
    """The curve in ``path`` (a CSV written by training), by its preferred column; None when empty or missing.

    Columns are read with the types of the schema beside the file; a file without one reads as text
    and its numbers are converted here.
    """
    if not path.is_file():
        return None
    table = read_csv(path)
    column = next((c for c in CURVE_METRICS if any(r.get(c) is not None for r in table)), None)
    if column is None:
        return None
    kept = [r for r in table if r.get(column) is not None and r.get("episode") is not None]
    return Curve(
        label,
        column,
        tuple(float(r["episode"]) for r in kept),
        tuple(float(r[column]) for r in kept),
        tuple(_number(r.get("arrived")) for r in kept),
        tuple(_number(r.get("vehicles_not_inserted")) for r in kept),
        tuple(float(r["episode"]) for r in kept if str(r.get("selected")).lower() in ("true", "1", "1.0")),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def moving_median(values: Sequence[float], window: int) -> list[float]:
    """Trailing median of the last ``window`` values at each point (fewer at the start).

    A median rather than a mean: one jammed episode (ten times the usual delay) would lift a
    mean for ``window`` episodes and make a learner look worse than it is where training ends.
    """
    return [statistics.median(values[max(0, i + 1 - window) : i + 1]) for i in range(len(values))]


def window_of(n: int) -> int:
    """Moving-median window for a curve of ``n`` episodes: about n/8, between 1 and :data:`MAX_WINDOW`."""
    return max(1, min(MAX_WINDOW, round(n / 8)))


def references(rows: Sequence[dict[str, Any]], metric: str, learners: Sequence[str]) -> dict[str, float]:
    """Mean evaluated ``metric`` of each controller in ``rows`` that needs no training (not one of ``learners``)."""
    out = {}
    for controller in controllers_in(rows):
        kind = next((r.get("controller_type") for r in rows if r["controller"] == controller), None)
        if controller in learners or _needs_training(kind or controller) is not False:
            continue
        mean = stat(rows, controller, metric).mean
        if mean == mean:
            out[controller] = mean
    return out


def _needs_training(kind: str) -> bool | None:
    """Whether controllers of type ``kind`` learn; None when the type cannot be resolved here."""
    from traffic_lam.controllers import CONTROLLERS, LEARNERS, controller_type

    if kind in CONTROLLERS or kind in LEARNERS:
        return kind in LEARNERS
    try:
        return bool(controller_type(kind).needs_training)
    except TrafficLamError:
        return None


def learning_curves(
    curves: Mapping[str, Path],
    path: Path,
    rows: Sequence[dict[str, Any]] = (),
    experts: Mapping[str, str] | None = None,
) -> Path | None:
    """Draw every learner's curve (see the module) into ``path``; None when no curve has data.

    Args:
        curves: curve CSV per learner label (labels as in the rows, ``<folder>/<label>`` in a comparison).
        path: the PNG to write.
        rows: the run's evaluation rows: the classic controllers' mean values become reference lines,
            and their ``run`` column (a comparison) gives each folder its line style.
        experts: a note per reference controller that a learner imitated (e.g. ``"expert of ppo"``),
            added to its line's legend entry.
    """
    read = [c for c in (read_curve(label, p) for label, p in curves.items()) if c is not None]
    if not read:
        return None
    columns = [c for c in CURVE_METRICS if any(curve.column == c for curve in read)]
    folders = folders_in(rows)
    fig = Figure(figsize=(8.4, 4.8 * len(columns)), layout="constrained")
    for k, column in enumerate(columns):
        ax = fig.add_subplot(len(columns), 1, k + 1)
        mine = [c for c in read if c.column == column]
        metric = REFERENCE_METRICS.get(column)
        own = {f for f in folders if any(c.label.startswith(f"{f}/") for c in mine)}  # the panel's folders only
        near = [r for r in rows if not folders or r.get("run") in own]
        lines = _merged(references(near, metric, [c.label for c in read]), folders) if metric else {}
        _panel(ax, mine, lines, folders, experts or {})
    fig.suptitle("Learning curves (thin: each training episode; bold: moving median; dashed: classic controllers)")
    return save(fig, path)


def _merged(lines: Mapping[str, float], folders: Sequence[str]) -> dict[str, tuple[float, Look]]:
    """Reference lines by legend label, with their value and look.

    A controller at the same value in several folders is one line, ``fixed-time (runA, runB)``.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for label, value in lines.items():
        folder = next((f for f in folders if label.startswith(f"{f}/")), "")
        name = label[len(folder) + 1 :] if folder else label
        groups.setdefault((name, f"{value:.1f}"), []).append(short_label(folder, FOLDER_IN_LEGEND) or label)
    out = {}
    for (name, value), where in groups.items():
        merged = len(where) > 1 or where[0] != name
        out[f"{name} ({', '.join(where)})" if merged else name] = (float(value), look(name))
    return out


def _panel(
    ax: Axes,
    curves: Sequence[Curve],
    lines: Mapping[str, tuple[float, Look]],
    folders: Sequence[str],
    experts: Mapping[str, str],
) -> None:
    """One curve column: raw and smoothed curves, reference lines, off-scale episodes on the top edge."""
    averages, drawn_as = [], looks([curve.label for curve in curves], folders)
    starred = sum(1 for curve in curves if curve.selected)
    for curve in curves:
        drawn = drawn_as[curve.label]
        window = window_of(len(curve.values))
        averaged = moving_median(curve.values, window)
        averages.extend(averaged)
        ax.plot(curve.episodes, curve.values, color=drawn.colour, linestyle=drawn.line, linewidth=0.8, alpha=0.35)
        shown = short_label(curve.label, PLOT_LABEL)
        name = f"{shown} (median of the last {window})" if window > 1 else shown
        ax.plot(curve.episodes, averaged, color=drawn.colour, linestyle=drawn.line, linewidth=2.4, label=name)
        stars = [curve.values[curve.episodes.index(e)] for e in curve.selected]
        if stars:  # several learners: one legend entry for every star
            star = f"{curve.label}: selected checkpoint" if starred == 1 else SHARED_STAR
            first = star not in ax.get_legend_handles_labels()[1]
            ax.scatter(curve.selected, stars, marker="*", s=180, color=drawn.colour, edgecolors="black", zorder=4,
                       label=star if first else "_nolegend_")  # fmt: skip
    for label, (value, drawn) in sorted(lines.items(), key=lambda item: -item[1][0]):  # top to bottom, as drawn
        alike = [other for other, (v, _) in sorted(lines.items()) if f"{v:.1f}" == f"{value:.1f}"]
        _reference(ax, label, value, drawn, experts.get(label), share=(alike.index(label), len(alike)))
    bottom = 0.0
    if curves[0].column in REFERENCE_METRICS:  # delay and queue: non-negative, spikes go up
        bottom, top = _span(curves, averages, [value for value, _ in lines.values()])
        ax.set_ylim(bottom=bottom, top=top)
        notes = [note for curve in curves if (note := _off_scale(ax, curve, top, drawn_as[curve.label]))]
        if notes:  # one block inside the axes: labels at each triangle overlap when episodes are close
            ax.text(0.99, 0.98, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize="small",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85})  # fmt: skip
    ax.set_xlabel("training episode")
    ax.set_ylabel(_axis_label(curves[0].column) + (" (axis not from 0)" if bottom > 0 else ""))
    ax.grid(alpha=0.3)
    outside_legend(ax)


def _span(curves: Sequence[Curve], averages: Sequence[float], lines: Any) -> tuple[float, float]:
    """The axis (bottom, top): above the averages, the reference lines and nearly every raw episode.

    From 0, unless all of them lie in the upper half of that; then from a little below the lowest.
    """
    raw = sorted(v for c in curves for v in c.values)
    high = max([raw[int(0.95 * (len(raw) - 1))], *averages, *lines])
    low = min([raw[0], *lines])
    if low < 0.5 * high:
        return 0.0, 1.12 * high
    pad = max(0.15 * (high - low), 0.01 * high)
    return low - pad, high + pad


def _reference(
    ax: Axes, label: str, value: float, drawn: Look, note: str | None = None, share: tuple[int, int] = (0, 1)
) -> None:
    """A classic controller's mean evaluated value: a dashed line across, named in the legend (and ``note``).

    Args:
        ax: the axes.
        label: the controller.
        value: its mean evaluated value.
        drawn: its colour.
        note: added in the legend's brackets (``"the expert ppo imitated"``).
        share: (index, count) among the lines at the same shown value: their dashes take turns,
            so a line is not hidden under another one at the same height.
    """
    name = f"{label}: {value:.1f} (evaluated{'; ' + note if note else ''})"
    index, count = share
    pattern = (REFERENCE_DASH, 3.0) if count == 1 else (REFERENCE_DASH, REFERENCE_DASH * (count - 1))
    ax.axhline(value, color=drawn.colour, linestyle=(index * REFERENCE_DASH, pattern), linewidth=1.4, label=name)


def _off_scale(ax: Axes, curve: Curve, top: float, drawn: Look) -> str | None:
    """Episodes above the axis: a triangle on the top edge each; the note naming the worst (value and why).

    Returns:
        ``"<label>: episode 5: 900"`` (with how many more, and a line saying "a jam" where
        few vehicles arrived), or None when every episode is on the axis.
    """
    known = [a for a in curve.arrived if a is not None]
    usual = statistics.median(known) if known else None
    rows = zip(curve.episodes, curve.values, curve.arrived, curve.not_inserted, strict=True)
    above = [row for row in rows if row[1] > top]
    for episode, *_ in above:
        ax.scatter([episode], [top], marker="^", s=60, color=drawn.colour, edgecolors="black", clip_on=False, zorder=5)
    if not above:
        return None
    episode, value, arrived, never = max(above, key=lambda row: row[1])
    more = f" (+{len(above) - 1} more above)" if len(above) > 1 else ""
    note = f"{curve.label}: episode {episode:.0f}: {value:.0f}{more}"
    if arrived is not None and usual and arrived < 0.5 * usual:
        blocked = f", {never:.0f} never inserted" if never else ""
        note += f"\na jam: {arrived:.0f} vehicles arrived (usually {usual:.0f}){blocked}"
    return note


def _axis_label(column: str) -> str:
    if column == "delay_s":
        return f"{METRICS['avg_delay'].heading} of the training episode\nlower is better"
    if column == "avg_queue":
        return f"{METRICS['avg_queue'].heading} of the training episode (no delay recorded)\nlower is better"
    return "return of the training episode\nhigher is better"
