"""The simulation engine: runs SUMO, applies signal decisions, measures, observes, rewards.

An engine is not a PettingZoo environment; :class:`~traffic_lam.env.parallel_env.TrafficSignalEnv`
wraps one (in this process or in a worker process) and adds the API contract.

Per-step counters (arrivals, departures, collisions, emergency stops, teleports) are
read through a simulation subscription after *every* SUMO step and summed; lane
measurements are read once per decision, lazily (see :meth:`SimulationEngine._measure`).

With ``config.control == "program"`` the engine never sets a light: SUMO runs each
light's own program (fixed-time, actuated), actions are ignored, and stepping,
counting and measuring are exactly as under agent control, so every controller is
scored by the same code. The green each light shows is read back at every decision
(``infos[id]["phase"]``: the last green shown, 0 before the first), e.g. to imitate it.

With ``config.expert_observation`` set, every decision's infos also carry that second
observation (``infos[id]["expert_observation"]``), computed from the same measurements as
the main one: an expert controller reads its own observation beside a learner's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from traffic_lam.env.config import EnvConfig
from traffic_lam.env.observations import make_observation
from traffic_lam.env.rewards import make_reward
from traffic_lam.env.value_checks import check_observations, check_rewards, spec_name
from traffic_lam.errors import SimulationError
from traffic_lam.signals import SignalLayout, TrafficSignal
from traffic_lam.signals.traffic_signal import LaneMeasurements
from traffic_lam.sim import connection
from traffic_lam.sim.discovery import gui_binary, sumo_binary

# TraCI variable ids (traci.constants), inlined so importing this module loads no SUMO code.
_VAR_DEPARTED_NUMBER = 0x73
_VAR_ARRIVED_NUMBER = 0x79
_VAR_TELEPORT_STARTING_NUMBER = 0x75
_VAR_COLLIDING_NUMBER = 0x80
_VAR_EMERGENCYSTOPPING_NUMBER = 0x89
COUNTERS: dict[str, int] = {
    "departed": _VAR_DEPARTED_NUMBER,
    "arrived": _VAR_ARRIVED_NUMBER,
    "teleports": _VAR_TELEPORT_STARTING_NUMBER,
    "colliding_vehicles": _VAR_COLLIDING_NUMBER,
    "emergency_stops": _VAR_EMERGENCYSTOPPING_NUMBER,
}
"""System counters summed over every SUMO step: name -> TraCI variable id."""

_LANE_GETTERS = {
    "vehicles": "getLastStepVehicleNumber",
    "halting": "getLastStepHaltingNumber",
    "waiting": "getWaitingTime",
    "mean_speed": "getLastStepMeanSpeed",
}
_HALTING_SPEED = 0.1
"""m/s: SUMO's own threshold for a halting vehicle (``getLastStepHaltingNumber``)."""


@dataclass
class StepResult:
    """What one decision step produced."""

    observations: dict[str, np.ndarray]
    rewards: dict[str, float]
    done: bool
    infos: dict[str, dict[str, Any]]


class SimulationEngine:
    """Runs one SUMO simulation with a set of controlled traffic lights.

    Args:
        config: the environment configuration.
        layouts: signal layouts by id (read from the network by the caller).

    """

    def __init__(self, config: EnvConfig, layouts: dict[str, SignalLayout]) -> None:
        self.config = config
        self.signals = {sid: TrafficSignal(layout, config.timing) for sid, layout in layouts.items()}
        self.observation = make_observation(config.observation)
        expert = config.expert_observation
        self.expert_observation = None if expert is None else make_observation(expert)
        self.rewards = {sid: make_reward(config.reward) for sid in self.signals}
        self._observation_name, self._reward_name = spec_name(config.observation), spec_name(config.reward)
        self._expert_name = spec_name(config.expert_observation)
        self.time = config.begin_time
        self.totals = dict.fromkeys(COUNTERS, 0)
        self._label = f"traffic_lam-{uuid.uuid4().hex[:12]}"
        self._sim: Any = None
        lanes: list[str] = []
        seen: dict[str, int] = {}
        for signal in self.signals.values():
            for lane in signal.layout.in_lanes + signal.layout.out_lanes:
                if lane not in seen:
                    seen[lane] = len(lanes)
                    lanes.append(lane)
        self._lanes = lanes
        self._in_index = {sid: np.array([seen[l] for l in s.layout.in_lanes]) for sid, s in self.signals.items()}
        self._out_index = {sid: np.array([seen[l] for l in s.layout.out_lanes]) for sid, s in self.signals.items()}
        self._incoming = np.zeros(len(lanes), dtype=bool)  # lanes some signal reads as incoming
        for index in self._in_index.values():
            self._incoming[index] = True
        self._lane_cache: dict[str, np.ndarray] = {}
        self._lane_getters: dict[str, Any] = {}
        self._lane_lengths: np.ndarray | None = None
        self._upstream: dict[float, dict[int, list[tuple[str, float]]]] = {}
        self._in_groups = _groups_by_size(self._in_index)
        self._signal_cache: dict[str, np.ndarray] = {}
        self._entry_signal: dict[str, int] | None = None  # incoming edge -> position of its signal
        self._first_signal: dict[str, int] = {}  # pending vehicle -> first controlled signal on its route (-1: none)
        self._time_loss_before: dict[str, float] = {}  # every vehicle's time loss when last measured
        self._time_loss_now: dict[str, float] | None = None
        self._measured_at = config.begin_time
        self._interval = 0.0  # seconds since the previous decision
        self._program = config.control == "program"
        self._green_index = {sid: {g: i for i, g in enumerate(s.layout.greens)} for sid, s in self.signals.items()}

    @property
    def running(self) -> bool:
        """Whether a SUMO simulation is open."""
        return self._sim is not None

    def reset(
        self, seed: int, extra_options: tuple[str, ...] = ()
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """(Re)start SUMO with ``--seed seed`` and return first observations and infos.

        Args:
            seed: SUMO ``--seed``.
            extra_options: SUMO flags for this episode only (e.g. where to write its outputs).

        """
        self.close()
        binary = gui_binary() if self.config.gui else sumo_binary("sumo")
        command = self.config.sumo_command(binary, seed, tuple(extra_options))
        self._sim = connection.start(command, self.config.effective_backend, self._label)
        sim = self._sim
        try:
            sim.simulation.subscribe(tuple(COUNTERS.values()))
            self._lane_getters = {q: _fast_getter(sim, name) for q, name in _LANE_GETTERS.items()}
            self.time = float(sim.simulation.getTime())
            for sid, signal in self.signals.items():
                state = signal.reset(self.time)
                if not self._program:
                    sim.trafficlight.setRedYellowGreenState(sid, state)
                reset = getattr(self.rewards[sid], "reset", None)
                if reset is not None:
                    reset(signal)
        except Exception as exc:
            self.close()
            raise SimulationError(f"SUMO rejected the set-up of the controlled signals: {exc}") from None
        self.totals = dict.fromkeys(COUNTERS, 0)
        step_counts = dict.fromkeys(COUNTERS, 0)
        self._first_signal, self._time_loss_now, self._measured_at = {}, None, self.time
        self._time_loss_before = self._time_losses()
        self._measure()
        observations = self._observe()
        check_observations(observations, self._observation_name, self.time)
        return observations, self._infos(step_counts)

    def step(self, actions: dict[str, int]) -> StepResult:
        """Apply one decision per signal and simulate ``delta_time`` seconds.

        Signals missing from ``actions`` keep their current green. Under program
        control actions are ignored.

        Raises:
            SimulationError: SUMO failed during the step (the simulation is closed).
            SignalValueError: a reward or an observation is nan or infinite (one line
                naming it, the signal and the time).

        """
        if self._sim is None:
            raise SimulationError("step() called before reset()")
        sim = self._sim
        events: dict[float, list[tuple[str, str]]] = {}
        for sid, action in () if self._program else actions.items():
            signal = self.signals[sid]
            for when, state in signal.request(action):
                events.setdefault(when, []).append((sid, state))
        step_counts = dict.fromkeys(COUNTERS, 0)
        names = tuple(COUNTERS)
        ids = tuple(COUNTERS.values())
        target = min(self.time + self.config.timing.delta_time, self.config.end_time)
        time = self.time
        try:
            while time < target:
                for sid, state in events.pop(time, ()):
                    sim.trafficlight.setRedYellowGreenState(sid, state)
                sim.simulationStep()
                time += 1.0
                counts = sim.simulation.getSubscriptionResults()
                for name, var in zip(names, ids, strict=True):
                    step_counts[name] += counts[var]
        except Exception as exc:
            self.close()
            raise SimulationError(f"SUMO failed at t={time:g} s: {exc}") from None
        self.time = time
        for name in names:
            self.totals[name] += step_counts[name]
        self._measure()
        observations = self._observe()
        rewards = {sid: float(self.rewards[sid](signal)) for sid, signal in self.signals.items()}
        check_observations(observations, self._observation_name, time)
        check_rewards(rewards, self._reward_name, time)
        return StepResult(observations, rewards, time >= self.config.end_time, self._infos(step_counts))

    def close(self) -> None:
        """Close the simulation if one is open."""
        if self._sim is not None:
            connection.close(self._sim)
            self._sim = None

    def _measure(self) -> None:
        """Start a decision: forget cached lane values and hand every signal fresh measurements.

        Lane quantities are read from SUMO lazily, once per decision, for all lanes at
        once, and only if an observation, reward or info asks for them. (Lane
        subscriptions would be evaluated by SUMO at every step, decision or not.)
        """
        self._lane_cache, self._signal_cache = {}, {}
        if self._time_loss_now is not None:  # time loss accrues from the last decision that measured it
            self._time_loss_before, self._time_loss_now = self._time_loss_now, None
        self._interval, self._measured_at = self.time - self._measured_at, self.time
        fetch, per_signal = self._lane_values, self._signal_values
        for position, (sid, signal) in enumerate(self.signals.items()):
            signal.lanes = LaneMeasurements(fetch, self._in_index[sid], self._out_index[sid], per_signal, position)
            signal.now = self.time
        if self._program:
            self._read_program_greens()

    def _observe(self) -> dict[str, np.ndarray]:
        """Every signal's observation: all at once where the observation can (``observe_all``), else one by one."""
        return _observe_with(self.observation, self.signals)

    def _read_program_greens(self) -> None:
        """Program control: record which green each light's program shows (kept through transitions)."""
        get_state = self._sim.trafficlight.getRedYellowGreenState
        for sid, signal in self.signals.items():
            green = self._green_index[sid].get(get_state(sid))
            if green is not None and green != signal.green:
                signal.green = green
                signal.green_since = self.time

    def _lane_values(self, quantity: str) -> np.ndarray:
        values = self._lane_cache.get(quantity)
        if values is None:
            if "@" in quantity:
                base, _, distance = quantity.partition("@")
                if base in ("vehicles", "halting"):
                    self._read_near(float(distance))
                else:
                    self._read_near_sum(base, float(distance))
                return self._lane_cache[quantity]
            if quantity == "accumulated_waiting":
                return self._read_accumulated_waiting()
            getter = self._lane_getters[quantity]
            values = np.fromiter(map(getter, self._lanes), dtype=float, count=len(self._lanes))
            self._lane_cache[quantity] = values
        return values

    def _read_accumulated_waiting(self) -> np.ndarray:
        """Per lane, the summed accumulated waiting time (s) of the vehicles on it.

        A vehicle's accumulated waiting time (SUMO ``--waiting-time-memory``, 1000 s here)
        keeps growing while it queues and does not reset when the queue creeps forward,
        unlike the lane's current waiting time; sumo-rl's ``diff-waiting-time`` uses it.
        Only incoming lanes with vehicles are read (it is only asked of incoming lanes).
        """
        sim = self._sim
        vehicles = self._lane_values("vehicles")
        values = np.zeros(len(self._lanes))
        accumulated = sim.vehicle.getAccumulatedWaitingTime
        for k in np.flatnonzero(self._incoming & (vehicles > 0)):
            values[k] = sum(map(accumulated, sim.lane.getLastStepVehicleIDs(self._lanes[k])))
        self._lane_cache["accumulated_waiting"] = values
        return values

    def _read_near(self, distance: float) -> None:
        """Vehicles and halting vehicles within ``distance`` m of each lane's end (its stop line).

        A detector of range ``distance`` at the stop line: on lanes longer than
        ``distance`` only the last ``distance`` metres count; an incoming lane shorter
        than ``distance`` also counts the road it continues (see :meth:`_upstream_pieces`)
        up to ``distance`` from its stop line, so a queue standing on a short approach's
        feeder edge is seen (e.g. RESCO ingolstadt7, whose approach ``10425609#1`` is
        0.9 m long; RESCO's own configuration names the feeder lanes there). Cached as
        ``vehicles@<d>`` and ``halting@<d>`` (see :meth:`LaneMeasurements.in_vehicles_near`).
        """
        sim = self._sim
        if self._lane_lengths is None:
            self._lane_lengths = np.array([sim.lane.getLength(lane) for lane in self._lanes], dtype=float)
        vehicles = self._lane_values("vehicles").copy()
        halting = self._lane_values("halting").copy()
        lengths = self._lane_lengths
        for k in np.flatnonzero((lengths > distance) & (vehicles > 0)):
            vehicles[k], halting[k] = self._count_from(self._lanes[k], lengths[k] - distance)
        for k, pieces in self._upstream_pieces(distance).items():
            for lane, start in pieces:
                v, h = self._count_from(lane, start)
                vehicles[k] += v
                halting[k] += h
        key = f"{distance:g}"
        self._lane_cache[f"vehicles@{key}"] = vehicles
        self._lane_cache[f"halting@{key}"] = halting

    def _read_near_sum(self, quantity: str, distance: float) -> None:
        """Per incoming lane, ``quantity`` summed over the vehicles a detector of range ``distance`` sees.

        ``accumulated_waiting``: SUMO's accumulated waiting time of each vehicle;
        ``time_loss``: the time loss each vehicle accrued since the previous decision
        (all of its time loss for a vehicle inserted since). Range as :meth:`_read_near`.
        """
        sim = self._sim
        if quantity == "accumulated_waiting":
            value = sim.vehicle.getAccumulatedWaitingTime
        elif quantity == "time_loss":
            now, before = self._time_losses_now(), self._time_loss_before

            def value(vehicle: str) -> float:
                return now.get(vehicle, 0.0) - before.get(vehicle, 0.0)
        else:
            raise KeyError(f"no lane quantity '{quantity}@{distance:g}'")
        values = np.zeros(len(self._lanes))
        for k, vehicles in self._vehicles_near(distance).items():
            values[k] = sum(map(value, vehicles))
        self._lane_cache[f"{quantity}@{distance:g}"] = values

    def _vehicles_near(self, distance: float) -> dict[int, list[str]]:
        """Per incoming lane (its position in the lane list), the vehicles a detector of range ``distance`` sees."""
        sim = self._sim
        if self._lane_lengths is None:
            self._lane_lengths = np.array([sim.lane.getLength(lane) for lane in self._lanes], dtype=float)
        vehicles = self._lane_values("vehicles")
        lengths = self._lane_lengths
        near: dict[int, list[str]] = {}
        for k in np.flatnonzero(self._incoming & (vehicles > 0)):
            near[int(k)] = self._ids_from(self._lanes[k], max(0.0, lengths[k] - distance))
        for k, pieces in self._upstream_pieces(distance).items():
            for lane, start in pieces:
                near.setdefault(k, []).extend(self._ids_from(lane, start))
        return near

    def _ids_from(self, lane: str, start: float) -> list[str]:
        """Ids of the vehicles on ``lane`` at positions >= ``start``."""
        ids = self._sim.lane.getLastStepVehicleIDs(lane)
        if start <= 0:
            return list(ids)
        position = self._sim.vehicle.getLanePosition
        return [v for v in ids if position(v) >= start]

    def _time_losses(self) -> dict[str, float]:
        """Every vehicle's time loss now (s, SUMO's ``timeLoss`` since its insertion)."""
        get = self._sim.vehicle.getTimeLoss
        return {v: get(v) for v in self._sim.vehicle.getIDList()}

    def _time_losses_now(self) -> dict[str, float]:
        if self._time_loss_now is None:
            self._time_loss_now = self._time_losses()
        return self._time_loss_now

    def _signal_values(self, quantity: str) -> np.ndarray:
        """A per-signal quantity (one of ``SIGNAL_QUANTITIES``), read once a decision."""
        if not self._signal_cache:
            self._read_backlog()
        return self._signal_cache[quantity]

    def _read_backlog(self) -> None:
        """Per signal, the vehicles waiting to enter the network whose route first reaches it.

        ``backlog``: their number; ``backlog_waiting``: their summed depart delay so far
        (s); ``backlog_time_loss``: the part of it accrued since the previous decision.
        """
        sim = self._sim
        n = len(self.signals)
        counts, waiting, accrued = np.zeros(n), np.zeros(n), np.zeros(n)
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
                    accrued[k] += min(delay, self._interval)
        self._signal_cache = {"backlog": counts, "backlog_waiting": waiting, "backlog_time_loss": accrued}

    def _first_signal_on_route(self, vehicle: str) -> int:
        """Position of the first controlled signal whose incoming edges ``vehicle``'s route enters (-1: none)."""
        if self._entry_signal is None:
            entry: dict[str, int] = {}
            for position, signal in enumerate(self.signals.values()):
                for lane in signal.layout.in_lanes:
                    entry.setdefault(self._sim.lane.getEdgeID(lane), position)
            self._entry_signal = entry
        entry = self._entry_signal
        return next((entry[edge] for edge in self._sim.vehicle.getRoute(vehicle) if edge in entry), -1)

    def _count_from(self, lane: str, start: float) -> tuple[int, int]:
        """Vehicles and halting vehicles on ``lane`` at positions >= ``start``."""
        sim = self._sim
        if start <= 0:
            return sim.lane.getLastStepVehicleNumber(lane), sim.lane.getLastStepHaltingNumber(lane)
        position, speed = sim.vehicle.getLanePosition, sim.vehicle.getSpeed
        near = [v for v in sim.lane.getLastStepVehicleIDs(lane) if position(v) >= start]
        return len(near), sum(1 for v in near if speed(v) < _HALTING_SPEED)

    def _upstream_pieces(self, distance: float) -> dict[int, list[tuple[str, float]]]:
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
        sim = self._sim
        lengths = dict(zip(self._lanes, self._lane_lengths, strict=True))

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
        for k in map(int, np.flatnonzero(self._incoming)):
            lane = self._lanes[k]
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

    def _incoming_totals(self, quantity: str) -> dict[str, float]:
        """Per signal, ``quantity`` summed over its incoming lanes (as ``float(signal.lanes.in_<quantity>.sum())``).

        One gather and row sum per group of signals with the same number of incoming
        lanes: a row of ``n`` values sums exactly as a signal's own array of ``n`` does.
        """
        values = self._lane_values(quantity)
        totals: dict[str, float] = {}
        for sids, index in self._in_groups:
            totals.update(zip(sids, values[index].sum(axis=1).tolist(), strict=True))
        return totals

    def _infos(self, step_counts: dict[str, int]) -> dict[str, dict[str, Any]]:
        system: dict[str, Any] = {"time": self.time}
        system.update({f"step_{k}": v for k, v in step_counts.items()})
        system.update(self.totals)
        system["collisions"] = self.totals["colliding_vehicles"] / 2.0
        queues, waiting = self._incoming_totals("halting"), self._incoming_totals("waiting")
        system["halting"] = float(sum(queues.values()))
        infos = {
            sid: {
                "action_mask": np.ones(signal.num_greens, np.int8) if self._program else signal.action_mask(),
                "phase": signal.green,
                "queue": queues[sid],
                "waiting_time": waiting[sid],
                "corrected": signal.corrected,
                "system": system,
            }
            for sid, signal in self.signals.items()
        }
        if self.expert_observation is not None:
            expert = _observe_with(self.expert_observation, self.signals)
            check_observations(expert, self._expert_name, self.time)
            for sid, info in infos.items():
                info["expert_observation"] = expert[sid]
        return infos


def _observe_with(observation: Any, signals: dict[str, TrafficSignal]) -> dict[str, np.ndarray]:
    """Every signal's ``observation``: all at once where it can (``observe_all``), else one by one."""
    observe_all = getattr(observation, "observe_all", None)
    if observe_all is None:
        return {sid: observation(signal) for sid, signal in signals.items()}
    return observe_all(signals)


def _groups_by_size(indices: dict[str, np.ndarray]) -> list[tuple[list[str], np.ndarray]]:
    """Signals grouped by their number of lanes: ``(ids, index matrix)`` with one row of lane positions per signal."""
    groups: dict[int, list[str]] = {}
    for sid, index in indices.items():
        groups.setdefault(len(index), []).append(sid)
    return [
        (sids, np.array([indices[sid] for sid in sids], dtype=int).reshape(len(sids), size))
        for size, sids in groups.items()
    ]


def _fast_getter(sim: Any, name: str) -> Any:
    """The lane getter ``name``; for libsumo its compiled function, skipping a Python wrapper.

    libsumo's ``lane.getX(id)`` only forwards to ``_libsumo.lane_getX(id)``; calling the
    latter halves the cost of reading hundreds of lanes per decision.
    """
    compiled = getattr(getattr(sim, "_libsumo", None), f"lane_{name}", None)
    return compiled if compiled is not None else getattr(sim.lane, name)
