"""SB3 algorithms that start from an expert's demonstrations (``warm_start``; :mod:`traffic_lam.imitation.warm_start`).

:class:`FeaturizedDemos` turns the demonstrations into what the SB3 policy reads: every
signal of every decision through the learner's own
:class:`~traffic_lam.controllers.sb3.features.Featurizer` (own observation, signal one-hot
id, action mask last), its rewards mixed with the neighbours' as the training environment
mixes them, n-step returns and where they bootstrap.

* :class:`DemoDQN` (DQfD-style): :meth:`DemoDQN.warm_start` takes ``pretrain_steps``
  gradient steps on the demo loss (TD on the demo transitions + ``margin_coef`` x the
  large-margin loss); with ``keep_demos``, :meth:`DemoDQN.train` is SB3's update with the
  demo loss's gradient on a demo minibatch added before every optimiser step (a step
  pre-hook: the TD gradient is SB3's, clipped as SB3 clips it).
* :class:`DemoPPO`: :meth:`DemoPPO.warm_start` fits the actor to the expert's actions
  (masked cross-entropy); :meth:`DemoPPO.train` trains the critic alone for the first
  ``critic_warmup`` rollouts, then is SB3's update, with the cross-entropy on a demo
  minibatch added before every optimiser step while ``bc_coef`` has not decayed to 0.

Without demonstrations both are their parent algorithms. The demonstrations are not
saved with the model (a loaded learner acts; training attaches them again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from torch.nn import functional as F  # noqa: N812 (torch's convention)

from traffic_lam.controllers.sb3.features import Featurizer
from traffic_lam.controllers.sb3.policies import MaskedDQN
from traffic_lam.imitation.warm_start import DemoSteps, WarmStart, large_margin_loss

PRETRAIN_TARGET_EVERY = 100
"""Pre-training gradient steps between copies of DQN's online network into its target network."""


@dataclass(frozen=True)
class FeaturizedDemos:
    """Demonstrations as SB3 policy inputs: one row per signal per decision (decision-major, as the vec env).

    Attributes:
        obs: ``[K, F]`` policy inputs (the featurizer's layout, action mask last).
        actions: ``[K]`` the expert's actions.
        allowed: ``[K]`` whether the mask allows the expert's action (rows of the supervised losses).
        returns: ``[K]`` n-step returns of the (neighbour-mixed) rewards.
        next_obs: ``[K, F]`` the inputs the returns bootstrap from (zeros where no TD).
        discounts: ``[K]`` ``gamma ** n`` where TD applies, else 0.
        td: ``[K]`` whether the row is a transition the expert drove, ``n`` decisions before its episode's end.
        running: ``[K]`` running discounted returns (the statistic ``VecNormalize`` scales rewards by).
    """

    obs: np.ndarray
    actions: np.ndarray
    allowed: np.ndarray
    returns: np.ndarray
    next_obs: np.ndarray
    discounts: np.ndarray
    td: np.ndarray
    running: np.ndarray

    @classmethod
    def build(
        cls, steps: DemoSteps, featurizer: Featurizer, neighbour_reward: float, gamma: float, n: int = 1
    ) -> FeaturizedDemos:
        """Featurize ``steps`` for a learner with ``featurizer`` and ``n``-step returns of discount ``gamma``."""
        steps = steps.in_order(featurizer.agents)
        agents = featurizer.agents
        vectors = np.stack([featurizer.vectors(steps.observations(d), steps.infos(d)) for d in range(len(steps))])
        rewards = np.stack(
            [featurizer.neighbour_rewards(dict(zip(agents, r.tolist(), strict=True)), neighbour_reward)
             for r in steps.rewards]
        )  # fmt: skip
        later = steps.successors(n)
        has_td = later >= 0
        next_vectors = np.where(has_td[:, None, None], vectors[np.maximum(later, 0)], 0.0)
        k = vectors.shape[0] * vectors.shape[1]
        return cls(
            obs=vectors.reshape(k, -1).astype(np.float32),
            actions=steps.actions.reshape(k),
            allowed=steps.expert_allowed.reshape(k),
            returns=steps.n_step_returns(rewards, n, gamma).reshape(k),
            next_obs=next_vectors.reshape(k, -1).astype(np.float32),
            discounts=np.repeat(np.where(has_td, gamma**n, 0.0), len(agents)).astype(np.float32),
            td=np.repeat(has_td, len(agents)),
            running=steps.running_returns(rewards, gamma).reshape(k),
        )

    def __len__(self) -> int:
        return len(self.actions)

    def tensors(self, index: np.ndarray, device: Any, rewards: Any = None) -> dict[str, torch.Tensor]:
        """Rows ``index`` as tensors on ``device``; ``rewards`` scales the returns (``normalize_reward``)."""
        returns = self.returns[index] if rewards is None else rewards(self.returns[index])
        values = {
            "obs": self.obs[index], "actions": self.actions[index], "allowed": self.allowed[index],
            "returns": np.asarray(returns, dtype=np.float32), "next_obs": self.next_obs[index],
            "discounts": self.discounts[index], "td": self.td[index],
        }  # fmt: skip
        return {key: torch.as_tensor(value, device=device) for key, value in values.items()}


def masks_of(obs: torch.Tensor, num_actions: int) -> torch.Tensor:
    """The action masks at the end of policy inputs (the featurizer's layout)."""
    return obs[:, -num_actions:] > 0.5


class WithDemos:
    """What the warm-started SB3 algorithms share: the demonstrations attached, never saved with the model."""

    demos: FeaturizedDemos | None = None
    """The demonstrations (None: the plain algorithm); attached by :meth:`use_demos`."""
    warm: WarmStart | None = None
    """The warm-start settings."""
    warm_start_report: dict[str, Any] | None = None
    """What the warm start measured (saved with the model: a resumed training keeps it)."""

    def use_demos(
        self, steps: DemoSteps, featurizer: Featurizer, neighbour_reward: float, warm: WarmStart
    ) -> FeaturizedDemos:
        """Attach the demonstrations (``steps`` featurized, :meth:`_demo_horizon`-step returns) and the settings."""
        gamma = float(self.gamma)  # type: ignore[attr-defined]
        self.demos = FeaturizedDemos.build(steps, featurizer, neighbour_reward, gamma, self._demo_horizon())
        self.warm = warm
        return self.demos

    def _demo_horizon(self) -> int:
        """Steps of the demonstrations' returns (one by default)."""
        return 1

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "demos", "warm"]  # type: ignore[misc]


class DemoDQN(WithDemos, MaskedDQN):
    """MaskedDQN with a demo buffer: pre-training and a demo loss beside the TD loss (DQfD-style)."""

    def _demo_horizon(self) -> int:
        """This DQN's n-step returns."""
        return int(self.n_steps)

    def warm_start(self) -> None:
        """Pre-train: ``pretrain_steps`` gradient steps on the demo loss alone (the target network copied along)."""
        assert self.demos is not None and self.warm is not None
        normalizer = self.get_vec_normalize_env()
        if normalizer is not None:  # the return statistics start from the demonstrations' returns
            normalizer.ret_rms.update(self.demos.running)
        self.policy.set_training_mode(True)
        for step in range(1, self.warm.pretrain_steps + 1):
            loss = self.demo_loss()
            self.policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            if step % PRETRAIN_TARGET_EVERY == 0:
                self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.policy.set_training_mode(False)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's update; with ``keep_demos`` each optimiser step also descends the demo loss on a demo minibatch."""
        if self.demos is None or self.warm is None or not self.warm.keep_demos:
            super().train(gradient_steps, batch_size)
            return
        handle = self.policy.optimizer.register_step_pre_hook(self._add_demo_gradient)
        try:
            super().train(gradient_steps, batch_size)
        finally:
            handle.remove()

    def _add_demo_gradient(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        """Step pre-hook: add the demo loss's gradient to the TD gradient SB3 just computed."""
        with torch.enable_grad():
            self.demo_loss().backward()

    def demo_loss(self) -> torch.Tensor:
        """On a demo minibatch: TD loss of the expert-driven transitions + ``margin_coef`` x the large-margin loss."""
        assert self.demos is not None and self.warm is not None
        normalizer = self.get_vec_normalize_env()
        index = np.random.randint(0, len(self.demos), size=self.warm.batch_size)
        batch = self.demos.tensors(index, self.device, normalizer.normalize_reward if normalizer else None)
        n_actions = int(self.action_space.n)
        q = self.q_net(batch["obs"])
        with torch.no_grad():
            next_q = self.q_net_target(batch["next_obs"]).max(dim=1).values
            target = batch["returns"] + batch["discounts"] * next_q
        taken = q.gather(1, batch["actions"].unsqueeze(1)).squeeze(1)
        td = batch["td"].float()
        td_loss = (F.smooth_l1_loss(taken, target, reduction="none") * td).sum() / td.sum().clamp(min=1.0)
        margin = large_margin_loss(
            q, batch["actions"], masks_of(batch["obs"], n_actions), self.warm.margin, batch["allowed"]
        )
        return td_loss + self.warm.margin_coef * margin

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The greedy (masked) actions of policy inputs ``obs``."""
        actions, _ = self.predict(obs, deterministic=True)
        return np.asarray(actions)


def critic_parameters(policy: Any) -> list[torch.nn.Parameter]:
    """The parameters only the value estimate uses: its layers, its head, its own extractor when not shared."""
    parts = [policy.mlp_extractor.value_net, policy.value_net]
    if not policy.share_features_extractor:
        parts.append(policy.vf_features_extractor)
    return [p for part in parts for p in part.parameters()]


def actor_parameters(policy: Any) -> list[torch.nn.Parameter]:
    """Every other parameter: the (shared) extractor, the policy layers, ``action_net``."""
    critic = {id(p) for p in critic_parameters(policy)}
    return [p for p in policy.parameters() if id(p) not in critic]


class DemoPPO(WithDemos, MaskablePPO):
    """MaskablePPO that starts from a cloned actor, a critic warm-up and an optional BC regulariser."""

    def warm_start(self) -> None:
        """Fit the actor to the expert's actions: ``epochs`` passes of masked cross-entropy (Adam, ``lr``)."""
        assert self.demos is not None and self.warm is not None
        warm = self.warm
        optimizer = torch.optim.Adam(actor_parameters(self.policy), lr=warm.lr)
        rows = np.flatnonzero(self.demos.allowed)
        self.policy.set_training_mode(True)
        for _ in range(warm.epochs):
            order = np.random.permutation(rows)
            for start in range(0, len(order), warm.batch_size):
                loss = self.cross_entropy(order[start : start + warm.batch_size])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.policy.set_training_mode(False)

    def cross_entropy(self, index: np.ndarray) -> torch.Tensor:
        """The masked policy's cross-entropy on the expert's actions of demo rows ``index``."""
        assert self.demos is not None
        batch = self.demos.tensors(index, self.device)
        masks = masks_of(batch["obs"], int(self.action_space.n))
        distribution = self.policy.get_distribution(batch["obs"], action_masks=masks)
        return -distribution.log_prob(batch["actions"]).mean()

    def train(self) -> None:
        """The critic alone during the warm-up rollouts; then SB3's update, plus the BC gradient while it weighs."""
        if self.warm is not None and self.num_timesteps // (self.n_steps * self.n_envs) <= self.warm.critic_warmup:
            self._train_critic()
            return
        weight = self._bc_weight()
        if weight == 0.0:
            super().train()
            return
        handle = self.policy.optimizer.register_step_pre_hook(lambda *_: self._add_bc_gradient(weight))
        try:
            super().train()
        finally:
            handle.remove()

    def _train_critic(self) -> None:
        """``n_epochs`` passes of the value loss over the rollout; the actor's parameters stay as they are."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        actor = actor_parameters(self.policy)
        for _ in range(self.n_epochs):
            for data in self.rollout_buffer.get(self.batch_size):
                values = self.policy.predict_values(data.observations).flatten()
                loss = self.vf_coef * F.mse_loss(data.returns, values)
                self.policy.optimizer.zero_grad()
                loss.backward()
                for p in actor:
                    p.grad = None  # Adam skips a parameter without a gradient
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
        self._n_updates += self.n_epochs

    def _bc_weight(self) -> float:
        """``bc_coef``, decayed linearly to 0 over the first ``bc_decay`` of training (0 without demonstrations)."""
        if self.demos is None or self.warm is None or self.warm.bc_coef == 0.0:
            return 0.0
        progress = 1.0 - float(self._current_progress_remaining)
        return float(self.warm.bc_coef * max(0.0, 1.0 - progress / self.warm.bc_decay))

    def _add_bc_gradient(self, weight: float) -> None:
        """Step pre-hook: add the gradient of ``weight`` x the cross-entropy on a demo minibatch."""
        assert self.demos is not None and self.warm is not None
        index = np.random.choice(np.flatnonzero(self.demos.allowed), size=self.warm.batch_size)
        with torch.enable_grad():
            (weight * self.cross_entropy(index)).backward()

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The masked policy's most likely actions for policy inputs ``obs``."""
        masks = obs[:, -int(self.action_space.n) :] > 0.5
        actions, _ = self.predict(obs, deterministic=True, action_masks=masks)
        return np.asarray(actions)
