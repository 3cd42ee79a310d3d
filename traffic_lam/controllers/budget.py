"""What a learner's :meth:`~traffic_lam.controllers.Controller.learn` receives: a typed training budget.

It lives with the controllers (the layer that consumes it); the scenario runner and the
scripts build it. Its defaults are the only defaults of a training budget: the scenario
schema's ``training:`` section takes them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from traffic_lam.errors import ConfigError
from traffic_lam.validation import require_int


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
        validate_every: evaluate the learner's greedy policy on the validation seeds every
            this many training episodes, and once when training ends (so a budget of fewer
            episodes validates once, at the end); the policy of the lowest validation delay
            is the one training selects (:mod:`traffic_lam.controllers.selection`). 0: never.
        validation_seeds: SUMO seeds of the validation episodes (one episode each), apart
            from the training seeds (``seed`` counting up) and the evaluation seeds.
    """

    episodes: int = 10
    seed: int = 10_000
    num_envs: int = 1
    checkpoint_every: int = 0
    checkpoint_dir: Path | None = None
    curve_file: Path | None = None
    validate_every: int = 10
    validation_seeds: tuple[int, ...] = (5000, 5001)

    def __post_init__(self) -> None:
        for name, minimum in (
            ("episodes", 1), ("seed", 0), ("num_envs", 1), ("checkpoint_every", 0), ("validate_every", 0)
        ):  # fmt: skip
            value = require_int(f"training budget: {name}", getattr(self, name), minimum, whole_floats=True)
            object.__setattr__(self, name, value)
        for name in ("checkpoint_dir", "curve_file"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        object.__setattr__(self, "validation_seeds", self._checked_validation_seeds())

    def _checked_validation_seeds(self) -> tuple[int, ...]:
        """The validation seeds as a tuple: distinct whole numbers, none of them a training seed."""
        seeds = self.validation_seeds
        expected = "expected a non-empty list of distinct integers >= 0"
        if isinstance(seeds, (int, str)) or not isinstance(seeds, (list, tuple)):
            raise ConfigError(f"training budget: validation_seeds: {expected}, got {seeds!r}")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ConfigError(f"training budget: validation_seeds: {expected}, got {list(seeds)!r}")
        if self.validate_every and not seeds:
            every = self.validate_every
            raise ConfigError(f"training budget: validation_seeds: {expected} (validate_every is {every})")
        last = self.seed + self.episodes + self.num_envs - 1  # a simulation's reset may draw one more
        clash = [s for s in seeds if self.seed <= s <= last]
        if clash:
            raise ConfigError(
                f"training budget: validation_seeds: {clash[0]} is a training seed ({self.seed}..{last}); "
                "expected seeds apart from the training ones"
            )
        return tuple(int(s) for s in seeds)

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
