"""Greedy (max-wave): show the allowed green serving the most queued + approaching vehicles."""

from __future__ import annotations

from typing import ClassVar

from traffic_lam.controllers.phase_score import PhaseScoreController
from traffic_lam.env.observations import WaveObservation


class Greedy(PhaseScoreController):
    """Greedy / max-wave control, as RESCO's MaxWave.

    At every decision each light picks, among the greens its action mask allows, the
    one whose incoming lanes hold the most vehicles (queued or approaching) within
    ``detection_range`` of the stop line (observation ``"wave"``); ties as in
    :func:`~traffic_lam.controllers.base.best_allowed`.

    Args:
        detection_range: metres of each incoming lane the detectors see (the RESCO protocol's
            200 m, see ``docs/definitions.md``; RESCO's own MaxWave configuration used 50).

    """

    name: ClassVar[str] = "greedy"
    observation_class: ClassVar[type] = WaveObservation
