"""Reward functions: ``__call__(signal) -> float``, one instance per signal.

Built-ins are looked up by name in :data:`REWARDS`; a user passes a class, an
instance, a plain function ``f(signal) -> float`` or an import path
``"package.module:name"``. A fresh instance is built for every signal (classes are
instantiated per signal), so stateful rewards keep their state on ``self``; an
optional ``reset(signal)`` method is called at the start of every episode.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from traffic_lam.env.observations import DETECTION_RANGE_M
from traffic_lam.env.registry import build
from traffic_lam.errors import ConfigError
from traffic_lam.signals import TrafficSignal


class DetectorReward(ABC):
    """Base of the rewards measured over a detector range, insertion backlog included.

    What a reward sees is what the score sees: within ``detection_range`` m of each
    incoming stop line (on an approach shorter than that, the road it continues too,
    as the classic controllers' detectors), and, with ``backlog``, the vehicles that
    cannot enter the network, counted against the first controlled signal on their
    route (:attr:`~traffic_lam.signals.traffic_signal.LaneMeasurements.backlog`). A
    queue that backs up out of the network thus keeps costing reward.

    Args:
        detection_range: metres upstream of each stop line; None: the whole incoming
            lanes and nothing upstream (the measure of sumo-rl).
        backlog: count the insertion backlog.

    Raises:
        ConfigError: a range that is not a positive number of metres.
    """

    def __init__(self, detection_range: float | None = DETECTION_RANGE_M, backlog: bool = True) -> None:
        if detection_range is not None and (
            isinstance(detection_range, bool)
            or not isinstance(detection_range, (int, float))
            or not math.isfinite(detection_range)
            or detection_range <= 0
        ):
            raise ConfigError(f"detection_range: expected a positive number of metres or null, got {detection_range!r}")
        if not isinstance(backlog, bool):
            raise ConfigError(f"backlog: expected true or false, got {backlog!r}")
        self.detection_range = None if detection_range is None else float(detection_range)
        self.backlog = backlog

    def reset(self, signal: TrafficSignal) -> None:  # noqa: B027 - a hook: nothing to forget by default
        """Start of an episode: forget what the previous one left (nothing by default)."""

    @abstractmethod
    def __call__(self, signal: TrafficSignal) -> float:
        """The reward of ``signal`` for the decision step just simulated."""

    def _halting(self, signal: TrafficSignal) -> float:
        lanes = signal.lanes
        seen = lanes.in_halting if self.detection_range is None else lanes.in_halting_near(self.detection_range)
        return float(seen.sum()) + self._backlog(signal)

    def _backlog(self, signal: TrafficSignal) -> float:
        return signal.lanes.backlog if self.backlog else 0.0


class Queue(DetectorReward):
    """Negative number of halting vehicles in detector range, plus the signal's insertion backlog."""

    def __call__(self, signal: TrafficSignal) -> float:
        """-(halting vehicles in range + vehicles waiting to enter)."""
        return -self._halting(signal)


class Pressure(DetectorReward):
    """Negative absolute pressure: -|vehicles in range in, backlog included - vehicles in range out|.

    Outgoing lanes count their last ``detection_range`` m (whole lanes with None).
    """

    def __call__(self, signal: TrafficSignal) -> float:
        """-|incoming + backlog - outgoing|."""
        lanes, distance = signal.lanes, self.detection_range
        inn = lanes.in_vehicles if distance is None else lanes.in_vehicles_near(distance)
        out = lanes.out_vehicles if distance is None else lanes.out_vehicles_near(distance)
        return -abs(float(inn.sum()) + self._backlog(signal) - float(out.sum()))


class DiffWaitingTime(DetectorReward):
    """Decrease of the vehicles' accumulated waiting time in detector range since the last decision.

    Like sumo-rl's: per vehicle in range, SUMO's accumulated waiting time (which keeps
    growing while it queues, ``--waiting-time-memory`` 1000 s), summed, with the time
    the backlog's vehicles have waited to enter, in units of 100 s; positive when
    waiting shrinks, i.e. when waiting vehicles are served. (sumo-rl splits a vehicle's
    time between the lanes it waited on; here it counts whole on the lane the vehicle
    is on, waiting at upstream signals within the memory included.) (A lane's *current*
    waiting time resets as soon as a queue creeps forward, which would reward shuffling
    queues.)
    """

    def __init__(self, detection_range: float | None = DETECTION_RANGE_M, backlog: bool = True) -> None:
        super().__init__(detection_range, backlog)
        self.last = 0.0

    def reset(self, signal: TrafficSignal) -> None:
        """Forget the previous waiting time."""
        self.last = 0.0

    def __call__(self, signal: TrafficSignal) -> float:
        """(previous waiting - current waiting) / 100."""
        current = (self._waiting(signal) + (signal.lanes.backlog_waiting if self.backlog else 0.0)) / 100.0
        reward, self.last = self.last - current, current
        return reward

    def _waiting(self, signal: TrafficSignal) -> float:
        if self.detection_range is None:
            return signal.accumulated_waiting_time()
        return float(signal.lanes.in_accumulated_waiting_near(self.detection_range).sum())


class Delay(DetectorReward):
    """Negative delay accrued at the signal during the decision, in vehicles (the score's own measure).

    The time loss (SUMO's ``timeLoss``, as in the average delay of the score) that the
    vehicles in detector range accrued since the previous decision, plus the entry
    delay the backlog's vehicles accrued, divided by the decision's length: the mean
    number of vehicles "fully delayed" during the step. Summed over signals and
    decisions (times ``delta_time``) it is the delay accrued on the detected approaches.
    """

    def __init__(self, detection_range: float = DETECTION_RANGE_M, backlog: bool = True) -> None:
        if detection_range is None:
            raise ConfigError("delay: detection_range: expected a positive number of metres, got null")
        super().__init__(detection_range, backlog)

    def __call__(self, signal: TrafficSignal) -> float:
        """-(time loss in range + backlog's entry delay) / delta_time."""
        lanes = signal.lanes
        time_loss = float(lanes.in_time_loss_near(self.detection_range).sum())
        if self.backlog:
            time_loss += lanes.backlog_time_loss
        return -time_loss / signal.timing.delta_time


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
        "queue": Queue,
        "pressure": Pressure,
        "delay": Delay,
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
