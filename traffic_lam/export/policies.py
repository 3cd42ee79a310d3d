"""Each exportable learner's network as one torch module: (observation, action mask) -> (action, masked values).

The modules wrap the learner's own networks (no copy of the weights), so what they
compute is what the learner computes; :mod:`traffic_lam.export.onnx` traces them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from traffic_lam.errors import ControllerError

if TYPE_CHECKING:
    from traffic_lam.export.onnx import PolicyLayout


class MaskedPolicy(nn.Module, ABC):
    """Values of every green of every signal, ``-inf`` where not allowed, and the allowed green of largest value."""

    def forward(self, observation: torch.Tensor, action_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, N, F]``, ``[B, N, A]`` (1 = allowed) -> actions ``[B, N]`` (int64), values ``[B, N, A]``."""
        values = self.values(observation, action_mask).masked_fill(action_mask <= 0.5, float("-inf"))
        return values.argmax(-1), values

    @abstractmethod
    def values(self, observation: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
        """Hook: the network's values ``[B, N, A]`` (before the mask is applied)."""


class SB3Values(MaskedPolicy):
    """An SB3 network reading the featurizer's rows, the action mask last (as the learner feeds it).

    Args:
        network: maps rows ``[rows, features + actions]`` to values ``[rows, actions]``.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def values(self, observation: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
        """Every signal's row with its mask appended, through the network."""
        b, n, _ = observation.shape
        rows = torch.cat([observation, action_mask], dim=-1).reshape(b * n, -1)
        return self.network(rows).reshape(b, n, -1)


class PPOLogits(nn.Module):
    """The logits of a (Maskable) PPO policy's action distribution, before masking."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``[rows, features + actions]`` -> logits ``[rows, actions]`` (as ``policy.get_distribution``)."""
        policy = self.policy
        features = policy.extract_features(rows, policy.pi_features_extractor)
        return policy.action_net(policy.mlp_extractor.forward_actor(features))


class BatchedQValues(MaskedPolicy):
    """A neural batched-q learner's Q-networks: one shared (the one-hot id in the rows) or one per signal.

    Args:
        network: the learner's online :class:`~traffic_lam.controllers.batched_q.networks.BatchedMLP`.
        shared: one network for every signal.
    """

    def __init__(self, network: nn.Module, shared: bool) -> None:
        super().__init__()
        self.network = network
        self.shared = shared

    def values(self, observation: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
        """Q-values ``[B, N, A]``: rows through the shared network, or signal ``i`` through network ``i``."""
        b, n, _ = observation.shape
        if self.shared:
            return self.network(observation.reshape(1, b * n, -1)).reshape(b, n, -1)
        return self.network(observation.transpose(0, 1)).transpose(0, 1)


def policy_module(controller: Any) -> tuple[MaskedPolicy, PolicyLayout]:
    """The module and input layout of a DQN, PPO or neural batched-q learner.

    Raises:
        ControllerError: a tabular batched-q (a table, not a network), or another controller.
    """
    from traffic_lam.controllers.batched_q import NeuralBatchedQ, TabularBatchedQ
    from traffic_lam.controllers.sb3 import DQNController, PPOController

    if isinstance(controller, TabularBatchedQ):
        raise ControllerError(
            "batched-q (mode tabular) is a hashed Q-table, not a network: it cannot be exported as ONNX "
            "(dqn, ppo and batched-q mode neural can)"
        )
    if isinstance(controller, NeuralBatchedQ):
        if controller.online is None:
            raise ControllerError("batched-q: the learner holds no network (never trained): nothing to export")
        return BatchedQValues(controller.online, bool(controller.config.shared)), _batched_q_layout(controller)
    if isinstance(controller, DQNController):
        return SB3Values(controller.model.policy.q_net), _sb3_layout(controller)
    if isinstance(controller, PPOController):
        return SB3Values(PPOLogits(controller.model.policy)), _sb3_layout(controller)
    raise ControllerError(f"controller '{controller.name}': only dqn, ppo and neural batched-q learners export as ONNX")


def inputs_of(
    controller: Any, observations: Mapping[str, np.ndarray], infos: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[N, F]`` and masks ``[N, A]`` of one environment step, as ``controller`` builds its network's input."""
    from traffic_lam.controllers.batched_q import NeuralBatchedQ

    if isinstance(controller, NeuralBatchedQ):
        assert controller.stacker is not None, "setup() or training builds the learner"
        obs, masks, _ = (np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x)
                         for x in controller.stacker([observations], [infos]))  # fmt: skip
        rows = obs[0]
        if controller.config.shared:
            rows = np.concatenate([rows, np.eye(len(controller.agents), dtype=np.float32)], axis=-1)
        return rows, masks[0]
    featurizer = controller.featurizer
    vectors = featurizer.vectors(observations, infos)
    return vectors[:, : -featurizer.num_actions], vectors[:, -featurizer.num_actions :]


def _batched_q_layout(learner: Any) -> PolicyLayout:
    from traffic_lam.export.onnx import PolicyLayout

    d, ids = learner.obs_dim, len(learner.agents) if learner.config.shared else 0
    parts = {"observation": [0, d], **({"signal_id": [d, d + ids]} if ids else {})}
    return PolicyLayout(
        controller=learner.name, observation=learner.config.observation, agents=list(learner.agents),
        obs_sizes=list(learner.obs_sizes), action_sizes=list(learner.action_sizes), features=d + ids, parts=parts,
        num_actions=learner.num_actions,
    )  # fmt: skip


def _sb3_layout(learner: Any) -> PolicyLayout:
    from traffic_lam.controllers.sb3.features import NEIGHBOUR_FEATURES
    from traffic_lam.export.onnx import PolicyLayout

    featurizer = learner.featurizer
    d, k, n = featurizer.obs_dim, NEIGHBOUR_FEATURES * featurizer.max_neighbours, len(featurizer.agents)
    parts = {"observation": [0, d]}
    if k:
        parts["neighbours"] = [d, d + k]
    if featurizer.agent_ids:
        parts["signal_id"] = [d + k, d + k + n]
    return PolicyLayout(
        controller=learner.name, observation=learner.observation_spec(), agents=list(featurizer.agents),
        obs_sizes=list(featurizer.obs_sizes), action_sizes=list(featurizer.action_sizes),
        features=featurizer.size - featurizer.num_actions, parts=parts, num_actions=featurizer.num_actions,
    )  # fmt: skip
