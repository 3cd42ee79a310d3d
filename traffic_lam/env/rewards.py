"""Reward functions: ``__call__(signal) -> float``, one instance per signal.

Built-ins are looked up by name in :data:`REWARDS`; a user passes a class, an
instance, a plain function ``f(signal) -> float`` or an import path
``"package.module:name"``. A fresh instance is built for every signal (classes are
instantiated per signal), so stateful rewards keep their state on ``self``; an
optional ``reset(signal)`` method is called at the start of every episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from traffic_lam.env.registry import build
from traffic_lam.signals import TrafficSignal


class DiffWaitingTime:
    """Decrease of the vehicles' accumulated waiting time on the incoming lanes since the last decision.

    Like sumo-rl's: per vehicle on an incoming lane, SUMO's accumulated waiting time
    (which keeps growing while it queues, ``--waiting-time-memory`` 1000 s), summed, in
    units of 100 s; positive when waiting shrinks, i.e. when waiting vehicles are served.
    (sumo-rl splits a vehicle's time between the lanes it waited on; here it counts whole
    on the lane the vehicle is on, waiting at upstream signals within the memory included.)
    (A lane's *current* waiting time resets as soon as a queue creeps forward, which
    would reward shuffling queues.)
    """

    def __init__(self) -> None:
        self.last = 0.0

    def reset(self, signal: TrafficSignal) -> None:
        """Forget the previous waiting time."""
        self.last = 0.0

    def __call__(self, signal: TrafficSignal) -> float:
        """(previous waiting - current waiting) / 100."""
        current = signal.accumulated_waiting_time() / 100.0
        reward, self.last = self.last - current, current
        return reward


def queue(signal: TrafficSignal) -> float:
    """Negative number of halting vehicles on the incoming lanes."""
    return -signal.queue()


def pressure(signal: TrafficSignal) -> float:
    """Negative absolute pressure: -|vehicles on incoming lanes - vehicles on outgoing lanes|."""
    return -abs(float(signal.lanes.in_vehicles.sum() - signal.lanes.out_vehicles.sum()))


def average_speed(signal: TrafficSignal) -> float:
    """Vehicle-weighted mean of speed / speed limit on the incoming lanes (1 when empty)."""
    vehicles = signal.lanes.in_vehicles
    total = vehicles.sum()
    if total == 0:
        return 1.0
    limits = np.asarray(signal.layout.in_speed)
    return float((vehicles * signal.lanes.in_mean_speed / limits).sum() / total)


REWARDS: Mapping[str, Any] = MappingProxyType(
    {
        "diff-waiting-time": DiffWaitingTime,
        "queue": queue,
        "pressure": pressure,
        "average-speed": average_speed,
    }
)
"""Built-in rewards by name (read-only)."""


def make_reward(spec: Any) -> Any:
    """Build one signal's reward from a name, import path, class, instance or function.

    Raises:
        ConfigError: unknown name, or not callable.

    """
    return build(spec, REWARDS, "reward", required=("__call__",))
