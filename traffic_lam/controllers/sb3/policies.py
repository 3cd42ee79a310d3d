"""Policy pieces for SB3: a DQN that masks Q-values, and per-signal (independent) networks.

Masked DQN: the action mask is the last ``n_actions`` entries of every observation. The
Q-network sets masked actions to a large negative value, so greedy actions *and* the
TD target's ``max`` over next actions only consider allowed phases; exploration samples
uniformly among allowed actions.

Independent networks: :class:`PerSignalExtractor` gives every signal its own hidden
layers (stacked weights, one batched matmul, selected by the signal's one-hot id in the
observation); only the final linear output layer of SB3's policy is common.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork

MASKED_Q = -1e8
"""Q-value given to masked actions (finite, so no NaN in the loss)."""


class MaskedQNetwork(QNetwork):
    """SB3's Q-network with the observation's trailing action mask applied."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values with masked actions at :data:`MASKED_Q`."""
        q = self.q_net(self.extract_features(obs, self.features_extractor))
        mask = obs[:, -int(self.action_space.n) :] > 0.5
        return q.masked_fill(~mask, MASKED_Q)


class MaskedDQNPolicy(DQNPolicy):
    """DQN policy whose online and target networks mask Q-values."""

    def make_q_net(self) -> MaskedQNetwork:
        """Build a masked Q-network (as SB3's ``make_q_net`` does for the plain one)."""
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return MaskedQNetwork(**net_args).to(self.device)


class MaskedDQN(DQN):
    """SB3 DQN whose exploration (warm-up and epsilon-greedy) samples only allowed actions."""

    after_store: Callable[[], None] | None = None
    """Called after every step, once its transitions are in the replay buffer (the training
    callback checkpoints there); not saved with the model."""

    def _on_step(self) -> None:
        """SB3's per-step bookkeeping (target network, exploration rate), then :attr:`after_store`."""
        super()._on_step()
        if self.after_store is not None:
            self.after_store()

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "after_store"]

    def _sample_action(
        self, learning_starts: int, action_noise: Any = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """During warm-up SB3 samples the whole (padded) action space; sample allowed actions instead."""
        if self.num_timesteps < learning_starts:
            obs = np.asarray(self._last_obs).reshape(n_envs, -1)
            masks = obs[:, -int(self.action_space.n) :] > 0.5
            action = np.array([np.random.choice(np.flatnonzero(m)) for m in masks])
            return action, action
        return super()._sample_action(learning_starts, action_noise, n_envs)

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, Any]:
        """Greedy (masked) action, or with probability epsilon a uniformly random allowed one."""
        actions, state = self.policy.predict(observation, state, episode_start, deterministic)
        if not deterministic:
            obs = np.asarray(observation).reshape(-1, self.observation_space.shape[0])
            masks = obs[:, -int(self.action_space.n) :] > 0.5
            explore = np.random.rand(len(obs)) < self.exploration_rate
            for i in np.flatnonzero(explore):
                actions[i] = np.random.choice(np.flatnonzero(masks[i]))
        return actions, state


class PerSignalExtractor(BaseFeaturesExtractor):
    """Independent hidden layers per signal: each sample uses its own signal's weights (batched matmul).

    Args:
        observation_space: the policy's Box space (layout of :class:`Featurizer`).
        n_agents: number of signals; their one-hot ids sit just before the action mask.
        n_actions: length of the trailing action mask.
        hidden: width of each signal's two hidden layers (the features size).
    """

    def __init__(self, observation_space: spaces.Box, n_agents: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__(observation_space, features_dim=hidden)
        self.n_agents, self.n_actions = n_agents, n_actions
        in_dim = int(observation_space.shape[0])
        self.w1 = torch.nn.Parameter(torch.randn(n_agents, in_dim, hidden) * (1.0 / np.sqrt(in_dim)))
        self.b1 = torch.nn.Parameter(torch.zeros(n_agents, 1, hidden))
        self.w2 = torch.nn.Parameter(torch.randn(n_agents, hidden, hidden) * (1.0 / np.sqrt(hidden)))
        self.b2 = torch.nn.Parameter(torch.zeros(n_agents, 1, hidden))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Each sample through its own signal's layers: ``[B, in] -> [B, hidden]``."""
        ids_end = observations.shape[1] - self.n_actions
        agent = observations[:, ids_end - self.n_agents : ids_end].argmax(-1)
        h = torch.relu(torch.bmm(observations.unsqueeze(1), self.w1[agent]) + self.b1[agent])
        h = torch.relu(torch.bmm(h, self.w2[agent]) + self.b2[agent])  # each sample, its signal's weights
        return h.squeeze(1)
