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
from traffic_lam.env.detectors import Detectors
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
        self._in_groups = _groups_by_size(self._in_index)
        self._signal_cache: dict[str, np.ndarray] = {}
        self.detectors = Detectors(lanes, self._incoming, [s.layout.in_lanes for s in self.signals.values()])
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
        self.detectors.reset(sim, self.time)
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
        self.detectors.start_decision(self.time)
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
                self._read_near(quantity)
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

    def _read_near(self, quantity: str) -> None:
        """Cache ``<q>@<d>``: what a detector of range ``d`` sees (:class:`~traffic_lam.env.detectors.Detectors`).

        ``vehicles@<d>`` and ``halting@<d>`` are read together; see
        :meth:`~traffic_lam.signals.traffic_signal.LaneMeasurements.in_vehicles_near`.
        """
        base, _, text = quantity.partition("@")
        distance, vehicles = float(text), self._lane_values("vehicles")
        if base in ("vehicles", "halting"):
            near = self.detectors.counts(distance, vehicles, self._lane_values("halting"))
            self._lane_cache[f"vehicles@{text}"], self._lane_cache[f"halting@{text}"] = near
        else:
            self._lane_cache[quantity] = self.detectors.sums(base, distance, vehicles)

    def _signal_values(self, quantity: str) -> np.ndarray:
        """A per-signal quantity (one of ``SIGNAL_QUANTITIES``: the insertion backlog), read once a decision."""
        if not self._signal_cache:
            self._signal_cache = self.detectors.backlog(len(self.signals))
        return self._signal_cache[quantity]

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
