"""Controllers that score every green from the observation and show the best allowed one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from traffic_lam.controllers.base import Controller, QueueRotation
from traffic_lam.env.observations import DETECTION_RANGE_M


class PhaseScoreController(Controller):
    """Shows, per light, the allowed green with the highest score; positive ties rotate.

    The observation (``observation_class``, built with the controller's detection range)
    ends with one score per green; :class:`~traffic_lam.controllers.base.QueueRotation`
    picks among the greens the action mask allows. Subclasses set ``name`` and
    ``observation_class``.

    Args:
        detection_range: metres of each lane the detectors see.
    """

    observation_class: ClassVar[type]

    def __init__(self, *, detection_range: float = DETECTION_RANGE_M) -> None:
        super().__init__(detection_range=detection_range)
        self._rotation = QueueRotation()
        self._observation = self.observation_class(detection_range)

    def observation_spec(self) -> Any:
        """The scoring observation, with this controller's detection range."""
        return self._observation

    def _reset(self) -> None:
        self._rotation.reset()

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        actions = {}
        for agent, obs in observations.items():
            n = len(infos[agent]["action_mask"])
            actions[agent] = self._rotation.choose(agent, obs[-n:], infos[agent])
        return actions
