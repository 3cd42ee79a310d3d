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
from types import MappingProxyType
from typing import Any

import numpy as np
from gymnasium import spaces

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


OBSERVATIONS: Mapping[str, type[Observation]] = MappingProxyType(
    {"default": DefaultObservation, "pressure": PressureObservation}
)
"""Built-in observations by name (read-only)."""


def make_observation(spec: str | type | Any) -> Any:
    """Build an observation function from a name, import path, class or instance.

    Raises:
        ConfigError: unknown name, or an object without ``space`` and ``__call__``.

    """
    from traffic_lam.env.registry import build

    return build(spec, OBSERVATIONS, "observation", required=("space", "__call__"))
