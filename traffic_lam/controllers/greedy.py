"""Greedy (max-wave): show the allowed green serving the most queued + approaching vehicles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from traffic_lam.controllers.base import Controller, QueueRotation
from traffic_lam.env.observations import DETECTION_RANGE_M, WaveObservation


class Greedy(Controller):
    """Greedy / max-wave control, as RESCO's MaxWave.

    At every decision each light picks, among the greens its action mask allows, the
    one whose incoming lanes hold the most vehicles (queued or approaching) within
    ``detection_range`` of the stop line (observation ``"wave"``); ties as in
    :func:`~traffic_lam.controllers.base.best_allowed`.

    Args:
        detection_range: metres of each incoming lane the detectors see (DESIGN.md: 200;
            RESCO's own MaxWave configuration used 50).

    """

    name: ClassVar[str] = "greedy"
    observation: ClassVar[str | None] = "wave"

    def __init__(self, *, detection_range: float = DETECTION_RANGE_M) -> None:
        super().__init__(detection_range=detection_range)
        self._rotation = QueueRotation()
        self._observation = WaveObservation(detection_range)

    def observation_spec(self) -> Any:
        """A ``wave`` observation with this controller's detection range."""
        return self._observation

    def _reset(self) -> None:
        self._rotation.reset()

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        actions = {}
        for agent, obs in observations.items():
            n = len(infos[agent]["action_mask"])
            actions[agent] = self._rotation.choose(agent, obs[-n:], infos[agent])
        return actions
