"""What the neural learner learns from: n-step transitions in a device replay buffer, reward statistics.

``ReplayBuffer`` is preallocated on the device and stores n-step transitions of all
signals of a simulation step together; ``NStepAccumulator`` turns the loop's one-step
transitions into n-step ones; ``RunningStd`` scales rewards in the targets;
``DemoBuffer`` holds an expert's demonstrations (``warm_start``) as n-step transitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from traffic_lam.errors import ControllerError

if TYPE_CHECKING:
    from traffic_lam.imitation.warm_start import DemoSteps


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


class ReplayBuffer:
    """Device-resident ring buffer of n-step transitions for all signals of a step.

    Args:
        capacity: simulation steps kept.
        num_agents: signals per step.
        obs_dim: padded observation size.
        num_actions: padded action count.
        device: torch device.
    """

    FIELDS: ClassVar[tuple[str, ...]] = ("obs", "actions", "returns", "next_obs", "next_masks", "discounts")
    """The stored tensors (one row per simulation step)."""

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

    def state_dict(self) -> dict[str, Any]:
        """The filled rows of every tensor (on the CPU), the write position and the size (a checkpoint's)."""
        rows = {name: getattr(self, name)[: self.size].cpu() for name in self.FIELDS}
        return {**rows, "position": self.position, "size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Refill the buffer from :meth:`state_dict`.

        Raises:
            ControllerError: the saved transitions do not fit this buffer (another capacity or shape).
        """
        size = int(state["size"])
        try:
            if size > self.capacity:
                raise ValueError(f"{size} rows, capacity {self.capacity}")
            for name in self.FIELDS:
                getattr(self, name)[:size] = state[name]
        except (ValueError, RuntimeError, KeyError) as exc:
            message = f"batched-q: the checkpoint's replay buffer does not fit this learner ({exc})"
            raise ControllerError(message) from None
        self.position, self.size = int(state["position"]) % self.capacity, size

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


@dataclass(frozen=True)
class DemoBuffer:
    """An expert's demonstrations as n-step transitions of whole decisions (every signal), on the device.

    Attributes:
        obs: ``[M, N, D]`` observations.
        masks: ``[M, N, A]`` allowed actions there.
        actions: ``[M, N]`` the expert's actions.
        allowed: ``[M, N]`` whether the mask allows the expert's action (the entries the margin loss uses).
        returns: ``[M, N]`` n-step returns (raw rewards: scaled in the targets, as the replay buffer's).
        next_obs: ``[M, N, D]`` where they bootstrap (zeros where no TD).
        next_masks: ``[M, N, A]`` allowed actions there (none where no TD).
        discounts: ``[M]`` ``gamma ** n`` where TD applies, else 0.
        td: ``[M]`` whether the decision is a transition the expert drove, ``n`` decisions before its episode's end.
    """

    obs: torch.Tensor
    masks: torch.Tensor
    actions: torch.Tensor
    allowed: torch.Tensor
    returns: torch.Tensor
    next_obs: torch.Tensor
    next_masks: torch.Tensor
    discounts: torch.Tensor
    td: torch.Tensor

    @classmethod
    def of(cls, steps: DemoSteps, n: int, gamma: float, device: torch.device) -> DemoBuffer:
        """The n-step transitions of demonstrations regrouped by decision (axis 1 in the learner's signal order)."""
        later = steps.successors(n)
        has_td = later >= 0
        source = np.maximum(later, 0)
        values = {
            "obs": steps.obs, "masks": steps.masks, "actions": steps.actions, "allowed": steps.expert_allowed,
            "returns": steps.n_step_returns(steps.rewards, n, gamma),
            "next_obs": np.where(has_td[:, None, None], steps.obs[source], 0.0).astype(np.float32),
            "next_masks": steps.masks[source] & has_td[:, None, None],
            "discounts": np.where(has_td, gamma**n, 0.0).astype(np.float32), "td": has_td,
        }  # fmt: skip
        return cls(**{key: torch.as_tensor(np.ascontiguousarray(v), device=device) for key, v in values.items()})

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def sample(self, batch: int, generator: torch.Generator) -> DemoBuffer:
        """``batch`` decisions drawn uniformly (with replacement)."""
        index = torch.randint(0, len(self), (batch,), generator=generator, device=generator.device)
        return DemoBuffer(**{f.name: getattr(self, f.name)[index] for f in fields(self)})
