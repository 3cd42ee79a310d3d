"""Warm-starting a reinforcement learner from an expert: the ``warm_start`` argument of dqn, ppo and batched-q.

An ordinary controller argument in scenario YAML (or Python: ``PPOController(warm_start={...})``)::

    - name: ppo-from-greedy
      type: ppo
      args: {warm_start: {expert: greedy, episodes: 10, method: dagger}}

Before its first interaction the learner gets demonstrations (:func:`warm_start_demos`,
one function for every learner): the ``demos`` file, else ``episodes`` expert episodes
recorded on seeds from ``seed`` on (``method: bc``), or DAgger's aggregated dataset
(``method: dagger``: the expert's episodes, then ``iterations`` rounds of student rollouts
the expert labels; :func:`~traffic_lam.imitation.dagger.dagger`). They are checked
against the learner's environment (:meth:`~traffic_lam.imitation.dataset.DemoDataset.check_fits`)
and regrouped by decision (:class:`DemoSteps`: every signal of a decision together, the
layout the learners train on). Then each learner starts from them (its ``warm_start_from``):

* **dqn**, DQfD-style (Hester et al., 2018): the demonstrations sit in a demo buffer apart
  from the replay buffer. The demo loss is the large-margin loss
  ``J_E = max_a [Q(s, a) + l(a_E, a)] - Q(s, a_E)`` (``l = margin`` for ``a != a_E``, 0
  for ``a_E``, the max over the allowed greens) times ``margin_coef``, plus the TD loss on
  the demo transitions. ``pretrain_steps`` gradient steps on it alone come before the
  first interaction; with ``keep_demos`` (off by default) every gradient step of training
  adds its gradient on a demo minibatch beside the TD loss on the replay batch.
* **ppo**: the actor (the shared extractor, its policy layers, ``action_net``) is fitted
  to the expert's actions by masked cross-entropy (``epochs`` passes, ``lr``); the first
  ``critic_warmup`` rollouts then train the critic alone, the actor frozen, so the first
  policy updates start from values that know the expert's policy instead of unlearning
  it. With ``bc_coef`` the cross-entropy on a demo minibatch is added to every PPO
  update, its weight decaying linearly to 0 over the first ``bc_decay`` of training.
* **batched-q neural**: the Q-network is pre-trained on the demo loss for
  ``pretrain_steps`` (as dqn: margin + n-step TD on the demo transitions, rewards scaled
  by statistics the demonstrations' rewards start); with ``keep_demos`` every gradient
  step of training adds the demo loss on a demo minibatch.
* **batched-q tabular**: the table is initialised from the demonstrations. Each visited
  row (a hashed, discretised state) gets, for the action the expert chose most often
  there (ties: the lowest green), the mean discounted return-to-go the demonstrations
  observed from that state with that action, and every other action that value minus
  ``margin``: the greedy policy is the expert's on every visited state, on the scale of
  the rewards, and Q-learning refines both from there. Unvisited rows stay 0.

TD targets only use transitions the expert drove (episodes whose ``expert_share`` is 1): a
DAgger rollout's rewards follow the student's actions, not the labels; the margin and
cross-entropy losses use every row. Rows whose expert action the recorded mask forbids
are left out of those losses. A demonstration's rewards are the environment's, so a
learner that scales its rewards (``normalize_reward``, ``scale_rewards``) scales them
alike, from statistics the demonstrations fold in first.

What stays the learner's own: exploration (``exploration_initial_eps``,
``epsilon_start``, DQN's ``learning_starts`` of random actions) runs as configured; lower
it to act on the warm start from the first step. ``learner.warm_start_report`` holds the
rows, episodes and ``agreement``: the share of demo decisions where the warm-started
greedy policy chose the expert's action, measured right after the warm start (it is saved
with the learner). The ``warm_start`` settings are part of the learner's parameters;
loading a saved learner never records demonstrations. Resuming from a checkpoint skips
the warm-start phase; the demonstrations a training still uses (dqn's ``keep_demos``,
ppo's ``bc_coef``; batched-q always makes them) are made again, the same seeds giving
the same rows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from traffic_lam.errors import ConfigError
from traffic_lam.validation import require_int

METHODS = ("bc", "dagger")
"""How the demonstrations are made: the expert's episodes, or DAgger's aggregated dataset."""

FAMILIES = ("dqn", "ppo", "neural", "tabular")
"""The learners a warm start applies to (batched-q by its mode)."""


@dataclass(frozen=True, kw_only=True)
class WarmStart:
    """The ``warm_start`` argument of dqn, ppo and batched-q: where the demonstrations come from, how they are used.

    Build it from a mapping with :meth:`from_args` (one-line errors for unknown keys); the
    constructor checks every value.
    """

    expert: str = "greedy"
    """The expert: a controller name, ``module:Class``, or the path of a saved learner."""
    expert_args: dict[str, Any] = field(default_factory=dict)
    """The expert's constructor arguments."""
    method: Literal["bc", "dagger"] = "bc"
    """``bc``: the expert's own episodes; ``dagger``: those, then ``iterations`` rounds of
    student rollouts labelled by the expert (not with a signal-program expert)."""
    episodes: int = 5
    """Expert episodes (with ``dagger``: per iteration)."""
    iterations: int = 2
    """DAgger's student rounds after the expert's episodes (``method: dagger``)."""
    demos: str | None = None
    """A demonstrations file (``traffic-lam demos record``) instead of recording the expert's
    episodes (with ``dagger``: its iteration 0)."""
    seed: int = 20_000
    """SUMO seed of the first demonstration episode; the others count up (apart from the
    training seeds, 10000 on, validation's, 5000 on, and evaluation's, 0 on)."""
    epochs: int = 50
    """Passes of the supervised fits: ppo's actor, DAgger's clone."""
    lr: float = 1e-3
    """Adam's step size of those fits."""
    batch_size: int = 128
    """Demonstration rows (signal decisions) per minibatch; batched-q neural: decisions."""
    margin: float = 0.8
    """The large margin ``l(a_E, a)`` of a non-expert action (dqn, batched-q: also the
    tabular gap below the expert's action)."""
    margin_coef: float = 1.0
    """Weight of the margin loss beside the TD loss on demo transitions (dqn, batched-q neural)."""
    pretrain_steps: int = 1_000
    """Gradient steps on the demo loss alone before the first interaction (dqn, batched-q neural)."""
    keep_demos: bool = False
    """Keep the demo buffer during training: every gradient step adds the demo loss (dqn, batched-q neural).
    Off by default: with it the learner is held to the expert's actions for the whole
    training and ends near the expert instead of past it (docs/learning-from-an-expert.md)."""
    critic_warmup: int = 2
    """ppo: first rollouts whose updates train the critic only, the actor frozen."""
    bc_coef: float = 0.0
    """ppo: weight of the cross-entropy on demo minibatches added to the PPO loss (0: none)."""
    bc_decay: float = 0.5
    """ppo: share of training over which ``bc_coef`` decays linearly to 0."""

    READ_BY: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "margin": ("dqn", "neural", "tabular"),
        "margin_coef": ("dqn", "neural"),
        "pretrain_steps": ("dqn", "neural"),
        "keep_demos": ("dqn", "neural"),
        "critic_warmup": ("ppo",),
        "bc_coef": ("ppo",),
        "bc_decay": ("ppo",),
    }
    """The settings only some learners read (the others are every learner's)."""

    def __post_init__(self) -> None:
        if not isinstance(self.expert, str) or not self.expert:
            _refuse("expert", "a controller name or the path of a saved model", self.expert)
        if not isinstance(self.expert_args, Mapping):
            _refuse("expert_args", "a mapping of the expert's arguments", self.expert_args)
        object.__setattr__(self, "expert_args", dict(self.expert_args))
        if self.method not in METHODS:
            _refuse("method", f"one of {', '.join(METHODS)}", self.method)
        if self.demos is not None and (not isinstance(self.demos, str) or not self.demos):
            _refuse("demos", "the path of a demonstrations file or null", self.demos)
        for name, low in (("episodes", 1), ("iterations", 1), ("seed", 0), ("epochs", 1), ("batch_size", 1),
                          ("pretrain_steps", 0), ("critic_warmup", 0)):  # fmt: skip
            require_int(f"warm_start.{name}", getattr(self, name), low)
        for name, low, strict in (("lr", 0.0, True), ("margin", 0.0, True), ("margin_coef", 0.0, False),
                                  ("bc_coef", 0.0, False)):  # fmt: skip
            value = getattr(self, name)
            ok = _is_number(value) and (value > low if strict else value >= low)
            if not ok:
                _refuse(name, f"a finite number {'>' if strict else '>='} {low:g}", value)
        if not _is_number(self.bc_decay) or not 0.0 < self.bc_decay <= 1.0:
            _refuse("bc_decay", "a share of training in (0, 1]", self.bc_decay)
        if not isinstance(self.keep_demos, bool):
            _refuse("keep_demos", "true or false", self.keep_demos)
        if self.method == "bc" and self.iterations != WarmStart.iterations:
            _refuse("iterations", "no value with method: bc (a dagger setting)", self.iterations)

    @classmethod
    def from_args(cls, args: Any) -> WarmStart | None:
        """The warm start ``args`` describe: a mapping of its fields, an instance, or None (no warm start).

        Raises:
            ConfigError: not a mapping, an unknown key, or a bad value (one line naming the key).
        """
        if args is None or isinstance(args, WarmStart):
            return args
        if not isinstance(args, Mapping):
            raise ConfigError(f"warm_start: expected a mapping of settings or null, got {_shown(args)}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise ConfigError(f"warm_start: unknown key '{unknown[0]}', expected one of {', '.join(known)}")
        return cls(**{key: value for key, value in args.items() if value is not None})

    def check_family(self, family: str) -> None:
        """Refuse a setting ``family``'s learner does not read (one that differs from its default).

        Raises:
            ConfigError: e.g. ``warm_start.bc_coef: read only by ppo; dqn does not read it``.
        """
        for name, readers in self.READ_BY.items():
            if family not in readers and getattr(self, name) != getattr(WarmStart, name):
                readers_named = " and ".join(_learner_name(reader) for reader in readers)
                raise ConfigError(
                    f"warm_start.{name}: read only by {readers_named}; {_learner_name(family)} does not read it"
                )

    def seeds(self) -> range:
        """The SUMO seeds the demonstrations are recorded on (DAgger: every iteration's)."""
        rounds = 1 + (self.iterations if self.method == "dagger" else 0)
        return range(self.seed, self.seed + self.episodes * rounds)

    def settings(self) -> dict[str, Any]:
        """The fields as JSON-able values (what a saved learner's parameters hold)."""
        return dataclasses.asdict(self)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse(name: str, expected: str, value: Any) -> None:
    raise ConfigError(f"warm_start.{name}: expected {expected}, got {_shown(value)}")


# ---------------------------------------------------------------------- the demonstrations
def warm_start_demos(warm: WarmStart, make_env: Any, observation: Any, learner: str, budget: Any = None) -> Any:
    """The demonstrations a learner warm-starts from, checked against its environment.

    The ``demos`` file, else the expert's episodes (``bc``), else DAgger's aggregated
    dataset (``dagger``, starting from the file when one is given); the expert and the
    student run in this process.

    Args:
        warm: the settings.
        make_env: the learner's :class:`~traffic_lam.env.factory.EnvFactory` (``network``, ``options``).
        observation: the learner's observation spec.
        learner: the learner's name, for messages.
        budget: the learner's training budget, whose seeds the demonstrations must avoid (None: unchecked).

    Returns:
        A :class:`~traffic_lam.imitation.dataset.DemoDataset`.

    Raises:
        ConfigError: demonstration seeds that are training or validation seeds.
        ControllerError: a file or recording that does not fit the learner's environment, a bad expert.
    """
    from traffic_lam.imitation.dagger import dagger
    from traffic_lam.imitation.dataset import DemoDataset
    from traffic_lam.imitation.rollout import env_factory, record_demos

    if budget is not None and (warm.demos is None or warm.method == "dagger"):
        _check_apart(warm, budget)
    factory = env_factory(make_env)
    template = factory(observation=observation, control="agents")  # no simulation starts: spaces, layouts
    try:
        dataset = DemoDataset.load(warm.demos) if warm.demos is not None else None
        if dataset is not None:
            dataset.check_fits(template, observation, learner)
        if warm.method == "dagger":
            train = {"epochs": warm.epochs, "lr": warm.lr, "batch_size": warm.batch_size, "seed": warm.seed}
            dataset = dagger(
                factory, warm.expert, observation=observation, expert_args=warm.expert_args,
                iterations=warm.iterations, episodes=warm.episodes, seed=warm.seed, demos=dataset, train=train,
            ).dataset  # fmt: skip
        elif dataset is None:
            dataset = record_demos(
                factory, warm.expert, seeds=warm.seeds(), observation=observation, expert_args=warm.expert_args
            )
        dataset.check_fits(template, observation, learner)
    finally:
        template.close()
    return dataset


def _check_apart(warm: WarmStart, budget: Any) -> None:
    """Refuse demonstration seeds that are training or validation seeds of ``budget``."""
    seeds = warm.seeds()
    training = range(budget.seed, budget.seed + budget.episodes + budget.num_envs)
    clash = sorted((set(seeds) & set(training)) | (set(seeds) & set(budget.validation_seeds)))
    if clash:
        raise ConfigError(
            f"warm_start.seed: demonstration seeds {seeds.start}..{seeds.stop - 1} include {clash[0]}, a training "
            "or validation seed; expected seeds apart from them"
        )


@dataclass(frozen=True)
class DemoSteps:
    """Demonstrations regrouped by decision: entry ``d`` holds every signal of one decision.

    Decisions are in episode order, then time; axis 1 follows :attr:`signals`.

    Attributes:
        signals: signal ids.
        obs_sizes: each signal's own observation size.
        action_sizes: each signal's number of greens.
        obs: ``[M, N, D]`` observations (zero-padded).
        masks: ``[M, N, A]`` allowed greens.
        actions: ``[M, N]`` the expert's actions.
        rewards: ``[M, N]`` the environment's rewards after the decision.
        episodes: ``[M]`` episode numbers.
        expert_driven: ``[M]`` whether the decision's episode was driven by the expert throughout
            (``expert_share`` 1): its rewards and successors follow the expert's actions.
    """

    signals: tuple[str, ...]
    obs_sizes: tuple[int, ...]
    action_sizes: tuple[int, ...]
    obs: np.ndarray
    masks: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episodes: np.ndarray
    expert_driven: np.ndarray

    @classmethod
    def of(cls, dataset: Any) -> DemoSteps:
        """Regroup a :class:`~traffic_lam.imitation.dataset.DemoDataset`'s rows (one per signal per decision).

        Raises:
            ControllerError: a decision without a row for every signal.
        """
        from traffic_lam.errors import ControllerError

        n = len(dataset.signals)
        order = np.lexsort((dataset.signal_index, dataset.times, dataset.episodes))
        keys = np.stack([dataset.episodes[order], dataset.times[order]], axis=1)
        starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
        sizes = np.diff(np.r_[starts, len(order)])
        if len(order) == 0 or np.any(sizes != n):
            raise ControllerError(f"{dataset.name}: a decision without a row for every signal; cannot regroup it")
        rows = order.reshape(-1, n)
        if np.any(dataset.signal_index[rows] != np.arange(n)):
            raise ControllerError(f"{dataset.name}: a decision with a signal twice; cannot regroup it")
        if not np.take_along_axis(dataset.masks, dataset.actions[:, None], axis=1).any():
            raise ControllerError(f"{dataset.name}: no decision where the recorded mask allows the expert's action")
        driven = {e["episode"] for e in dataset.metadata.episodes if float(e.get("expert_share", 1.0)) >= 1.0}
        episodes = dataset.episodes[rows[:, 0]]
        return cls(
            signals=tuple(dataset.signals),
            obs_sizes=tuple(dataset.metadata.obs_sizes),
            action_sizes=tuple(dataset.metadata.action_sizes),
            obs=dataset.obs[rows].astype(np.float32),
            masks=dataset.masks[rows].astype(bool),
            actions=dataset.actions[rows].astype(np.int64),
            rewards=dataset.rewards[rows].astype(np.float32),
            episodes=episodes.astype(np.int64),
            expert_driven=np.isin(episodes, sorted(driven)),
        )

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def expert_allowed(self) -> np.ndarray:
        """``[M, N]`` whether the recorded mask allows the expert's action (rows the supervised losses use)."""
        return np.take_along_axis(self.masks, self.actions[..., None], axis=-1)[..., 0]

    def in_order(self, agents: list[str]) -> DemoSteps:
        """The same decisions with axis 1 in the order of ``agents`` (the learner's signal order)."""
        index = [self.signals.index(a) for a in agents]
        return dataclasses.replace(
            self, signals=tuple(agents), obs_sizes=tuple(self.obs_sizes[i] for i in index),
            action_sizes=tuple(self.action_sizes[i] for i in index), obs=self.obs[:, index],
            masks=self.masks[:, index], actions=self.actions[:, index], rewards=self.rewards[:, index],
        )  # fmt: skip

    def observations(self, d: int) -> dict[str, np.ndarray]:
        """Decision ``d``'s observations as the environment gave them (each signal its own size)."""
        return {a: self.obs[d, i, : self.obs_sizes[i]] for i, a in enumerate(self.signals)}

    def infos(self, d: int) -> dict[str, dict[str, Any]]:
        """What the demonstrations know of decision ``d``'s infos: each signal's ``action_mask``."""
        return {a: {"action_mask": self.masks[d, i, : self.action_sizes[i]].astype(np.int8)}
                for i, a in enumerate(self.signals)}  # fmt: skip

    def _positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Per decision, its position in its episode and the episode's number of decisions."""
        starts = np.flatnonzero(np.r_[True, self.episodes[1:] != self.episodes[:-1]])
        lengths = np.diff(np.r_[starts, len(self)])
        first = np.repeat(starts, lengths)
        return np.arange(len(self)) - first, np.repeat(lengths, lengths)

    def successors(self, n: int) -> np.ndarray:
        """``[M]`` the decision ``n`` later in the same expert-driven episode, -1 where there is none (no TD there)."""
        position, length = self._positions()
        later = np.arange(len(self)) + n
        return np.where((position + n < length) & self.expert_driven, later, -1)

    def n_step_returns(self, rewards: np.ndarray, n: int, gamma: float) -> np.ndarray:
        """``[M, N]`` ``sum_{k<n} gamma^k r_{d+k}`` within the episode (meaningful where :meth:`successors` >= 0)."""
        position, length = self._positions()
        out = np.zeros_like(rewards, dtype=np.float32)
        for k in range(n):
            inside = position + k < length
            index = np.minimum(np.arange(len(self)) + k, len(self) - 1)
            out += np.where(inside[:, None], (gamma**k) * rewards[index], 0.0).astype(np.float32)
        return out

    def returns_to_go(self, gamma: float) -> np.ndarray:
        """``[M, N]`` the discounted rewards from each decision to its episode's end."""
        out = np.zeros_like(self.rewards)
        following = np.zeros(self.rewards.shape[1], dtype=np.float32)
        for d in range(len(self) - 1, -1, -1):
            last = d == len(self) - 1 or self.episodes[d + 1] != self.episodes[d]
            following = self.rewards[d] + (0.0 if last else gamma) * following
            out[d] = following
        return out

    def running_returns(self, rewards: np.ndarray, gamma: float) -> np.ndarray:
        """``[M, N]`` ``R_d = gamma R_{d-1} + r_d`` from each episode's start (what ``VecNormalize`` tracks)."""
        out = np.zeros_like(rewards, dtype=np.float64)
        running = np.zeros(rewards.shape[1])
        for d in range(len(self)):
            first = d == 0 or self.episodes[d - 1] != self.episodes[d]
            running = rewards[d] + (0.0 if first else gamma) * running
            out[d] = running
        return out


def demo_report(dataset: Any, steps: DemoSteps, chosen: np.ndarray) -> dict[str, Any]:
    """What a warm start reports: rows, decisions, episodes, the expert, ``agreement`` of ``chosen`` ``[M, N]``."""
    allowed = steps.expert_allowed
    agreement = float(np.mean((chosen == steps.actions)[allowed])) if allowed.any() else None
    return {
        "rows": len(dataset),
        "decisions": len(steps),
        "episodes": len(dataset.metadata.episodes),
        "expert": dataset.metadata.expert,
        "agreement": agreement,
    }


def large_margin_loss(
    q: torch.Tensor, actions: torch.Tensor, masks: torch.Tensor, margin: float, rows: torch.Tensor
) -> torch.Tensor:
    """DQfD's supervised loss ``max_a [Q(s, a) + l(a_E, a)] - Q(s, a_E)``, averaged over ``rows``.

    ``l(a_E, a)`` is ``margin`` for ``a != a_E`` and 0 for the expert's action; the max runs
    over the allowed actions. The loss is 0 once the expert's action leads every other
    allowed one by the margin.

    Args:
        q: Q-values ``[..., A]``.
        actions: the expert's actions ``[...]``.
        masks: allowed actions ``[..., A]`` (bool).
        margin: the margin of a non-expert action.
        rows: ``[...]`` bool, the entries that count (the expert's action allowed).
    """
    expert = torch.nn.functional.one_hot(actions, q.shape[-1]).bool()
    allowed = masks | expert
    scores = (q + margin * (~expert).to(q.dtype)).masked_fill(~allowed, float("-inf")).amax(-1)
    loss = scores - q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    weight = rows.to(q.dtype)
    return (loss * weight).sum() / weight.sum().clamp(min=1.0)


def _learner_name(family: str) -> str:
    """``neural`` and ``tabular`` (the two batched-q modes in :attr:`WarmStart.READ_BY`) as users name them."""
    return f"{family} batched-q" if family in ("neural", "tabular") else family
