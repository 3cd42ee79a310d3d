"""Per-controller summaries of episode rows: mean and spread over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SUMMARY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("avg_delay", "delay (s)", "lower"),
    ("avg_travel_time", "travel time (s)", "lower"),
    ("avg_waiting_time", "waiting (s)", "lower"),
    ("throughput_per_h", "throughput (veh/h)", "higher"),
    ("avg_queue", "queue (veh)", "lower"),
    ("collisions", "collisions", "lower"),
    ("emergency_stops", "emergency stops", "lower"),
    ("emergency_braking", "emergency braking", "lower"),
    ("teleports", "teleports", "lower"),
)
"""(column, label, better) of the metrics shown in tables and plots."""


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation and count of one metric."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        if self.n == 0 or math.isnan(self.mean):
            return "–"
        return f"{self.mean:.1f} ± {self.std:.1f}" if self.n > 1 else f"{self.mean:.1f}"


def controllers_in(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Controller labels in first-seen order."""
    seen: list[str] = []
    for row in rows:
        if row["controller"] not in seen:
            seen.append(str(row["controller"]))
    return seen


def values(rows: Sequence[dict[str, Any]], controller: str, metric: str) -> list[float]:
    """The numeric values of ``metric`` for ``controller`` (missing cells skipped)."""
    return [
        float(r[metric])
        for r in rows
        if r["controller"] == controller and isinstance(r.get(metric), (int, float)) and not isinstance(r[metric], bool)
    ]


def stat(rows: Sequence[dict[str, Any]], controller: str, metric: str) -> Stat:
    """Mean ± std of ``metric`` for ``controller`` over its episodes."""
    xs = values(rows, controller, metric)
    if not xs:
        return Stat(float("nan"), float("nan"), 0)
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return Stat(mean, std, len(xs))


def summary_table(rows: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    """A table with one line per controller: mean ± std of the main metrics."""
    metrics = [(c, label) for c, label, _ in SUMMARY_METRICS if any(r.get(c) is not None for r in rows)]
    header = ["controller", "episodes", *[label for _, label in metrics]]
    lines = []
    for controller in controllers_in(rows):
        n = sum(1 for r in rows if r["controller"] == controller)
        lines.append([controller, str(n), *[str(stat(rows, controller, c)) for c, _ in metrics]])
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)] if lines else []
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), *(fmt.format(*line) for line in lines)])
