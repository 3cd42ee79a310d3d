"""Turn per-signal observations into the fixed-size vectors one shared SB3 policy reads.

Every signal becomes one sample of the same policy (parameter sharing), so vectors are
padded to the largest signal. Layout of a vector::

    [own observation, zero-padded to obs_dim]
    [per neighbour: queue occupancy, phase / n_greens]  (neighbours=True; padded to max_neighbours)
    [signal id one-hot]                                  (agent_ids=True)
    [action mask, zero-padded to num_actions]            (always last: the masked DQN reads it)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

NEIGHBOUR_FEATURES = 2


@dataclass
class Featurizer:
    """Builds policy inputs for a fixed set of signals.

    Attributes:
        agents: signal ids, in a fixed order.
        obs_sizes: each signal's own observation size.
        action_sizes: each signal's number of greens.
        neighbours: per signal, the ids of its neighbours (when neighbour features are on).
        capacities: per signal, vehicles its incoming lanes hold (normalises neighbour queues).
        use_neighbours: append neighbours' queue occupancy and phase.
        agent_ids: append a one-hot signal id (lets a shared policy specialise).
    """

    agents: list[str]
    obs_sizes: list[int]
    action_sizes: list[int]
    neighbours: dict[str, tuple[str, ...]]
    capacities: dict[str, float]
    use_neighbours: bool = False
    agent_ids: bool = True

    @classmethod
    def from_env(
        cls,
        layouts: Mapping[str, Any],
        observation_spaces: Mapping[str, spaces.Space],
        use_neighbours: bool,
        agent_ids: bool,
    ) -> Featurizer:
        """Build from signal layouts (``env.layouts``) and observation spaces."""
        agents = sorted(layouts)
        return cls(
            agents=agents,
            obs_sizes=[int(observation_spaces[a].shape[0]) for a in agents],
            action_sizes=[layouts[a].num_greens for a in agents],
            neighbours={a: tuple(n for n in layouts[a].neighbours if n in layouts) for a in agents},
            capacities={a: float(sum(layouts[a].in_capacity)) for a in agents},
            use_neighbours=use_neighbours,
            agent_ids=agent_ids,
        )

    def to_state(self) -> dict[str, Any]:
        """The settings as JSON-able values (what :meth:`from_state` reads back)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Featurizer:
        """Rebuild from :meth:`to_state` (read back from JSON: lists where tuples were)."""
        neighbours = {agent: tuple(near) for agent, near in state["neighbours"].items()}
        return cls(**{**state, "neighbours": neighbours})

    @property
    def obs_dim(self) -> int:
        """Padded own-observation size."""
        return max(self.obs_sizes)

    @property
    def num_actions(self) -> int:
        """Padded action count."""
        return max(self.action_sizes)

    @property
    def max_neighbours(self) -> int:
        """Neighbour slots (0 when neighbour features are off)."""
        return max((len(n) for n in self.neighbours.values()), default=0) if self.use_neighbours else 0

    @property
    def size(self) -> int:
        """Length of one policy input vector."""
        ids = len(self.agents) if self.agent_ids else 0
        return self.obs_dim + NEIGHBOUR_FEATURES * self.max_neighbours + ids + self.num_actions

    def space(self) -> spaces.Box:
        """The policy's observation space."""
        return spaces.Box(-np.inf, np.inf, shape=(self.size,), dtype=np.float32)

    def vectors(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
        """``[n_agents, size]`` policy inputs of one simulation step."""
        out = np.zeros((len(self.agents), self.size), dtype=np.float32)
        k, obs_dim = self.max_neighbours, self.obs_dim  # derived once per call, not per signal
        ids_at = obs_dim + NEIGHBOUR_FEATURES * k
        mask_at = ids_at + (len(self.agents) if self.agent_ids else 0)
        for i, agent in enumerate(self.agents):
            own = observations[agent]
            out[i, : len(own)] = own
            for j, other in enumerate(self.neighbours[agent][:k]):
                info = infos[other]
                at = obs_dim + NEIGHBOUR_FEATURES * j
                out[i, at] = min(1.0, float(info["queue"]) / max(1.0, self.capacities[other]))
                out[i, at + 1] = float(info["phase"]) / max(1, len(info["action_mask"]))
            if self.agent_ids:
                out[i, ids_at + i] = 1.0
            mask = infos[agent]["action_mask"]
            out[i, mask_at : mask_at + len(mask)] = mask
        return out

    def masks(self, vectors: np.ndarray) -> np.ndarray:
        """The action masks (bool ``[n, num_actions]``) stored at the end of ``vectors``."""
        return vectors[..., -self.num_actions :] > 0.5

    def neighbour_rewards(self, rewards: Mapping[str, float], weight: float) -> np.ndarray:
        """Each signal's reward plus ``weight`` x the mean reward of its neighbours."""
        out = np.array([float(rewards.get(a, 0.0)) for a in self.agents], dtype=np.float32)
        if weight:
            own = dict(zip(self.agents, out.tolist(), strict=True))
            for i, agent in enumerate(self.agents):
                near = self.neighbours[agent]
                if near:
                    out[i] += weight * float(np.mean([own[n] for n in near]))
        return out
