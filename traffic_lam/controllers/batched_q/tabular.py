"""The tabular batched Q-learner: a hashed Q-table updated with every signal's transition of a step at once.

A training step (:func:`traffic_lam.controllers.offpolicy.train` calls the methods): every
signal of every simulation picks the epsilon-greedy action of its state's table row;
the simulations step; :meth:`TabularBatchedQ.update` hashes the observations the
transitions end in and applies the ``B x N`` Q-learning updates in one call
(:meth:`~traffic_lam.controllers.batched_q.table.TabularQ.learn`). A state is hashed once:
the rows of the next observations serve this step's update and the next step's choice.

On a CPU the table runs compiled kernels (:mod:`.kernels`) on numpy arrays, so the loop
stacks into numpy arrays; elsewhere tensor operations on the device.

A warm start (``warm_start``) initialises the rows of the states an expert's
demonstrations visited so that the expert's action leads by ``margin``
(:meth:`~traffic_lam.controllers.batched_q.table.TabularQ.prefer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from traffic_lam.controllers.batched_q.learner import BatchedQ, BatchedQConfig, resolve_device
from traffic_lam.controllers.batched_q.table import TabularQ
from traffic_lam.controllers.offpolicy import TrainingPlan, Transitions
from traffic_lam.errors import ConfigError
from traffic_lam.imitation.warm_start import DemoSteps
from traffic_lam.validation import require_int

KERNELS = ("auto", "numba", "torch")


@dataclass(frozen=True)
class TabularConfig(BatchedQConfig):
    """Hyperparameters of the tabular learner (its keyword arguments; the shared ones: :class:`BatchedQConfig`)."""

    observation: str = "wave"
    """The observation it reads (a name of :data:`traffic_lam.env.observations.OBSERVATIONS`):
    ``"wave"``, one vehicle count per green, gives few states that recur (the neural learners'
    ``"wave-staleness"`` multiplies them by the orders the greens can have shown in); the per-lane
    ``"default"`` at 10 bins gives 10^16 states on a 4-arm intersection, and evaluation then
    meets mostly unknown states."""
    shared: bool = False
    """One table for all signals instead of one each (sumo-rl's setting: one each)."""
    bins: int = 6
    """Bins per observation feature: equal bins over a bounded feature's range, unbounded ones
    (vehicle counts) on a log2 scale: with 6 bins 0 | 1-2 | 3-6 | 7-14 | 15-30 | 31+ vehicles (see
    :class:`~traffic_lam.controllers.batched_q.table.Discretiser`). sumo-rl's discretisation is
    ``observation="default", bins=10``."""
    table_size: int = 1 << 16
    """Hashed state buckets per table."""
    alpha: float = 0.1
    """Learning rate."""
    kernels: str = "auto"
    """``"numba"`` (compiled loops, CPU), ``"torch"`` (tensor operations) or ``"auto"`` (numba on a
    CPU, torch on a GPU); the same results up to floating point."""

    family: ClassVar[str] = "tabular"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernels not in KERNELS or (self.kernels == "numba" and resolve_device(self.device).type != "cpu"):
            raise ConfigError(
                f"batched-q: kernels: expected auto, torch, or numba on a CPU device, got {self.kernels!r}"
            )
        require_int("batched-q: bins", self.bins, 1)


class TabularBatchedQ(BatchedQ):
    """Tabular Q-learning of every signal of every simulation in one batched update (``mode="tabular"``).

    A checkpoint holds the table and the generator's state; there is no replay buffer to
    save (each step's transitions update the table at once and are not kept).

    Keyword arguments: the fields of :class:`TabularConfig` (and ``mode="tabular"``).
    """

    mode: ClassVar[str] = "tabular"
    config_class: ClassVar[type[TabularConfig]] = TabularConfig
    table: TabularQ | None = None
    """The Q-table (built for the signals by :meth:`build`)."""

    def _build_model(self) -> None:
        config, bounds = self.config, (self.obs_low, self.obs_high)
        self.table = TabularQ(config, *bounds, self.num_actions, self.device, config.seed, config.kernels)

    def _array_device(self) -> torch.device | None:
        """Numpy arrays for the compiled kernels (they take them as they are), else tensors on the device."""
        assert self.table is not None
        return None if self.table.compiled else self.device

    def state_of(self, obs: Any) -> Any:
        """Table rows ``[B, N]`` of observations ``[B, N, D]``."""
        assert self.table is not None
        return self.table.rows(obs)

    def _values(self, state: Any) -> torch.Tensor:
        assert self.table is not None
        return self.table.values(state)

    def _select(self, state: Any, masks: Any, current: Any, epsilon: float) -> Any:
        """On the compiled kernels one compiled loop (the same rule); else the tensor operations."""
        assert self.table is not None
        if not self.table.compiled:
            return super()._select(state, masks, current, epsilon)
        return self.table.select(state, masks, current, self._tie_order, epsilon, self._draws(masks, epsilon))

    # ------------------------------------------------------------------ training
    def _start(self, plan: TrainingPlan) -> None:
        shape, gamma = (plan.num_envs, len(self.agents)), self.config.gamma
        self._discounts: Any = torch.full(shape, gamma, device=self.device)
        if self._array_device() is None:
            self._discounts = np.full(shape, gamma, dtype=np.float32)
        self._distinct = plan.num_envs == 1 and not self.config.shared  # no (row, action) twice in a step

    def update(self, batch: Transitions) -> Any:
        """Apply the step's ``B x N`` updates; the rows of the next observations (hashed on the way)."""
        assert self.table is not None and self.stacker is not None
        rewards = self.stacker.convert(batch.rewards)
        ends, discounts = (batch.end_obs, batch.end_masks), self._discounts  # discounts: time limits, bootstrap
        end_state = self.table.learn(batch.state, batch.actions, rewards, *ends, discounts, distinct=self._distinct)
        return self.state_of(batch.next_obs) if any(batch.dones) else end_state

    # ------------------------------------------------------------------ warm start
    def _start_from(self, steps: DemoSteps, fresh: bool) -> None:
        """When ``fresh``: the visited rows prefer the expert's action (:meth:`TabularQ.prefer`); nothing is kept."""
        assert self.table is not None and self.stacker is not None
        if not fresh:
            return
        rows = self.table.rows(self.stacker.convert(steps.obs))
        rows = rows.cpu().numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows)
        kept = steps.expert_allowed
        returns = steps.returns_to_go(self.config.gamma)
        self.table.prefer(rows[kept], steps.actions[kept], returns[kept], self.config.warm_start.margin)

    def _model(self) -> Any:
        return self.table

    # ------------------------------------------------------------------ persistence
    def _tensors(self) -> dict[str, Any]:
        assert self.table is not None
        return {"q_table": self.table.q.cpu()}

    def _load_tensors(self, tensors: Mapping[str, Any]) -> None:
        assert self.table is not None
        self.table.q.copy_(tensors["q_table"].to(self.device))
