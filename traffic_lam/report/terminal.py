"""The summary printed by ``traffic-lam run`` and ``compare``: a table that fits a terminal (100 columns).

The full table (every summary metric, one heading line) is :func:`traffic_lam.report.summary.summary_table`
and the full data are in ``results.csv`` and ``report.html``; this one keeps what a reader
looks at first (:data:`TERMINAL_COLUMNS`), adds the other summary metrics while they fit,
wraps headings over a few lines, and names what it left out. A controller whose episodes
jammed (:mod:`traffic_lam.report.jams`) is flagged ``JAM!``; the warning of a learner's
training (reward hacking: :func:`traffic_lam.controllers.selection.reward_hacking`) is a
``warning:`` line under the table.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import COUNT, Metric
from traffic_lam.report.jams import RULE, jams
from traffic_lam.report.summary import (
    FINAL_NOTE,
    Stat,
    controllers_in,
    display_names,
    episodes_of,
    plural,
    present,
    short_labels,
    stat,
    values,
)

WIDTH = 100
"""Columns of the terminal summary."""

TERMINAL_COLUMNS = (
    "avg_delay", "avg_travel_time", "throughput_per_h", "vehicles_arrived", "vehicles_not_inserted",
    "collisions", "emergency_braking",
)  # fmt: skip
"""Metrics the terminal summary shows first (then the catalog's other ``in_summary`` ones, while they fit)."""

LONGEST_LABEL = 32


@dataclass(frozen=True)
class _Column:
    heading: tuple[str, ...]
    cells: tuple[str, ...]

    @property
    def width(self) -> int:
        return max(len(text) for text in (*self.heading, *self.cells))


def terminal_summary(
    rows: Sequence[dict[str, Any]],
    width: int = WIDTH,
    metrics: Iterable[Metric] = METRICS,
    warnings: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The summary of ``rows`` in at most ``width`` columns: a line per controller, mean±std per metric.

    Args:
        rows: episode rows (``results.csv``).
        width: the widest a line may be (metric columns that do not fit are left out and named).
        metrics: the catalog to read (:data:`TERMINAL_COLUMNS` first, then its other ``in_summary`` metrics).
        warnings: the warning lines of each learner's training, by label (each a line under the table).
    """
    catalog = list(metrics)
    by_name = {m.name: m for m in catalog}
    wanted = [by_name[n] for n in TERMINAL_COLUMNS if n in by_name]
    wanted += [m for m in catalog if m.in_summary and m not in wanted]
    controllers = controllers_in(rows)
    flagged = jams(rows)
    counts = [episodes_of(rows, c) for c in controllers]
    names = display_names(rows)
    shown = short_labels([names[c] for c in controllers], LONGEST_LABEL)
    fixed = [_Column(("controller",), tuple(shown[names[c]] for c in controllers))]
    if len(set(counts)) > 1:
        fixed.append(_Column(("episodes",), tuple(map(str, counts))))
    last = [_Column(("jam",), tuple("JAM!" if c in flagged else "" for c in controllers))] if flagged else []
    columns = [(m.heading, _metric_column(rows, controllers, m)) for m in present(rows, wanted)]
    gap, shown, dropped = "  ", [], []
    for gap in ("  ", " "):  # narrower gaps only when a first-choice column would be left out
        shown, dropped = _fit(fixed, columns, last, width, len(gap))
        if not set(dropped) & {by_name[n].heading for n in TERMINAL_COLUMNS if n in by_name}:
            break
    each = f" over {plural(counts[0], 'episode')} per controller" if len(set(counts)) == 1 and counts else ""
    notes = [f"values: mean±std{each} (no ± where the std rounds to 0)"]
    if dropped:
        notes.append(f"not shown here (full data in results.csv and report.html): {', '.join(dropped)}")
    if any(n != c for c, n in names.items()):
        notes.append(FINAL_NOTE)
    notes += [f"JAM! {names.get(controller, controller)}: {why}" for controller, why in flagged.items()]
    if flagged:
        notes.append(RULE)
    notes += [f"warning: {line}" for lines in (warnings or {}).values() for line in lines]
    return "\n".join([*_render(shown, gap), "", *(textwrap.fill(n, width, subsequent_indent="  ") for n in notes)])


def _metric_column(rows: Sequence[dict[str, Any]], controllers: list[str], metric: Metric) -> _Column:
    """A metric's cells (compact mean±std) under its heading, wrapped to the width of the widest cell or word."""
    whole = all(float(x).is_integer() for c in controllers for x in values(rows, c, metric.name))
    cells = tuple(_cell(stat(rows, c, metric.name), whole) for c in controllers)
    fit = max([*(len(c) for c in cells), *(len(w) for w in metric.label.split())])
    heading = textwrap.wrap(metric.label, fit) + ([] if metric.unit == COUNT else [f"({metric.unit})"])
    return _Column(tuple(heading), cells)


def _cell(s: Stat, whole: bool) -> str:
    """``36.7±0.6``; ``2555±4`` from 1000 up; no ``±`` where the std rounds to 0; ``0`` for counts; ``–``: no data."""
    if s.n == 0 or math.isnan(s.mean):
        return "–"
    digits = 0 if abs(s.mean) >= 1000 or (whole and s.std == 0 and s.mean.is_integer()) else 1
    mean, spread = f"{s.mean:.{digits}f}", f"{s.std:.{digits}f}"
    return f"{mean}±{spread}" if s.n > 1 and float(spread) > 0 else mean


def _fit(
    fixed: list[_Column], columns: list[tuple[str, _Column]], last: list[_Column], width: int, gap: int
) -> tuple[list[_Column], list[str]]:
    """The columns that fit in ``width`` (in order, ``fixed`` and ``last`` always) and the headings left out."""
    shown, dropped = list(fixed), []
    for heading, column in columns:
        candidate = [*shown, column, *last]
        if sum(c.width for c in candidate) + gap * (len(candidate) - 1) <= width:
            shown.append(column)
        else:
            dropped.append(heading)
    return shown + last, dropped


def _render(columns: Sequence[_Column], gap: str) -> list[str]:
    """Headings aligned at the bottom, numbers at the right, labels at the left."""
    height = max(len(c.heading) for c in columns)
    lines = []
    for k in range(height):
        parts = []
        for i, column in enumerate(columns):
            text = column.heading[k - height + len(column.heading)] if k >= height - len(column.heading) else ""
            parts.append(text.ljust(column.width) if i == 0 else text.rjust(column.width))
        lines.append(gap.join(parts).rstrip())
    for r in range(len(columns[0].cells)):
        cells = [c.cells[r].ljust(c.width) if i == 0 else c.cells[r].rjust(c.width) for i, c in enumerate(columns)]
        lines.append(gap.join(cells).rstrip())
    return lines
