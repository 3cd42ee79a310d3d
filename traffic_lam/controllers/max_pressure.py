"""Max-pressure: show the allowed green with the largest queue pressure (queue in − queue out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from traffic_lam.controllers.base import Controller, QueueRotation
from traffic_lam.env.observations import DETECTION_RANGE_M, QueuePressureObservation


class MaxPressure(Controller):
    """Max-pressure control (Varaiya 2013), as in RESCO.

    At every decision each light picks, among the greens its action mask allows (min
    green respected, max green enforced by the environment), the one whose green links
    carry the largest pressure: halting vehicles on the incoming lane minus halting
    vehicles on the outgoing lane, within ``detection_range`` of the stop line, summed
    over the phase's links (observation ``"queue-pressure"``); ties as in
    :func:`~traffic_lam.controllers.base.best_allowed`. The environment inserts yellow
    (and all-red) when the green changes.

    Args:
        detection_range: metres of each lane the detectors see (RESCO: 200).

    """

    name: ClassVar[str] = "max-pressure"
    observation: ClassVar[str | None] = "queue-pressure"

    def __init__(self, *, detection_range: float = DETECTION_RANGE_M) -> None:
        super().__init__(detection_range=detection_range)
        self._rotation = QueueRotation()
        self._observation = QueuePressureObservation(detection_range)

    def observation_spec(self) -> Any:
        """A ``queue-pressure`` observation with this controller's detection range."""
        return self._observation

    def _reset(self) -> None:
        self._rotation.reset()

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        actions = {}
        for agent, obs in observations.items():
            n = len(infos[agent]["action_mask"])
            actions[agent] = self._rotation.choose(agent, obs[-n:], infos[agent])
        return actions
