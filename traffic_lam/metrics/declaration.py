"""What a metric is: one declaration (:class:`Metric`) read by the record, the tables, the plots and the report.

A metric declares its column name, how it is shown (label, unit, which way is better,
whether it is a safety metric, where it appears) and how it is computed from an
:class:`Episode`, the data evaluation collected for one episode. A :class:`Catalog` is an
immutable, ordered set of declarations; the built-in one is
:data:`traffic_lam.metrics.catalog.METRICS`. Adding a metric is one declaration, passed
explicitly::

    twice = Metric("arrived_twice", "arrived ×2", "veh", "higher", lambda e: 2 * e.trips.arrived)
    records = traffic_lam.evaluate("single-intersection", "max-pressure", metrics=[twice])
    records[0].extra["arrived_twice"], records[0].to_row()["arrived_twice"]
    summary_table(rows, metrics=METRICS.extended([twice]))

The definitions of the built-in metrics are in ``docs/definitions.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np

from traffic_lam.errors import ConfigError
from traffic_lam.metrics.ssm import SSMCounts
from traffic_lam.metrics.statistics import SumoStatistics
from traffic_lam.metrics.tripinfo import TripSummary

Value = int | float | None
"""What a metric holds for one episode (None: not measured, e.g. SSM with the device off)."""

COUNT = "count"
"""Unit of a number of the events a metric's label names ("collisions"); headings show no unit for it."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, eq=False)
class Episode:
    """What evaluation collected for one episode: the input of every metric's ``compute``.

    Attributes:
        begin: simulation begin (s).
        end: simulation end (s).
        counters: SUMO's system counters summed over every step of the episode (``arrived``,
            ``departed``, ``teleports``, ``colliding_vehicles``, ``emergency_stops``), plus
            the last step's ``time``, ``halting`` and ``step_*`` counts (the environment's
            final ``info["system"]``).
        queues: per decision step, halting vehicles on a signal's incoming lanes averaged
            over the signals.
        trips: the episode's tripinfo, summarised (every loaded vehicle).
        statistics: SUMO's statistic output.
        ssm: SSM conflicts near the controlled junctions; None when SSM is off.
        yellow_warnings: signals whose yellow is too short for their approach speed.
        tripinfo_file: the episode's tripinfo XML, readable while metrics are computed
            (for metrics that need every vehicle's trip).

    """

    begin: float
    end: float
    counters: Mapping[str, float]
    queues: tuple[float, ...]
    trips: TripSummary
    statistics: SumoStatistics
    ssm: SSMCounts | None
    yellow_warnings: int
    tripinfo_file: Path

    @property
    def hours(self) -> float:
        """Simulated hours (``end - begin``)."""
        return (self.end - self.begin) / 3600.0


@dataclass(frozen=True)
class Metric:
    """One metric, declared once: its column, how it is shown and how it is computed.

    Attributes:
        name: column name in records and ``results.csv`` (lowercase letters, digits, ``_``).
        label: short heading in tables and plots (``"delay"``).
        unit: unit of the value (``"s"``, ``"veh/h"``, ``"veh"``), or :data:`COUNT` for a
            number of the events the label names.
        better: ``"lower"`` or ``"higher"``: which way is better (the best cell of a table).
        compute: the value for one episode, from what evaluation collected (:class:`Episode`).
        safety: a safety metric (drawn in the safety plot, not the performance plot).
        description: one sentence saying what the value is.
        in_summary: shown in the summary table and the report.
        in_plots: drawn in the performance plot (or the safety plot when ``safety``).

    Raises:
        ConfigError: a bad name, direction, label or unit, or a ``compute`` that is not callable.

    """

    name: str
    label: str
    unit: str
    better: Literal["lower", "higher"]
    compute: Callable[[Episode], Value] = field(repr=False)
    safety: bool = False
    description: str = ""
    in_summary: bool = True
    in_plots: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(f"metric name: expected lowercase letters, digits and '_', got {self.name!r}")
        if self.better not in ("lower", "higher"):
            raise ConfigError(f"metric '{self.name}': better: expected 'lower' or 'higher', got {self.better!r}")
        for key in ("label", "unit"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ConfigError(f"metric '{self.name}': {key}: expected a non-empty string")
        if not callable(self.compute):
            raise ConfigError(f"metric '{self.name}': compute: expected a function of an Episode")

    @property
    def heading(self) -> str:
        """Label with its unit: ``"delay (s)"``; a count shows its label alone (``"collisions"``)."""
        return self.label if self.unit == COUNT else f"{self.label} ({self.unit})"

    @property
    def axis_label(self) -> str:
        """Heading and direction on two lines, for a plot axis."""
        return f"{self.heading}\n{self.better} is better"

    def value(self, episode: Episode) -> Value:
        """``compute(episode)`` as a plain int, float or None.

        Raises:
            ConfigError: ``compute`` returned something else.

        """
        result = self.compute(episode)
        if isinstance(result, np.generic):
            result = result.item()
        if result is not None and (isinstance(result, bool) or not isinstance(result, (int, float))):
            raise ConfigError(f"metric '{self.name}': compute: expected a number or None, got {result!r}")
        return result

    def best(self, values: Iterable[float]) -> float | None:
        """The best of ``values`` (min or max by :attr:`better`; NaN skipped); None when none is finite."""
        finite = [v for v in values if v == v]
        if not finite:
            return None
        return min(finite) if self.better == "lower" else max(finite)


@dataclass(frozen=True)
class Catalog:
    """An immutable, ordered set of metrics (display order), looked up by name.

    Args:
        metrics: the declarations; names must be unique.

    Raises:
        ConfigError: two metrics share a name, or an item is not a :class:`Metric`.

    """

    metrics: tuple[Metric, ...]
    _by_name: Mapping[str, Metric] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        metrics = tuple(self.metrics)
        by_name: dict[str, Metric] = {}
        for metric in metrics:
            if not isinstance(metric, Metric):
                raise ConfigError(f"metrics: expected Metric declarations, got {metric!r}")
            if metric.name in by_name:
                raise ConfigError(f"metrics: '{metric.name}' is declared twice")
            by_name[metric.name] = metric
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))

    def __iter__(self) -> Iterator[Metric]:
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Metric:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}: expected one of {', '.join(self._by_name)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Metric names in order."""
        return tuple(self._by_name)

    def extended(self, metrics: Iterable[Metric]) -> Catalog:
        """A new catalog: these metrics, then ``metrics`` (this one is left as it is)."""
        return Catalog((*self.metrics, *metrics))

    def compute(self, episode: Episode) -> dict[str, Value]:
        """Every metric's value for ``episode``, in order."""
        return {metric.name: metric.value(episode) for metric in self.metrics}
