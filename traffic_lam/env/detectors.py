"""What a signal's detectors see: counts and sums over a range at the stop line, and the insertion backlog.

A detector of range ``d`` at a stop line sees the last ``d`` metres of its lane; on an
incoming lane shorter than ``d`` it also sees the road the lane continues, up to ``d``
from the stop line (:meth:`Detectors.upstream_pieces`), so a queue standing on a short
approach's feeder edge is seen (RESCO ingolstadt7: approach ``10425609#1`` is 0.9 m long;
RESCO's own configuration names the feeder lanes there). The insertion backlog is the
vehicles that cannot enter the network, each counted against the first controlled signal
on its route. :class:`~traffic_lam.env.engine.SimulationEngine` owns one
:class:`Detectors` per simulation and caches what they read once per decision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_HALTING_SPEED = 0.1
"""m/s: SUMO's own threshold for a halting vehicle (``getLastStepHaltingNumber``)."""


class Detectors:
    """Range readings and the insertion backlog of one simulation's controlled signals.

    Args:
        lanes: the engine's lane list (every signal's incoming and outgoing lanes).
        incoming: per lane, whether some signal reads it as incoming.
        in_lanes: per signal, in the engine's order, its incoming lanes.

    Public bookkeeping:

    Attributes:
        sim: the simulation (libsumo or a TraCI connection) of the episode; set by :meth:`reset`.
        interval: seconds since the previous decision (0 at the episode's start).
    """

    def __init__(self, lanes: list[str], incoming: np.ndarray, in_lanes: list[tuple[str, ...]]) -> None:
        self.lanes, self.incoming, self.in_lanes = lanes, incoming, in_lanes
        self.sim: Any = None
        self.interval = 0.0
        self._lengths: np.ndarray | None = None
        self._upstream: dict[float, dict[int, list[tuple[str, float]]]] = {}  # the network never changes
        self._entry_signal: dict[str, int] | None = None  # incoming edge -> position of its signal
        self._first_signal: dict[str, int] = {}  # pending vehicle -> first controlled signal on its route (-1: none)
        self._time_loss_before: dict[str, float] = {}  # every vehicle's time loss when last measured
        self._time_loss_now: dict[str, float] | None = None
        self._measured_at = 0.0

    def reset(self, sim: Any, time: float) -> None:
        """A new episode in ``sim`` starts at ``time``: forget the last one's vehicles, note every time loss."""
        self.sim, self._measured_at, self.interval = sim, time, 0.0
        self._first_signal, self._time_loss_now = {}, None
        self._time_loss_before = self._time_losses()

    def start_decision(self, time: float) -> None:
        """A decision at ``time``: time loss accrues from the last decision that measured it."""
        if self._time_loss_now is not None:
            self._time_loss_before, self._time_loss_now = self._time_loss_now, None
        self.interval, self._measured_at = time - self._measured_at, time

    def lengths(self) -> np.ndarray:
        """Each lane's length (m), read once."""
        if self._lengths is None:
            self._lengths = np.array([self.sim.lane.getLength(lane) for lane in self.lanes], dtype=float)
        return self._lengths

    def counts(self, distance: float, vehicles: np.ndarray, halting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vehicles and halting vehicles a detector of range ``distance`` sees on each lane.

        Args:
            distance: the range (m).
            vehicles: vehicles on each whole lane now.
            halting: halting vehicles on each whole lane now.
        """
        vehicles, halting, lengths = vehicles.copy(), halting.copy(), self.lengths()
        for k in np.flatnonzero((lengths > distance) & (vehicles > 0)):
            vehicles[k], halting[k] = self._count_from(self.lanes[k], lengths[k] - distance)
        for k, pieces in self.upstream_pieces(distance).items():
            for lane, start in pieces:
                v, h = self._count_from(lane, start)
                vehicles[k] += v
                halting[k] += h
        return vehicles, halting

    def sums(self, quantity: str, distance: float, vehicles: np.ndarray) -> np.ndarray:
        """Per incoming lane, ``quantity`` summed over the vehicles a detector of range ``distance`` sees.

        ``accumulated_waiting``: SUMO's accumulated waiting time of each vehicle;
        ``time_loss``: the time loss each vehicle accrued since the previous decision
        (all of its time loss for a vehicle inserted since). ``vehicles``: vehicles on
        each whole lane now.

        Raises:
            KeyError: another quantity.
        """
        if quantity == "accumulated_waiting":
            value = self.sim.vehicle.getAccumulatedWaitingTime
        elif quantity == "time_loss":
            now, before = self._time_losses_now(), self._time_loss_before

            def value(vehicle: str) -> float:
                return now.get(vehicle, 0.0) - before.get(vehicle, 0.0)
        else:
            raise KeyError(f"no lane quantity '{quantity}@{distance:g}'")
        values = np.zeros(len(self.lanes))
        for k, seen in self._vehicles_near(distance, vehicles).items():
            values[k] = sum(map(value, seen))
        return values

    def backlog(self, signals: int) -> dict[str, np.ndarray]:
        """Per signal, the vehicles waiting to enter the network whose route first reaches it.

        ``backlog``: their number; ``backlog_waiting``: their summed depart delay so far
        (s); ``backlog_time_loss``: the part of it accrued since the previous decision.
        """
        sim = self.sim
        counts, waiting, accrued = np.zeros(signals), np.zeros(signals), np.zeros(signals)
        pending = sim.simulation.getPendingVehicles()
        if pending:
            first, depart_delay = self._first_signal, sim.vehicle.getDepartDelay
            for vehicle in pending:
                k = first.get(vehicle)
                if k is None:
                    k = first[vehicle] = self._first_signal_on_route(vehicle)
                if k >= 0:
                    delay = depart_delay(vehicle)
                    counts[k] += 1
                    waiting[k] += delay
                    accrued[k] += min(delay, self.interval)
        return {"backlog": counts, "backlog_waiting": waiting, "backlog_time_loss": accrued}

    def _vehicles_near(self, distance: float, vehicles: np.ndarray) -> dict[int, list[str]]:
        """Per incoming lane (its position in the lane list), the vehicles a detector of range ``distance`` sees."""
        lengths = self.lengths()
        near: dict[int, list[str]] = {}
        for k in np.flatnonzero(self.incoming & (vehicles > 0)):
            near[int(k)] = self._ids_from(self.lanes[k], max(0.0, lengths[k] - distance))
        for k, pieces in self.upstream_pieces(distance).items():
            for lane, start in pieces:
                near.setdefault(k, []).extend(self._ids_from(lane, start))
        return near

    def _first_signal_on_route(self, vehicle: str) -> int:
        """Position of the first controlled signal whose incoming edges ``vehicle``'s route enters (-1: none)."""
        if self._entry_signal is None:
            entry: dict[str, int] = {}
            for position, lanes in enumerate(self.in_lanes):
                for lane in lanes:
                    entry.setdefault(self.sim.lane.getEdgeID(lane), position)
            self._entry_signal = entry
        entry = self._entry_signal
        return next((entry[edge] for edge in self.sim.vehicle.getRoute(vehicle) if edge in entry), -1)

    def _time_losses(self) -> dict[str, float]:
        """Every vehicle's time loss now (s, SUMO's ``timeLoss`` since its insertion)."""
        get = self.sim.vehicle.getTimeLoss
        return {v: get(v) for v in self.sim.vehicle.getIDList()}

    def _time_losses_now(self) -> dict[str, float]:
        if self._time_loss_now is None:
            self._time_loss_now = self._time_losses()
        return self._time_loss_now

    def _ids_from(self, lane: str, start: float) -> list[str]:
        """Ids of the vehicles on ``lane`` at positions >= ``start``."""
        ids = self.sim.lane.getLastStepVehicleIDs(lane)
        if start <= 0:
            return list(ids)
        position = self.sim.vehicle.getLanePosition
        return [v for v in ids if position(v) >= start]

    def _count_from(self, lane: str, start: float) -> tuple[int, int]:
        """Vehicles and halting vehicles on ``lane`` at positions >= ``start``."""
        sim = self.sim
        if start <= 0:
            return sim.lane.getLastStepVehicleNumber(lane), sim.lane.getLastStepHaltingNumber(lane)
        position, speed = sim.vehicle.getLanePosition, sim.vehicle.getSpeed
        near = [v for v in sim.lane.getLastStepVehicleIDs(lane) if position(v) >= start]
        return len(near), sum(1 for v in near if speed(v) < _HALTING_SPEED)

    def upstream_pieces(self, distance: float) -> dict[int, list[tuple[str, float]]]:
        """For each incoming lane shorter than ``distance``: the ``(lane, start position)`` upstream of it in range.

        Walks up the road the lane continues: a predecessor lane counts only when its
        single link leads straight into the current lane (an edge split, a lane added
        mid-road), so vehicles from side roads, turns and U-turns at upstream
        intersections are not counted; internal lanes in between count too. Never crosses
        a lane that a traffic light controls. Computed once per engine (the network does
        not change between episodes).
        """
        cached = self._upstream.get(distance)
        if cached is not None:
            return cached
        sim = self.sim
        lengths = dict(zip(self.lanes, self.lengths(), strict=True))

        def length(lane: str) -> float:
            if lane not in lengths:
                lengths[lane] = float(sim.lane.getLength(lane))
            return lengths[lane]

        controlled: set[str] = set()
        for tls in sim.trafficlight.getIDList():
            controlled.update(sim.trafficlight.getControlledLanes(tls))
        predecessors: dict[str, list[tuple[str, str]]] = {}
        for lane in sim.lane.getIDList():
            if not lane.startswith(":"):
                links = sim.lane.getLinks(lane)
                if len(links) == 1 and links[0][6] == "s":  # (lane, prio, open, foe, via, state, dir, length)
                    predecessors.setdefault(links[0][0], []).append((lane, links[0][4]))
        result: dict[int, list[tuple[str, float]]] = {}
        for k in map(int, np.flatnonzero(self.incoming)):
            lane = self.lanes[k]
            if length(lane) >= distance:
                continue
            pieces: list[tuple[str, float]] = []
            visited = {lane}
            stack = [(lane, distance - length(lane))]
            while stack:
                current, remaining = stack.pop()
                for before, via in predecessors.get(current, ()):
                    if before in visited or before in controlled:
                        continue
                    visited.add(before)
                    left = remaining
                    if via:
                        pieces.append((via, length(via) - left))
                        left -= length(via)
                    if left <= 0:
                        continue
                    pieces.append((before, length(before) - left))
                    if length(before) < left:
                        stack.append((before, left - length(before)))
            if pieces:
                result[k] = pieces
        self._upstream[distance] = result
        return result
