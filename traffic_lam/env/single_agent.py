"""A single traffic light as a plain ``gymnasium.Env``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from traffic_lam.env.parallel_env import TrafficSignalEnv
from traffic_lam.errors import ConfigError


class SingleSignalEnv(gym.Env):
    """Gymnasium view of a :class:`TrafficSignalEnv` with exactly one controlled signal.

    The action mask is in ``info["action_mask"]``; SUMO's system counters in
    ``info["system"]``. Episodes end by truncation at the end time.
    """

    metadata = {"render_modes": ["human"]}

    def __init__(self, env: TrafficSignalEnv) -> None:
        if len(env.possible_agents) != 1:
            raise ConfigError(
                f"network '{env.config.network.name}' has {len(env.possible_agents)} controlled signals; "
                "the single-agent view needs exactly one (pass signals=[id] to pick one)"
            )
        self.env = env
        self.agent = env.possible_agents[0]
        self.observation_space = env.observation_space(self.agent)
        self.action_space = env.action_space(self.agent)
        self.render_mode = env.render_mode
        self._mask = np.ones(self.action_space.n, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode; ``seed`` is SUMO's ``--seed``."""
        super().reset(seed=seed)
        observations, infos = self.env.reset(seed=seed, options=options)
        self._mask = infos[self.agent]["action_mask"].astype(bool)
        return observations[self.agent], infos[self.agent]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Apply ``action`` (a green phase index) and simulate ``delta_time`` seconds."""
        observations, rewards, terminations, truncations, infos = self.env.step({self.agent: action})
        a = self.agent
        self._mask = infos[a]["action_mask"].astype(bool)
        return observations[a], rewards[a], terminations[a], truncations[a], infos[a]

    def action_masks(self) -> np.ndarray:
        """Mask of allowed actions now (sb3-contrib ``MaskablePPO`` convention)."""
        return self._mask

    def close(self) -> None:
        """Close the simulation."""
        self.env.close()
