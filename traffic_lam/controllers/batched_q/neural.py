"""The neural batched Q-learner: batched Q-networks trained from a device replay buffer of n-step transitions.

A training step (:func:`traffic_lam.controllers.offpolicy.train` calls the methods): every
signal of every simulation picks the epsilon-greedy action of its network's Q-values; while
the simulations step, :meth:`NeuralBatchedQ.while_stepping` takes the gradient steps
(double-Q targets, rewards scaled by their running standard deviation, Huber loss);
:meth:`NeuralBatchedQ.update` turns the step's transitions into n-step ones and stores
them in the replay buffer. A warm start (``warm_start``) pre-trains the networks on an
expert's demonstrations (:meth:`NeuralBatchedQ._start_from`) and, with ``keep_demos``,
adds the demo loss on a demo batch to every gradient step.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from traffic_lam.controllers.batched_q.learner import BatchedQ, BatchedQConfig
from traffic_lam.controllers.batched_q.networks import BatchedMLP
from traffic_lam.controllers.batched_q.replay import DemoBuffer, NStepAccumulator, ReplayBuffer, RunningStd
from traffic_lam.controllers.offpolicy import TrainingPlan, Transitions
from traffic_lam.controllers.threads import seeded_torch
from traffic_lam.env.observations import LEARNER_OBSERVATION
from traffic_lam.imitation.warm_start import DemoSteps, large_margin_loss


@dataclass(frozen=True)
class NeuralConfig(BatchedQConfig):
    """Hyperparameters of the neural learner (its keyword arguments; the shared ones: :class:`BatchedQConfig`)."""

    observation: str = LEARNER_OBSERVATION
    """The observation it reads (a name of :data:`traffic_lam.env.observations.OBSERVATIONS`;
    default :data:`~traffic_lam.env.observations.LEARNER_OBSERVATION`)."""
    shared: bool = True
    """One network for all signals, the signal's one-hot id appended to its observation (parameter
    sharing), instead of one each; sharing learns better on RESCO grid4x4 (see README)."""
    hidden: int = 64
    """Width of the two hidden layers."""
    learning_rate: float = 1e-3
    """Adam step size."""
    anneal_lr: bool = False
    """Decay the step size linearly from ``learning_rate`` to 0 over the planned training decision
    steps (a resumed training's included; the warm start's pre-training runs at the full step size)."""
    buffer_size: int = 50_000
    """Replay capacity in simulation steps (each holds every signal)."""
    batch_size: int = 64
    """Simulation steps sampled per gradient step (each with every signal)."""
    learning_starts: int = 200
    """Simulation steps collected before learning starts."""
    gradient_steps: int = 1
    """Gradient steps per decision step (of all simulations together), taken while the simulations step."""
    target_update: int = 250
    """Gradient steps between target-network copies."""
    n_step: int = 3
    """Steps of reward summed before bootstrapping (truncated at the end of an episode, bootstrapped there)."""
    double_q: bool = True
    """Pick the next action with the online network, value it with the target network."""
    scale_rewards: bool = True
    """Divide rewards by their running standard deviation (over every signal and step seen so far) in the
    targets, so Q-values stay of order ``1 / (1 - gamma)`` whatever the reward's unit."""
    max_grad_norm: float = 10.0
    """Gradient clipping (global norm)."""

    family: ClassVar[str] = "neural"


class NeuralBatchedQ(BatchedQ):
    """Q-networks for every signal of every simulation, evaluated and trained in batched tensor operations.

    Saving writes the networks, the optimiser state and the reward statistics; a checkpoint
    adds the replay buffer's filled rows and the generator's state
    (:meth:`training_state`), so training resumes with what it had learned from. The
    n-step transitions still incomplete belong to the episodes in progress, which a resume
    restarts: they are dropped with them.

    Keyword arguments: the fields of :class:`NeuralConfig` (and ``mode="neural"``).
    """

    mode: ClassVar[str] = "neural"
    config_class: ClassVar[type[NeuralConfig]] = NeuralConfig

    def __init__(self, mode: str | None = None, **options: Any) -> None:
        super().__init__(mode, **options)
        self.online: BatchedMLP | None = None
        self.target: BatchedMLP | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.reward_std = RunningStd()
        self.gradient_updates = 0
        self.buffer: ReplayBuffer | None = None
        self.demo_buffer: DemoBuffer | None = None  # warm_start's demonstrations, while training keeps them

    def _build_model(self) -> None:
        config, n = self.config, len(self.agents)
        nets = 1 if config.shared else n
        in_dim = self.obs_dim + (n if config.shared else 0)
        with seeded_torch(config.seed):
            self.online = BatchedMLP(nets, in_dim, config.hidden, self.num_actions).to(self.device)
            self.target = BatchedMLP(nets, in_dim, config.hidden, self.num_actions).to(self.device)
        self.target.load_state_dict(self.online.state_dict())
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)
        self.agent_ids = torch.eye(n, device=self.device)

    def _values(self, state: Any) -> torch.Tensor:
        return self._forward(self.online, state)

    def _forward(self, net: BatchedMLP | None, obs: torch.Tensor) -> torch.Tensor:
        assert net is not None
        b, n, _ = obs.shape
        if self.config.shared:
            x = torch.cat([obs, self.agent_ids.expand(b, n, n)], dim=-1).reshape(1, b * n, -1)
            return net(x).reshape(b, n, -1)
        return net(obs.transpose(0, 1)).transpose(0, 1)

    # ------------------------------------------------------------------ training
    def _start(self, plan: TrainingPlan) -> None:
        self.buffer = ReplayBuffer(
            self.config.buffer_size, len(self.agents), self.obs_dim, self.num_actions, self.device
        )
        self.accumulator = NStepAccumulator(self.config.n_step, self.config.gamma)
        importlib.import_module("torch._dynamo")  # the optimizer's first step imports it: before the loop

    def while_stepping(self) -> None:
        """The decision step's gradient steps, while the simulations step."""
        assert self.buffer is not None
        self.gradient_steps(self.buffer)

    def update(self, batch: Transitions) -> Any:
        """Store the step's transitions (as n-step ones, once complete) in the replay buffer."""
        assert self.buffer is not None and self.stacker is not None
        rewards = self.stacker.convert(batch.rewards)
        self.reward_std.update(batch.rewards.reshape(-1))
        truncated_only = [False] * len(batch.dones)  # no terminal states: episodes end at a time limit
        completed = self.accumulator.push(
            batch.obs, batch.actions, rewards, batch.end_obs, batch.end_masks, batch.dones, truncated_only
        )
        if completed is not None:
            self.buffer.add(*completed)
        return batch.next_obs

    def gradient_steps(self, buffer: ReplayBuffer) -> None:
        """``gradient_steps`` steps on batches sampled from ``buffer`` (none before it holds ``learning_starts``)."""
        if buffer.size < self.config.learning_starts:
            return
        with torch.inference_mode(False):  # the training loop runs in inference mode
            for _ in range(self.config.gradient_steps):
                self._gradient_step(buffer)

    def _gradient_step(self, buffer: ReplayBuffer) -> None:
        """TD loss on a replay batch (plus, with a demo buffer, the demo loss on a demo batch); one optimiser step."""
        obs, actions, returns, next_obs, next_masks, discounts = buffer.sample(self.config.batch_size, self.generator)
        q = self._forward(self.online, obs)
        loss = self._td_loss(q, actions, returns, next_obs, next_masks, discounts)
        if self.demo_buffer is not None:
            loss = loss + self._demo_loss(self.demo_buffer)
        self._optimise(loss)

    def _td_loss(
        self,
        q: torch.Tensor,
        actions: torch.Tensor,
        returns: torch.Tensor,
        next_obs: torch.Tensor,
        next_masks: torch.Tensor,
        discounts: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Huber loss of the online Q-values ``q`` of ``actions`` against the (double-Q) n-step targets.

        ``weights`` ``[B]`` (bool) keeps the steps that count (None: all).
        """
        config = self.config
        with torch.no_grad():
            target_q = self._forward(self.target, next_obs).masked_fill_(~next_masks, float("-inf"))
            if config.double_q:
                online_next = self._forward(self.online, next_obs).masked_fill_(~next_masks, float("-inf"))
                next_value = target_q.gather(-1, online_next.argmax(-1, keepdim=True)).squeeze(-1)
            else:
                next_value = target_q.amax(-1)
            next_value = torch.nan_to_num(next_value, neginf=0.0)
            scale = 1.0 / max(self.reward_std.std, 1e-6) if config.scale_rewards else 1.0
            targets = returns * scale + discounts.unsqueeze(-1) * next_value
        taken = q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        if weights is None:
            return torch.nn.functional.smooth_l1_loss(taken, targets)
        errors = torch.nn.functional.smooth_l1_loss(taken, targets, reduction="none")
        kept = weights.to(errors.dtype).unsqueeze(-1).expand_as(errors)
        return (errors * kept).sum() / kept.sum().clamp(min=1.0)

    def _demo_loss(self, demos: DemoBuffer) -> torch.Tensor:
        """On a demo batch: TD loss of the expert-driven n-step transitions + ``margin_coef`` x the margin loss."""
        warm = self.config.warm_start
        batch = demos.sample(warm.batch_size, self.generator)
        q = self._forward(self.online, batch.obs)
        td = self._td_loss(q, batch.actions, batch.returns, batch.next_obs, batch.next_masks, batch.discounts, batch.td)
        return td + warm.margin_coef * large_margin_loss(q, batch.actions, batch.masks, warm.margin, batch.allowed)

    def _optimise(self, loss: torch.Tensor) -> None:
        """One clipped Adam step on ``loss`` (annealed: ``anneal_lr``); target copied every ``target_update`` steps."""
        assert self.online is not None and self.target is not None and self.optimizer is not None
        if self.config.anneal_lr:
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.learning_rate * self.remaining_fraction()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.online.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.gradient_updates += 1
        if self.gradient_updates % self.config.target_update == 0:
            self.target.load_state_dict(self.online.state_dict())

    # ------------------------------------------------------------------ warm start
    def _start_from(self, steps: DemoSteps, fresh: bool) -> None:
        """The demo buffer (n-step transitions); when ``fresh``, ``pretrain_steps`` steps on the demo loss alone.

        The reward statistics fold the demonstrations' rewards in first, so pre-training
        scales them as training will. Without ``keep_demos`` the buffer goes after pre-training.
        """
        warm, config = self.config.warm_start, self.config
        if not fresh and not warm.keep_demos:
            return
        demos = DemoBuffer.of(steps, config.n_step, config.gamma, self.device)
        if fresh:
            self.reward_std.update(steps.rewards.reshape(-1))
            with torch.inference_mode(False):
                for _ in range(warm.pretrain_steps):
                    self._optimise(self._demo_loss(demos))
        self.demo_buffer = demos if warm.keep_demos else None

    def _model(self) -> Any:
        return self.online

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        stats = self.reward_std
        return {
            **super()._state(),
            "gradient_updates": self.gradient_updates,
            "reward_stats": [stats.count, stats.mean, stats.m2],
        }

    def _restore(self, state: Any) -> None:
        super()._restore(state)
        self.gradient_updates = int(state["gradient_updates"])
        count, mean, m2 = state["reward_stats"]
        self.reward_std.count, self.reward_std.mean, self.reward_std.m2 = int(count), float(mean), float(m2)

    def training_state(self) -> dict[str, Any]:
        """The generator's state and the replay buffer (:meth:`ReplayBuffer.state_dict`)."""
        state = super().training_state()
        if self.buffer is not None:
            state["replay_buffer"] = self.buffer.state_dict()
        return state

    def restore_training_state(self, state: dict[str, Any]) -> None:
        """Restore the generator and refill the replay buffer :meth:`_start` made."""
        super().restore_training_state(state)
        if self.buffer is not None and "replay_buffer" in state:
            self.buffer.load_state_dict(state["replay_buffer"])

    def _tensors(self) -> dict[str, Any]:
        assert self.online is not None and self.target is not None and self.optimizer is not None
        return {
            "online": {k: v.cpu() for k, v in self.online.state_dict().items()},
            "target": {k: v.cpu() for k, v in self.target.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
        }

    def _load_tensors(self, tensors: Mapping[str, Any]) -> None:
        assert self.online is not None and self.target is not None and self.optimizer is not None
        self.online.load_state_dict(tensors["online"])
        self.target.load_state_dict(tensors["target"])
        self.optimizer.load_state_dict(tensors["optimizer"])
