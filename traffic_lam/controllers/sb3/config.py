"""Hyperparameters of the SB3 learners: one frozen dataclass per learner, each default written once.

A scenario's ``args:`` for ``dqn`` / ``ppo`` are the fields of :class:`DQNConfig` /
:class:`PPOConfig`. Every field whose name the SB3 algorithm's constructor takes
(``learning_rate``, ``gamma``, ``seed``, ``device`` ...) is passed to it; the others
(``sharing``, ``neighbours`` ...) are the learner's own. Any other argument of the SB3
constructor goes, unchanged, under ``sb3``::

    args: {learning_rate: 0.0005, sb3: {max_grad_norm: 5, exploration_initial_eps: 0.5}}

``warm_start`` starts the learner from an expert (:mod:`traffic_lam.imitation.warm_start`)::

    args: {warm_start: {expert: greedy, episodes: 10, method: dagger}}

Steps count *signal-steps*: one simulation step of 16 signals is 16 (every signal of every
simulation is one sample of the shared policy).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

from traffic_lam.env.observations import LEARNER_OBSERVATION
from traffic_lam.errors import ConfigError
from traffic_lam.imitation.warm_start import WarmStart

SET_BY_LEARNER = frozenset({"policy", "env", "policy_kwargs", "tensorboard_log", "verbose", "_init_setup_model"})
"""Arguments of the SB3 constructors the learner sets itself (not settable through ``sb3``)."""


@dataclass(frozen=True, kw_only=True)
class SB3Config:
    """What every SB3 learner is configured by (the learners' dataclasses add the algorithm's own)."""

    observation: str = LEARNER_OBSERVATION
    """The observation it reads (a name of :data:`traffic_lam.env.observations.OBSERVATIONS`;
    default :data:`~traffic_lam.env.observations.LEARNER_OBSERVATION`)."""

    sharing: Literal["shared", "independent"] = "shared"
    """``"shared"``: one network for every signal, with the signal's one-hot id in its input;
    ``"independent"``: every signal its own hidden layers (``PerSignalExtractor``)."""

    neighbours: bool = False
    """Add each neighbour's queue occupancy and phase to a signal's input (adjacency read from the network)."""

    neighbour_reward: float = 0.0
    """Weight of the neighbours' mean reward added to each signal's reward."""

    normalize_reward: bool = False
    """Train on rewards divided by a running estimate of the discounted return's standard
    deviation, clipped to +-10 (SB3 ``VecNormalize``)."""

    hidden: int = 64
    """Width of the two hidden layers."""

    anneal_lr: bool = False
    """Decay ``learning_rate`` linearly to 0 over the training budget (cleanrl's PPO does by
    default): late updates shrink, so the final policy moves less from one update to the next."""

    gamma: float = 0.99
    """Discount factor (also the horizon of the return whose spread scales rewards)."""

    device: str = "auto"
    """``"auto"``, ``"cpu"`` or ``"cuda"``."""

    torch_threads: int = 1
    """CPU threads of torch's operations while it trains (0: leave torch's setting alone); one
    is enough for these small networks while the simulations keep the other cores busy
    (:func:`traffic_lam.controllers.threads.torch_threads`)."""

    seed: int = 0
    """Seeds the learner (network initialisation, exploration, sampled actions)."""

    sb3: dict[str, Any] = field(default_factory=dict)
    """Any other keyword argument of the SB3 algorithm's constructor (e.g. ``max_grad_norm``)."""

    warm_start: WarmStart | None = None
    """Start from an expert before training (``{expert, method: bc | dagger, episodes, ...}``:
    :class:`~traffic_lam.imitation.warm_start.WarmStart`); None: from scratch."""

    family: ClassVar[str] = ""
    """The learner whose ``warm_start`` settings apply (:meth:`WarmStart.check_family`)."""

    def __post_init__(self) -> None:
        warm = WarmStart.from_args(self.warm_start)
        object.__setattr__(self, "warm_start", warm)
        if warm is None:
            return
        if self.family:
            warm.check_family(self.family)
        if self.neighbours:
            raise ConfigError("warm_start: not with neighbours: true (demonstrations record no neighbour features)")

    @classmethod
    def from_args(cls, learner: str, args: Mapping[str, Any]) -> SB3Config:
        """The configuration ``args`` (a scenario's ``args:``) describe; a None value takes the field's default.

        Raises:
            ConfigError: a key that is not a field, a bad ``warm_start``, or a ``sharing`` that is
                not one of the two.
        """
        known = sorted(f.name for f in fields(cls))
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise ConfigError(f"{learner}: unknown hyperparameter '{unknown[0]}', expected one of {', '.join(known)}")
        try:
            config = cls(**{key: value for key, value in args.items() if value is not None})
        except ConfigError as exc:
            raise ConfigError(f"{learner}: {exc}") from None
        if config.sharing not in ("shared", "independent"):
            raise ConfigError(f"{learner}: sharing: expected one of shared, independent, got {config.sharing!r}")
        return config

    def algorithm_kwargs(self, learner: str, algorithm: type) -> dict[str, Any]:
        """Keyword arguments of ``algorithm``'s constructor: the fields it takes, then :attr:`sb3`.

        Raises:
            ConfigError: a key of :attr:`sb3` the constructor does not take, one the learner
                sets itself, or one that is a field of this dataclass.
        """
        accepted = set(inspect.signature(algorithm).parameters) - SET_BY_LEARNER
        own = {f.name for f in fields(self)}
        for key in self.sb3:
            if key in own:
                raise ConfigError(f"{learner}: sb3: '{key}' is a setting of its own, give it as `{key}:` instead")
            if key not in accepted:
                raise ConfigError(
                    f"{learner}: sb3: unknown {algorithm.__name__} argument '{key}', expected one of "
                    f"{', '.join(sorted(accepted - own))}"
                )
        kwargs = {**{name: getattr(self, name) for name in sorted(own & accepted)}, **self.sb3}
        if self.anneal_lr:  # progress runs over the whole budget, a resumed training's included
            from stable_baselines3.common.utils import LinearSchedule

            kwargs["learning_rate"] = LinearSchedule(float(kwargs["learning_rate"]), 0.0, 1.0)
        return kwargs


@dataclass(frozen=True, kw_only=True)
class DQNConfig(SB3Config):
    """SB3 DQN (masked Q-values) hyperparameters."""

    family: ClassVar[str] = "dqn"

    learning_rate: float = 1e-3
    """Adam step size."""

    buffer_size: int = 50_000
    """Replay buffer capacity, in signal-steps."""

    learning_starts: int = 1_000
    """Signal-steps of uniformly random (allowed) actions before the first update."""

    batch_size: int = 128
    """Transitions per gradient step."""

    train_freq: int = 1
    """Update every this many vector-env steps."""

    gradient_steps: int = 2
    """Gradient steps per update."""

    target_update_interval: int = 2_000
    """Signal-steps between target-network copies."""

    exploration_fraction: float = 0.3
    """Share of training over which epsilon decays to :attr:`exploration_final_eps`."""

    exploration_final_eps: float = 0.05
    """Epsilon after the decay."""


@dataclass(frozen=True, kw_only=True)
class PPOConfig(SB3Config):
    """sb3-contrib MaskablePPO hyperparameters.

    Defaults: 10 epochs and no entropy bonus; a policy trained with an entropy bonus tends
    to stay random where it should commit to a green.
    """

    family: ClassVar[str] = "ppo"

    normalize_reward: bool = True
    """As :attr:`SB3Config.normalize_reward`; on for PPO, whose updates need rewards of a steady scale."""

    deterministic: bool = True
    """Act with the policy's most likely action; ``False`` samples from it, as in training
    (sample a policy that stayed random: its most likely action can lock the network)."""

    learning_rate: float = 3e-4
    """Adam step size."""

    n_steps: int = 64
    """Steps per signal per simulation before an update (samples per update: x signals x simulations)."""

    batch_size: int = 256
    """Samples per minibatch."""

    n_epochs: int = 10
    """Passes over the rollout per update."""

    gae_lambda: float = 0.95
    """GAE trade-off between bias and variance."""

    ent_coef: float = 0.0
    """Entropy bonus weight."""

    clip_range: float = 0.2
    """PPO clipping of the policy ratio."""
