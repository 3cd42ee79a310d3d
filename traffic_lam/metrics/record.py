"""One tidy record per evaluated episode: its settings, then every metric (throughput, delay, queues, safety)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from traffic_lam.errors import ConfigError
from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import Value


@dataclass(frozen=True)
class EpisodeRecord:
    """Scores of one episode of one controller on one network.

    The fields from ``throughput_per_h`` to ``yellow_warnings`` are the built-in metrics of
    :data:`~traffic_lam.metrics.catalog.METRICS` (label, unit, direction and definition are
    declared there; see ``docs/definitions.md``); their order here is the CSV column order.
    Metrics declared by a user live in :attr:`extra`.

    Attributes:
        controller: controller name.
        network: network name (``grid4x4``, ``resco:cologne3`` ...).
        seed: SUMO seed of this episode.
        episode: index of the episode within its evaluation (0, 1, ...).
        begin: simulation begin (s).
        end: simulation end (s).
        control: ``"agents"`` (the controller set the lights) or ``"program"`` (SUMO's program ran).
        delta_time: seconds between decisions.
        yellow_time: yellow of the environment's transitions (s); unused under program control.
        wall_time_s: wall-clock seconds of the episode (start of SUMO to its close).
        tripinfo_file: the episode's tripinfo XML (to recompute the delay), or None if not kept.
        sumo_version: SUMO version that simulated the episode.
        extra: values of the metrics declared beyond the built-in ones, by name;
            :meth:`to_row` puts them after the built-in columns.

    Raises:
        ConfigError: an ``extra`` name is also a column of the record.

    """

    controller: str
    network: str
    seed: int
    episode: int
    begin: float
    end: float
    control: str
    delta_time: int
    yellow_time: int
    throughput_per_h: float
    vehicles_inserted: int
    vehicles_arrived: int
    vehicles_running: int
    vehicles_not_inserted: int
    avg_delay: float | None
    avg_travel_time: float | None
    avg_waiting_time: float | None
    avg_queue: float
    collisions: float
    emergency_stops: int
    emergency_braking: int | None
    teleports: int
    ssm_ttc: int | None
    ssm_drac: int | None
    ssm_pet: int | None
    yellow_warnings: int
    wall_time_s: float
    tripinfo_file: str | None
    sumo_version: str = ""
    extra: Mapping[str, Value] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        clash = [name for name in self.extra if name in self.columns()]
        if clash:
            raise ConfigError(f"metrics: {clash[0]!r} is already a column of the episode record")
        object.__setattr__(self, "extra", dict(self.extra))  # a copy: plain, so records pickle

    def to_row(self) -> dict[str, Any]:
        """A flat dict of plain values (str, int, float, None): the columns in order, then :attr:`extra`."""
        row = {name: getattr(self, name) for name in self.columns()}
        row.update(self.extra)
        return row

    def metrics(self) -> dict[str, Value]:
        """Every metric's value by name: the built-in ones in display order, then :attr:`extra`."""
        return {**{name: getattr(self, name) for name in METRICS.names}, **self.extra}

    @classmethod
    def columns(cls) -> list[str]:
        """The built-in columns in order (the CSV header of records without extra metrics)."""
        return [f.name for f in fields(cls) if f.name != "extra"]
