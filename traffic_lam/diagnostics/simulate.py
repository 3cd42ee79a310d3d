"""Demand under the network's own programs: one run, and whether it jammed (``check-network --simulate``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from traffic_lam.diagnostics.problem import Problem
from traffic_lam.sim.network import NetworkSpec


@dataclass(frozen=True)
class DemandRun:
    """One episode of the network's own programs over its begin..end.

    Attributes:
        controller: ``fixed-time`` (every light static) or ``actuated`` (some light is not).
        inserted: vehicles that entered the network.
        not_inserted: vehicles loaded but never inserted (no room at their departure edge).
        arrived: vehicles that reached their destination.
        running: vehicles still in the network at the end.
        teleports: vehicles SUMO teleported (stuck for its time-to-teleport).
        jam: why the run counts as jammed (``traffic_lam.report.jams``), or None.

    """

    controller: str
    inserted: int
    not_inserted: int
    arrived: int
    running: int
    teleports: int
    jam: str | None

    def summary(self) -> str:
        """One line of the counts."""
        return (
            f"simulated under its own programs ({self.controller}): {self.inserted} inserted, {self.not_inserted} "
            f"never inserted, {self.arrived} arrived, {self.running} running at the end, {self.teleports} teleports"
        )

    def problems(self) -> list[Problem]:
        """A warning when the demand jams (the network still loads and runs)."""
        if self.jam is None:
            return []
        return [Problem("warning", "demand-jams", f"demand jams under the network's own programs: {self.jam}")]


def simulate_own_programs(network: NetworkSpec, seed: int = 0) -> DemandRun:
    """Run the network's own programs once (``traffic_lam.evaluate``) and count what the demand did.

    Every light static: ``fixed-time`` plays the programs unchanged. Otherwise ``actuated``:
    SUMO's actuated control on each light's own phases.
    """
    from traffic_lam.controllers.programs import read_programs
    from traffic_lam.evaluation import evaluate
    from traffic_lam.report.jams import episode_jam

    static = all(program.type == "static" for program in read_programs(network).values())
    controller = "fixed-time" if static else "actuated"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what reading the network warns about is reported by the static checks
        record = evaluate(network, controller, seed=seed)[0]
    return DemandRun(
        controller=controller,
        inserted=record.vehicles_inserted,
        not_inserted=record.vehicles_not_inserted,
        arrived=record.vehicles_arrived,
        running=record.vehicles_running,
        teleports=record.teleports,
        jam=episode_jam(record.to_row()),
    )
