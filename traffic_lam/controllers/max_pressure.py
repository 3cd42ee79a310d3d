"""Max-pressure: show the allowed green with the largest queue pressure (queue in − queue out)."""

from __future__ import annotations

from typing import ClassVar

from traffic_lam.controllers.phase_score import PhaseScoreController
from traffic_lam.env.observations import QueuePressureObservation


class MaxPressure(PhaseScoreController):
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
    observation_class: ClassVar[type] = QueuePressureObservation
