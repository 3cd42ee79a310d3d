"""What a learner's :meth:`~traffic_lam.controllers.Controller.learn` receives: a typed training budget.

It lives with the controllers (the layer that consumes it); the scenario runner and the
scripts build it. Its defaults are the only defaults of a training budget: the scenario
schema's ``training:`` section takes them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from traffic_lam.errors import ConfigError


@dataclass(frozen=True)
class TrainingBudget:
    """How long and where a learner trains.

    Attributes:
        episodes: training episodes (of the environment's length), summed over all
            parallel simulations.
        seed: SUMO seed of the first training episode; later episodes count up from it
            (evaluation seeds stay separate).
        num_envs: parallel simulations (worker processes) feeding the learner.
        checkpoint_every: write a checkpoint every this many episodes (0: only at the end).
        checkpoint_dir: folder of the checkpoints; training resumes from the one there.
            None: no checkpoints, no resume.
        curve_file: CSV the learning curve is written to (one row per training episode).
            None: the curve is kept in memory only.
    """

    episodes: int = 10
    seed: int = 10_000
    num_envs: int = 1
    checkpoint_every: int = 0
    checkpoint_dir: Path | None = None
    curve_file: Path | None = None

    def __post_init__(self) -> None:
        for name, minimum in (("episodes", 1), ("seed", 0), ("num_envs", 1), ("checkpoint_every", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"training budget: {name}: expected an integer >= {minimum}, got {value!r}")
            if value != int(value) or value < minimum:
                raise ConfigError(f"training budget: {name}: expected an integer >= {minimum}, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("checkpoint_dir", "curve_file"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))

    @classmethod
    def of(cls, budget: TrainingBudget | int) -> TrainingBudget:
        """``budget`` as a :class:`TrainingBudget` (an int is a number of episodes).

        Raises:
            ConfigError: neither a budget nor a whole number of episodes.
        """
        if isinstance(budget, TrainingBudget):
            return budget
        if isinstance(budget, int) and not isinstance(budget, bool):
            return cls(episodes=budget)
        raise ConfigError(f"training budget: expected a TrainingBudget or a number of episodes, got {budget!r}")

    def with_outputs(self, checkpoint_dir: str | Path | None, curve_file: str | Path | None) -> TrainingBudget:
        """The same budget writing its checkpoints and curve to these places."""
        return replace(
            self,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir is not None else None,
            curve_file=Path(curve_file) if curve_file is not None else None,
        )
