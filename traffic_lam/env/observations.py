"""Observation functions: ``space(signal)`` and ``__call__(signal)``.

Built-in observations are looked up by name in :data:`OBSERVATIONS`; a user passes
their own class or instance (anything with ``space`` and ``__call__``) the same way,
or an import path ``"package.module:ClassName"``. Observations read only the
signal's view (:class:`~traffic_lam.signals.TrafficSignal`): its phase, timing and
lane measurements.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from gymnasium import spaces

from traffic_lam.errors import ConfigError
from traffic_lam.signals import TrafficSignal


class Observation(ABC):
    """Base class of observation functions.

    Subclasses implement :meth:`space` and :meth:`__call__`. One instance serves all
    signals of an environment; keep per-signal state keyed by ``signal.id``.
    """

    @abstractmethod
    def space(self, signal: TrafficSignal) -> spaces.Box:
        """The observation space for ``signal``."""

    @abstractmethod
    def __call__(self, signal: TrafficSignal) -> np.ndarray:
        """The observation of ``signal`` now (``signal.now``)."""

    def observe_all(self, signals: Mapping[str, TrafficSignal]) -> dict[str, np.ndarray]:
        """The observation of every signal now, by id: one :meth:`__call__` each.

        A subclass may compute all signals at once instead; the result must equal the
        per-signal calls (see :class:`DefaultObservation`).
        """
        return {sid: self(signal) for sid, signal in signals.items()}


def _phase_one_hot(signal: TrafficSignal) -> np.ndarray:
    one_hot = np.zeros(signal.num_greens, dtype=np.float32)
    one_hot[signal.green] = 1.0
    return one_hot


class DefaultObservation(Observation):
    """Phase one-hot, min-green flag, per-incoming-lane density and queue, all in [0, 1].

    Layout: ``[one_hot(green) (n_greens), min_green_passed (1), density (n_lanes),
    queue (n_lanes)]``; density and queue are vehicles (halting vehicles) divided by
    the lane's capacity at 7.5 m per vehicle.
    """

    def __init__(self) -> None:
        self._batch: tuple[Any, _BatchPlan] | None = None

    def space(self, signal: TrafficSignal) -> spaces.Box:
        """Box of size n_greens + 1 + 2 * n_incoming_lanes in [0, 1]."""
        size = signal.num_greens + 1 + 2 * len(signal.layout.in_lanes)
        return spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)

    def __call__(self, signal: TrafficSignal) -> np.ndarray:
        """Concatenate phase, min-green flag, densities and queues."""
        n, lanes = signal.num_greens, len(signal.layout.in_lanes)
        out = np.zeros(n + 1 + 2 * lanes, dtype=np.float32)
        out[signal.green] = 1.0
        out[n] = signal.min_green_passed()
        out[n + 1 : n + 1 + lanes] = signal.density()
        out[n + 1 + lanes :] = signal.queue_density()
        return out

    def observe_all(self, signals: Mapping[str, TrafficSignal]) -> dict[str, np.ndarray]:
        """Every signal's observation from one numpy pass over all their incoming lanes.

        Equal to the per-signal :meth:`__call__`: one float32 buffer is filled for all
        signals and split into one view per signal. Signals whose measurements come from
        different sources (not one engine's), and subclasses that override
        :meth:`__call__`, are observed one by one.
        """
        first = next(iter(signals.values()), None)
        if (
            first is None
            or type(self).__call__ is not DefaultObservation.__call__
            or any(s.lanes.source != first.lanes.source for s in signals.values())
        ):
            return super().observe_all(signals)
        plan = self._plan(signals)
        source = first.lanes.source
        out = np.zeros(plan.size, dtype=np.float32)
        out[plan.density] = np.minimum(1.0, source("vehicles")[plan.lanes] * plan.inverse_capacity)
        out[plan.queue] = np.minimum(1.0, source("halting")[plan.lanes] * plan.inverse_capacity)
        out[plan.phase + np.fromiter((s.green for s in signals.values()), int, len(signals))] = 1.0
        out[plan.min_green] = [s.min_green_passed() for s in signals.values()]
        return dict(zip(signals, np.split(out, plan.splits), strict=True))

    def _plan(self, signals: Mapping[str, TrafficSignal]) -> _BatchPlan:
        """Where each signal's values go in the shared buffer (kept for the last set of signals seen)."""
        key = (tuple(signals), tuple(id(s.lanes.in_index) for s in signals.values()))
        cached = self._batch
        if cached is None or cached[0] != key:
            cached = (key, _BatchPlan.of(signals))
            self._batch = cached
        return cached[1]


@dataclass(frozen=True)
class _BatchPlan:
    """Positions of every signal's default observation in one flat buffer.

    Attributes:
        size: total length of the buffer.
        splits: where one signal's observation ends and the next begins.
        lanes: every signal's incoming lanes, in order, as positions in the source's lane list.
        inverse_capacity: 1 / capacity of each of those lanes.
        density: buffer positions of their densities.
        queue: buffer positions of their queue densities.
        phase: buffer position of each signal's first green flag.
        min_green: buffer position of each signal's min-green flag.

    """

    size: int
    splits: np.ndarray
    lanes: np.ndarray
    inverse_capacity: np.ndarray
    density: np.ndarray
    queue: np.ndarray
    phase: np.ndarray
    min_green: np.ndarray

    @classmethod
    def of(cls, signals: Mapping[str, TrafficSignal]) -> _BatchPlan:
        """The plan for ``signals`` (in their order)."""
        density, queue, phase, min_green, offset = [], [], [], [], 0
        for signal in signals.values():
            n, lanes = signal.num_greens, len(signal.layout.in_lanes)
            phase.append(offset)
            min_green.append(offset + n)
            density.append(np.arange(offset + n + 1, offset + n + 1 + lanes))
            queue.append(np.arange(offset + n + 1 + lanes, offset + n + 1 + 2 * lanes))
            offset += n + 1 + 2 * lanes
        values = list(signals.values())
        capacity = [np.asarray(s.layout.in_capacity, dtype=float) for s in values]
        return cls(
            size=offset,
            splits=np.array(phase[1:], dtype=int),
            lanes=np.concatenate([s.lanes.in_index for s in values]).astype(int),
            inverse_capacity=1.0 / np.concatenate(capacity),
            density=np.concatenate(density),
            queue=np.concatenate(queue),
            phase=np.array(phase, dtype=int),
            min_green=np.array(min_green, dtype=int),
        )


class PressureObservation(Observation):
    """Phase one-hot, min-green flag and the pressure of every green phase.

    Pressure of a phase: over its green links, incoming lane occupancy minus outgoing
    lane occupancy (vehicles / capacity), averaged over the phase's links, in [-1, 1].
    """

    def space(self, signal: TrafficSignal) -> spaces.Box:
        """Box of size 2 * n_greens + 1."""
        n = signal.num_greens
        low = np.concatenate([np.zeros(n + 1), -np.ones(n)]).astype(np.float32)
        return spaces.Box(low, np.ones(2 * n + 1, dtype=np.float32), dtype=np.float32)

    def __call__(self, signal: TrafficSignal) -> np.ndarray:
        """Concatenate phase, min-green flag and normalised phase pressures."""
        pressure = np.clip(signal.pressure_per_green() / signal.links_per_green, -1.0, 1.0)
        return np.concatenate(
            [
                _phase_one_hot(signal),
                np.array([signal.min_green_passed()], dtype=np.float32),
                pressure.astype(np.float32),
            ]
        )


DETECTION_RANGE_M = 200.0
"""Default detector range (m) upstream of the stop line, as in RESCO."""


class _PerGreenCounts(Observation):
    """Phase one-hot, min-green flag, then one vehicle count per green phase.

    Layout: ``[one_hot(green) (n_greens), min_green_passed (1), value (n_greens)]``;
    controllers read the values as ``obs[-n_greens:]``.

    Args:
        detection_range: metres upstream of the stop line (downstream of an outgoing
            lane's start ... its end) that a detector sees.

    """

    low = 0.0

    def __init__(self, detection_range: float = DETECTION_RANGE_M) -> None:
        if isinstance(detection_range, bool) or not isinstance(detection_range, (int, float)) or detection_range <= 0:
            raise ConfigError(f"detection_range: expected a positive number of metres, got {detection_range!r}")
        self.detection_range = float(detection_range)
        self._links: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    def space(self, signal: TrafficSignal) -> spaces.Box:
        """Box of size 2 * n_greens + 1; counts are unbounded."""
        n = signal.num_greens
        low = np.concatenate([np.zeros(n + 1), np.full(n, self.low)]).astype(np.float32)
        high = np.concatenate([np.ones(n + 1), np.full(n, np.inf)]).astype(np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def __call__(self, signal: TrafficSignal) -> np.ndarray:
        """Concatenate phase, min-green flag and the per-green values."""
        n = signal.num_greens
        out = np.zeros(2 * n + 1, dtype=np.float32)
        out[signal.green] = 1.0
        out[n] = signal.min_green_passed()
        out[n + 1 :] = self.values(signal)
        return out

    def green_links(self, signal: TrafficSignal) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per green, the links it serves: their incoming lanes, outgoing lanes, and its distinct incoming lanes.

        A green serves its priority-green (``G``) links, and its permissive-green (``g``)
        links that no green gives priority to. A left turn that yields (``g``) in the
        through phase and has its own protected phase (``G``) thus counts for the
        protected phase only; otherwise the through phase, whose links would be a
        superset, would always win and the protected phase never be chosen.
        """
        cached = self._links.get(signal.id)
        if cached is None:
            cached = []
            greens = signal.layout.greens
            protected = {link for link, _, _ in signal.layout.links if any(g[link] == "G" for g in greens)}
            for g, state in enumerate(greens):
                links = [
                    (link, i, o)
                    for link, i, o in signal.layout.green_links(g)
                    if state[link] == "G" or link not in protected
                ]
                ins = np.array([i for _, i, _ in links], dtype=int)
                outs = np.array([o for _, _, o in links], dtype=int)
                cached.append((ins, outs, np.unique(ins)))
            self._links[signal.id] = cached
        return cached

    @abstractmethod
    def values(self, signal: TrafficSignal) -> np.ndarray:
        """One value per green phase."""


class QueuePressureObservation(_PerGreenCounts):
    """Phase one-hot, min-green flag and the queue pressure of every green phase (max-pressure).

    Pressure of a green: over the links it serves (incoming lane -> outgoing lane; see
    :meth:`green_links`), the halting vehicles within ``detection_range`` of the incoming
    stop line minus those within ``detection_range`` of the outgoing lane's end, summed
    (vehicles, unnormalised).
    """

    low = -np.inf

    def values(self, signal: TrafficSignal) -> np.ndarray:
        """Queue in minus queue out, per green."""
        inn = signal.lanes.in_halting_near(self.detection_range)
        out = signal.lanes.out_halting_near(self.detection_range)
        return np.array([inn[i].sum() - out[o].sum() for i, o, _ in self.green_links(signal)], dtype=float)


class WaveObservation(_PerGreenCounts):
    """Phase one-hot, min-green flag and the wave of every green phase (greedy / max-wave).

    Wave of a green: the vehicles, queued or approaching, within ``detection_range`` of
    the stop line on the distinct incoming lanes of the links the green serves (see
    :meth:`green_links`).
    """

    def values(self, signal: TrafficSignal) -> np.ndarray:
        """Queued + approaching vehicles per green."""
        near = signal.lanes.in_vehicles_near(self.detection_range)
        return np.array([near[lanes].sum() for _, _, lanes in self.green_links(signal)], dtype=float)


class StaleWaveObservation(WaveObservation):
    """Everything greedy decides from: phase one-hot, min-green flag, staleness and wave, per green.

    Layout: ``[one_hot(green) (n_greens), min_green_passed (1), staleness (n_greens),
    wave (n_greens)]``. Staleness is :meth:`~traffic_lam.signals.TrafficSignal.staleness`:
    how long ago each green last showed, as a rank in [0, 1]. Where two greens serve the
    same lanes their waves are always equal, and the classic controllers serve the one
    shown longest ago (:func:`~traffic_lam.controllers.base.best_allowed`); without this
    rank, a learner reading ``wave`` cannot tell which one that is. The waves are vehicle
    counts, as in :class:`WaveObservation`.
    """

    def space(self, signal: TrafficSignal) -> spaces.Box:
        """Box of size 3 * n_greens + 1; the waves are unbounded."""
        n = signal.num_greens
        low = np.zeros(3 * n + 1, dtype=np.float32)
        high = np.concatenate([np.ones(2 * n + 1), np.full(n, np.inf)]).astype(np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def __call__(self, signal: TrafficSignal) -> np.ndarray:
        """Concatenate phase, min-green flag, staleness and the per-green waves."""
        n = signal.num_greens
        out = np.zeros(3 * n + 1, dtype=np.float32)
        out[signal.green] = 1.0
        out[n] = signal.min_green_passed()
        out[n + 1 : 2 * n + 1] = signal.staleness()
        out[2 * n + 1 :] = self.values(signal)
        return out


VEHICLE_SPACE_M = 7.5
"""Metres of lane one vehicle takes in a queue (the observations' capacity unit)."""


class DetectorObservation(Observation):
    """What the detector-range rewards see: phase, min-green flag, counts in range, insertion backlog; all in [0, 1].

    Layout: ``[one_hot(green) (n_greens), min_green_passed (1), vehicles in range
    (n_lanes), halting vehicles in range (n_lanes), backlog (1)]``. The range is that of
    the classic controllers' detectors and of the rewards (on an approach shorter than
    it, the road it continues too); counts are divided by the range's capacity
    (``detection_range / 7.5`` vehicles) and the backlog (vehicles that cannot enter the
    network and whose route first reaches this signal) by the same, clipped to 1.

    Args:
        detection_range: metres upstream of each stop line.
    """

    def __init__(self, detection_range: float = DETECTION_RANGE_M) -> None:
        if isinstance(detection_range, bool) or not isinstance(detection_range, (int, float)) or detection_range <= 0:
            raise ConfigError(f"detection_range: expected a positive number of metres, got {detection_range!r}")
        self.detection_range = float(detection_range)
        self._inverse_capacity = VEHICLE_SPACE_M / self.detection_range

    def space(self, signal: TrafficSignal) -> spaces.Box:
        """Box of size n_greens + 2 + 2 * n_incoming_lanes in [0, 1]."""
        size = signal.num_greens + 2 + 2 * len(signal.layout.in_lanes)
        return spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)

    def __call__(self, signal: TrafficSignal) -> np.ndarray:
        """Concatenate phase, min-green flag, counts in range and backlog, scaled to [0, 1]."""
        n, lanes = signal.num_greens, len(signal.layout.in_lanes)
        scale = self._inverse_capacity
        out = np.zeros(n + 2 + 2 * lanes, dtype=np.float32)
        out[signal.green] = 1.0
        out[n] = signal.min_green_passed()
        out[n + 1 : n + 1 + lanes] = np.minimum(1.0, signal.lanes.in_vehicles_near(self.detection_range) * scale)
        out[n + 1 + lanes : n + 1 + 2 * lanes] = np.minimum(
            1.0, signal.lanes.in_halting_near(self.detection_range) * scale
        )
        out[-1] = min(1.0, signal.lanes.backlog * scale)
        return out


OBSERVATIONS: Mapping[str, type[Observation]] = MappingProxyType(
    {
        "default": DefaultObservation,
        "detector": DetectorObservation,
        "pressure": PressureObservation,
        "queue-pressure": QueuePressureObservation,
        "wave": WaveObservation,
        "wave-staleness": StaleWaveObservation,
    }
)
"""Built-in observations by name (read-only)."""

LEARNER_OBSERVATION = "wave-staleness"
"""What the neural learners and the clones read unless told otherwise: greedy's own input (the
vehicles within the detector range per green) and how long ago each green showed, everything
greedy decides from; it trains best on the RESCO maps (README, Benchmarks)."""


def make_observation(spec: str | type | Any) -> Any:
    """Build an observation function from a name, import path, class or instance.

    Raises:
        ConfigError: unknown name, or an object without ``space`` and ``__call__``.

    """
    from traffic_lam.env.registry import build

    return build(spec, OBSERVATIONS, "observation", required=("space", "__call__"))
