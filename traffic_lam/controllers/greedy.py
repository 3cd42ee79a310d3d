"""Greedy (max-wave): show the allowed green serving the most queued + approaching vehicles."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

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


def choice_from_wave_staleness(obs: np.ndarray, mask: np.ndarray) -> int:
    """Greedy's choice read off the ``wave-staleness`` observation alone, without its memory.

    :class:`Greedy` remembers when each green last showed to rotate tied greens; the
    ``wave-staleness`` observation carries that order, so the same choice follows from one
    observation: the allowed green with the largest wave; on a positive tie the one shown
    longest ago; with nothing waiting the current green.

    Args:
        obs: one signal's ``wave-staleness`` observation.
        mask: its action mask.
    """
    n, allowed = len(mask), np.flatnonzero(mask)
    current, staleness, wave = int(np.argmax(obs[:n])), obs[n + 1 : 2 * n + 1], obs[2 * n + 1 :]
    best = wave[allowed].max()
    if mask[current] and wave[current] >= best and best <= 0:
        return current
    tied = allowed[wave[allowed] >= best]
    return int(tied[np.argmax(staleness[tied])])
