"""One tidy record per evaluated episode: throughput, delay, queues, safety."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class EpisodeRecord:
    """Scores of one episode of one controller on one network (DESIGN.md §4 definitions).

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
        throughput_per_h: vehicles arrived per hour of simulated time (summed every SUMO step).
        vehicles_inserted: vehicles that entered the network.
        vehicles_arrived: vehicles that completed their trip.
        vehicles_running: vehicles inserted but not arrived at the end.
        vehicles_not_inserted: vehicles loaded but never inserted (waiting at the end).
        avg_delay: mean ``timeLoss + departDelay`` over every vehicle (running included;
            never inserted: ``end - scheduled depart``), seconds. RESCO's delay.
        avg_travel_time: mean ``duration + departDelay``, same vehicles (s).
        avg_waiting_time: mean ``waitingTime`` (time at <= 0.1 m/s) of departed vehicles (s).
        avg_queue: halting vehicles on a signal's incoming lanes, averaged over signals
            and decision steps.
        collisions: collisions (colliding vehicles summed every step / 2; junctions checked).
        emergency_stops: emergency stops summed every step.
        emergency_braking: emergency braking events (SUMO statistic output); None if not written.
        teleports: teleports summed every step.
        ssm_ttc: SSM conflicts with TTC below threshold near the controlled junctions; None when SSM is off.
        ssm_drac: SSM conflicts with DRAC above threshold; None when SSM is off.
        ssm_pet: SSM conflicts with PET below threshold; None when SSM is off.
        yellow_warnings: signals whose yellow is too short for their approach speed at 3 m/s².
        wall_time_s: wall-clock seconds of the episode (start of SUMO to its close).
        tripinfo_file: the episode's tripinfo XML (to recompute the delay), or None if not kept.
        sumo_version: SUMO version that simulated the episode.

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

    def to_row(self) -> dict[str, Any]:
        """A flat dict of plain values (str, int, float, None), in field order, for CSV / tables."""
        return asdict(self)

    @classmethod
    def columns(cls) -> list[str]:
        """Field names in order (the CSV header)."""
        return [f.name for f in fields(cls)]
