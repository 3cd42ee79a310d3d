"""A picklable recipe for environments, handed to learners and worker processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvFactory:
    """Network plus :func:`traffic_lam.make_env` options; builds single or vectorised envs.

    Learners receive one of these (rather than an environment) so they can build as many
    simulations as they need, in this process or in workers.

    Attributes:
        network: the network argument of :func:`traffic_lam.make_env`.
        options: its keyword options.
    """

    network: Any
    options: dict[str, Any] = field(default_factory=dict)

    def __call__(self, **overrides: Any) -> Any:
        """A :class:`~traffic_lam.env.TrafficSignalEnv` (``overrides`` replace options)."""
        from traffic_lam.env import make_env

        return make_env(self.network, **{**self.options, **overrides})

    def vector(self, num_envs: int, trip_dir: Any = None, **overrides: Any) -> Any:
        """A :class:`~traffic_lam.env.VectorSignalEnv` of ``num_envs`` simulations in worker processes.

        ``trip_dir``: keep SUMO's tripinfo per episode there so finished episodes report
        their delay (see :class:`~traffic_lam.env.VectorSignalEnv`).
        """
        from traffic_lam.env.vector import make_vector_env

        return make_vector_env(self.network, num_envs, trip_dir=trip_dir, **{**self.options, **overrides})
