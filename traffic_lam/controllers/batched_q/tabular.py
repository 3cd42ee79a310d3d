"""Tabular Q-learning for every signal of every simulation in one batched tensor update.

States are discretised (``bins`` per feature) and hashed into a preallocated table of
shape ``[tables, table_size, max_actions]``: one table per signal (independent) or one
for all (shared). An update of ``B`` transitions is a handful of tensor operations,
whatever ``B`` is: no Python loop over signals or simulations.

Duplicate indices (the same table, hashed state and action more than once in a batch,
common with a shared table) are applied exactly as if the transitions were processed one
after another in batch order, with every target computed from the table before the
batch: for a cell hit ``K`` times with targets ``y_0..y_{K-1}``,
``Q <- (1-a)^K Q + sum_k a (1-a)^(K-1-k) y_k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TabularConfig:
    """Hyperparameters of the tabular learner.

    Attributes:
        bins: discretisation bins per observation feature (features are expected in [0, 1];
            values outside are clipped into the first / last bin).
        table_size: hashed state buckets per table.
        alpha: learning rate.
        gamma: discount factor.
        shared: one table for all signals (True) or one per signal (False).
    """

    bins: int = 4
    table_size: int = 1 << 16
    alpha: float = 0.1
    gamma: float = 0.99
    shared: bool = False


class TabularQ:
    """A batched, hashed Q-table.

    Args:
        config: hyperparameters.
        num_agents: signals per simulation (tables when not shared).
        obs_dim: padded observation size.
        num_actions: padded action count (invalid actions are masked).
        device: torch device.
        seed: seed of the hash coefficients.
    """

    def __init__(
        self,
        config: TabularConfig,
        num_agents: int,
        obs_dim: int,
        num_actions: int,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.num_agents = num_agents
        self.num_actions = num_actions
        self.device = device
        tables = 1 if config.shared else num_agents
        self.q = torch.zeros(tables, config.table_size, num_actions, device=device)
        generator = torch.Generator().manual_seed(seed)
        # random odd 31-bit coefficients: hash = sum(bin_i * c_i) mod table_size (universal-style hashing)
        coefficients = torch.randint(1, 2**31 - 1, (obs_dim,), generator=generator, dtype=torch.int64) | 1
        self.coefficients = coefficients.to(device)
        self.table_of_agent = (
            torch.zeros(num_agents, dtype=torch.int64, device=device)
            if config.shared
            else torch.arange(num_agents, device=device)
        )

    def state_index(self, obs: torch.Tensor) -> torch.Tensor:
        """Hashed state bucket of each observation: ``[..., obs_dim] -> [...]`` (int64)."""
        bins = self.config.bins
        cells = torch.clamp((obs * bins).floor().to(torch.int64), 0, bins - 1)
        return (cells * self.coefficients).sum(-1).remainder(self.config.table_size)

    def values(self, states: torch.Tensor, agents: torch.Tensor) -> torch.Tensor:
        """Q-values ``[..., num_actions]`` of hashed ``states`` for ``agents`` (same shape)."""
        return self.q[self.table_of_agent[agents], states]

    def update(
        self,
        agents: torch.Tensor,
        states: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_states: torch.Tensor,
        next_masks: torch.Tensor,
        terminated: torch.Tensor,
    ) -> None:
        """Apply a batch of transitions (1-D tensors of equal length ``B``).

        Args:
            agents: agent index of each transition.
            states: hashed state (see :meth:`state_index`).
            actions: action taken.
            rewards: reward received.
            next_states: hashed next state.
            next_masks: ``[B, num_actions]`` bool, valid actions in the next state.
            terminated: True where the episode really ended (no bootstrap). A time-limit
                truncation is *not* termination: bootstrap from the next state.
        """
        alpha, gamma = self.config.alpha, self.config.gamma
        tables = self.table_of_agent[agents]
        next_q = self.q[tables, next_states].masked_fill(~next_masks, float("-inf")).amax(-1)
        next_q = torch.where(torch.isfinite(next_q), next_q, torch.zeros_like(next_q))
        targets = rewards + gamma * next_q * (~terminated).to(rewards.dtype)

        size, n_actions = self.config.table_size, self.num_actions
        keys = (tables * size + states) * n_actions + actions
        sorted_keys, order = torch.sort(keys, stable=True)
        unique, inverse, counts = torch.unique_consecutive(sorted_keys, return_inverse=True, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(keys), device=keys.device) - starts[inverse]
        decay = 1.0 - alpha
        weights = alpha * decay ** (counts[inverse] - 1 - rank).to(targets.dtype)
        contribution = torch.zeros(len(unique), dtype=targets.dtype, device=targets.device)
        contribution.index_add_(0, inverse, weights * targets[order])
        flat = self.q.view(-1)
        flat[unique] = flat[unique] * decay ** counts.to(targets.dtype) + contribution
