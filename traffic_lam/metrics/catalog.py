"""The built-in metrics, declared once, in display order (definitions: ``docs/definitions.md``).

:data:`METRICS` is read-only. To add a metric, declare a
:class:`~traffic_lam.metrics.declaration.Metric` and pass it explicitly (``evaluate(...,
metrics=[m])``, ``summary_table(rows, metrics=METRICS.extended([m]))``); each built-in one
is also a field of :class:`~traffic_lam.metrics.record.EpisodeRecord`, whose field order is
the CSV column order.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from traffic_lam.metrics.declaration import COUNT, Catalog, Episode, Metric, Value


def _ssm(measure: str) -> Metric:
    def compute(episode: Episode) -> Value:
        return None if episode.ssm is None else int(getattr(episode.ssm, measure))

    passes = {"ttc": "TTC below", "drac": "DRAC above", "pet": "PET below"}[measure]
    return Metric(
        f"ssm_{measure}",
        f"SSM {measure.upper()}",
        COUNT,
        "lower",
        compute,
        safety=True,
        description=f"SSM conflicts with {passes} its threshold near the controlled junctions; None when SSM is off.",
        in_summary=False,
    )


def _vehicles(name: str, better: Literal["lower", "higher"], description: str) -> Metric:
    attribute = name.removeprefix("vehicles_")
    return Metric(
        name,
        name.replace("_", " "),
        "veh",
        better,
        lambda e: int(getattr(e.trips, attribute)),
        description=description,
        in_summary=False,
        in_plots=False,
    )


METRICS = Catalog(
    (
        Metric("avg_delay", "delay", "s", "lower", lambda e: e.trips.avg_delay,
               description="Mean timeLoss + departDelay over every vehicle (running included; never inserted: "
               "end - scheduled depart). RESCO's delay."),
        Metric("avg_travel_time", "travel time", "s", "lower", lambda e: e.trips.avg_travel_time,
               description="Mean duration + departDelay over the same vehicles as the delay."),
        Metric("avg_waiting_time", "waiting", "s", "lower", lambda e: e.trips.avg_waiting_time, in_plots=False,
               description="Mean waitingTime (time at <= 0.1 m/s) of the vehicles that departed."),
        Metric("throughput_per_h", "throughput", "veh/h", "higher", lambda e: e.counters["arrived"] / e.hours,
               description="Vehicles arrived per hour of simulated time (summed every SUMO step)."),
        Metric("avg_queue", "queue", "veh", "lower",
               lambda e: float(np.mean(e.queues)) if e.queues else 0.0, in_plots=False,
               description="Halting vehicles on a signal's incoming lanes, averaged over signals and decisions."),
        Metric("collisions", "collisions", COUNT, "lower", lambda e: e.counters["colliding_vehicles"] / 2.0,
               safety=True, description="Colliding vehicles summed every step / 2 (junctions checked)."),
        Metric("emergency_stops", "emergency stops", COUNT, "lower", lambda e: int(e.counters["emergency_stops"]),
               safety=True, description="Emergency stops summed every step."),
        Metric("emergency_braking", "emergency braking", COUNT, "lower", lambda e: e.statistics.emergency_braking,
               safety=True, description="Emergency braking events (SUMO's statistic output); None if not written."),
        Metric("teleports", "teleports", COUNT, "lower", lambda e: int(e.counters["teleports"]),
               safety=True, description="Teleports summed every step."),
        _ssm("ttc"),
        _ssm("drac"),
        _ssm("pet"),
        _vehicles("vehicles_inserted", "higher", "Vehicles that entered the network."),
        _vehicles("vehicles_arrived", "higher", "Vehicles that completed their trip."),
        _vehicles("vehicles_running", "lower", "Vehicles inserted but not arrived at the end."),
        _vehicles("vehicles_not_inserted", "lower", "Vehicles loaded but never inserted (waiting at the end)."),
        Metric("yellow_warnings", "yellow warnings", "signals", "lower", lambda e: e.yellow_warnings,
               safety=True, description="Signals whose yellow is too short for their approach speed at 3 m/s².",
               in_summary=False, in_plots=False),
    )
)  # fmt: skip
"""The built-in metrics in display order (read-only: a :class:`Catalog` is immutable)."""
