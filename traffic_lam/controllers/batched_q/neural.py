"""Batched Q-networks: every signal's network evaluated in one batched matmul.

``BatchedMLP`` holds ``num_nets`` independent MLPs as stacked weight tensors and runs
them together with ``torch.baddbmm`` (no Python loop over signals). With parameter
sharing there is one net, and the signal's one-hot id is appended to its observation.

``ReplayBuffer`` is preallocated on the device and stores n-step transitions of all
signals of a simulation step together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class NeuralConfig:
    """Hyperparameters of the neural learner.

    Attributes:
        hidden: width of the two hidden layers.
        learning_rate: Adam step size.
        gamma: discount factor.
        buffer_size: replay capacity in simulation steps (each holds every signal).
        batch_size: simulation steps sampled per gradient step.
        learning_starts: simulation steps collected before learning starts.
        gradient_steps: gradient steps per decision step (of all simulations together).
        target_update: gradient steps between target-network copies.
        n_step: steps of reward summed before bootstrapping.
        double_q: pick the next action with the online net, value it with the target net.
        shared: one network for all signals (with a signal id one-hot) or one per signal.
        max_grad_norm: gradient clipping.
        scale_rewards: divide rewards by their running standard deviation (over every
            signal and step seen so far) in the targets, so Q-values stay of order
            ``1 / (1 - gamma)`` whatever the reward's unit (a queue reward of -30 vehicles
            per step would otherwise ask Adam to move the outputs to -3000).
    """

    hidden: int = 64
    learning_rate: float = 1e-3
    gamma: float = 0.99
    buffer_size: int = 50_000
    batch_size: int = 64
    learning_starts: int = 200
    gradient_steps: int = 1
    target_update: int = 250
    n_step: int = 3
    double_q: bool = True
    shared: bool = True
    max_grad_norm: float = 10.0
    scale_rewards: bool = True


class RunningStd:
    """Running mean and standard deviation of everything :meth:`update` saw (Chan et al.'s merge)."""

    def __init__(self) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, values: np.ndarray) -> None:
        """Fold a batch of values in."""
        n = values.size
        if n == 0:
            return
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        delta, total = mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.m2 += m2 + delta**2 * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        """Standard deviation (1.0 until two values were seen)."""
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 1.0


class BatchedMLP(nn.Module):
    """``num_nets`` two-hidden-layer MLPs evaluated together.

    Args:
        num_nets: number of independent networks.
        in_dim: input size.
        hidden: hidden width.
        out_dim: output size (actions).
    """

    def __init__(self, num_nets: int, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in ((in_dim, hidden), (hidden, hidden), (hidden, out_dim)):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(num_nets, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_nets, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[num_nets, batch, in_dim] -> [num_nets, batch, out_dim]``."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu(x)
        return x


class ReplayBuffer:
    """Device-resident ring buffer of n-step transitions for all signals of a step.

    Args:
        capacity: simulation steps kept.
        num_agents: signals per step.
        obs_dim: padded observation size.
        num_actions: padded action count.
        device: torch device.
    """

    def __init__(self, capacity: int, num_agents: int, obs_dim: int, num_actions: int, device: torch.device) -> None:
        self.capacity = capacity
        self.obs = torch.zeros(capacity, num_agents, obs_dim, device=device)
        self.actions = torch.zeros(capacity, num_agents, dtype=torch.int64, device=device)
        self.returns = torch.zeros(capacity, num_agents, device=device)
        self.next_obs = torch.zeros(capacity, num_agents, obs_dim, device=device)
        self.next_masks = torch.zeros(capacity, num_agents, num_actions, dtype=torch.bool, device=device)
        self.discounts = torch.zeros(capacity, device=device)
        self.position = 0
        self.size = 0

    def add(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        returns: torch.Tensor,
        next_obs: torch.Tensor,
        next_masks: torch.Tensor,
        discounts: torch.Tensor,
    ) -> None:
        """Store ``k`` transitions (leading dimension ``k`` on every argument)."""
        k = obs.shape[0]
        index = (torch.arange(k, device=obs.device) + self.position) % self.capacity
        self.obs[index] = obs
        self.actions[index] = actions
        self.returns[index] = returns
        self.next_obs[index] = next_obs
        self.next_masks[index] = next_masks
        self.discounts[index] = discounts
        self.position = (self.position + k) % self.capacity
        self.size = min(self.capacity, self.size + k)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Uniformly sample ``batch`` stored steps."""
        index = torch.randint(0, self.size, (batch,), generator=generator, device=generator.device)
        return (
            self.obs[index],
            self.actions[index],
            self.returns[index],
            self.next_obs[index],
            self.next_masks[index],
            self.discounts[index],
        )


class NStepAccumulator:
    """Turns per-step transitions of ``num_envs`` simulations into n-step transitions.

    Works on whole simulation steps (all signals at once, tensors ``[num_envs, N, ...]``).
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n, self.gamma = n, gamma
        self.pending: list[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = []

    def push(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        next_masks: torch.Tensor,
        done: list[bool],
        terminated: list[bool],
    ) -> tuple[torch.Tensor, ...] | None:
        """Add one step of every simulation; return the n-step transitions now complete.

        ``next_obs`` of a finished simulation is its final observation (before the reset);
        truncation bootstraps from it, termination does not.

        Returns:
            None, or ``(obs, actions, returns, next_obs, next_masks, discounts)`` stacked
            along a leading dimension (one entry per completed transition), as
            :meth:`ReplayBuffer.add` takes them.
        """
        if not self.pending:
            self.pending = [[] for _ in range(obs.shape[0])]
        out: list[tuple[Any, ...]] = []
        for e, queue in enumerate(self.pending):
            queue.append((obs[e], actions[e], rewards[e]))
            if len(queue) == self.n or done[e]:
                while queue:
                    out.append(self._emit(queue, next_obs[e], next_masks[e], terminated[e]))
                    queue.pop(0)
                    if not done[e]:
                        break
        if not out:
            return None
        *columns, discounts = zip(*out, strict=True)
        return (*(torch.stack(parts) for parts in columns), torch.tensor(discounts, device=obs.device))

    def _emit(
        self,
        queue: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        next_obs: torch.Tensor,
        next_mask: torch.Tensor,
        terminated: bool,
    ) -> tuple[Any, ...]:
        """One transition: first observation and action, n-step return, where it ends, its discount (a float)."""
        first_obs, first_action, ret = queue[0]
        for k, (_, _, reward) in enumerate(queue[1:], start=1):
            ret = ret + (self.gamma**k) * reward
        discount = 0.0 if terminated else self.gamma ** len(queue)
        return first_obs, first_action, ret, next_obs, next_mask, discount
