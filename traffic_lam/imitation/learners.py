"""The imitation learners: ``bc`` (behaviour cloning) and ``dagger``, as controllers.

Both fit a :class:`~traffic_lam.imitation.policy.ClonePolicy` (one masked MLP shared by
every signal, the signal's one-hot id in its input) to an expert's actions and act with
the argmax allowed green. ``bc`` records the expert on the budget's seeds (or reads a
recorded ``demos`` file) and clones it; ``dagger`` adds student rollouts labelled by the
expert (:func:`~traffic_lam.imitation.dagger.dagger`).

Reports: :attr:`ImitationLearner.report` (held-out accuracy ...) and, when the budget
names a curve file, the curve (``bc``: one row per epoch; ``dagger``: one row per
iteration, with the rollout's ``delay_s``) and ``<curve stem>.<name>.json`` beside it.
Saving follows :meth:`~traffic_lam.controllers.Controller.save`: the document holds the
signals, the policy's shape and the report, the artefact (``torch.save`` of the state
dict, loadable with ``weights_only=True``) the weights.
"""

from __future__ import annotations

import dataclasses
import json
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import torch

from traffic_lam.controllers.base import Controller
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.layouts import SignalSizes, check_layout, network_name
from traffic_lam.env.observations import LEARNER_OBSERVATION
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.files import atomic_write_text, write_csv
from traffic_lam.imitation.dagger import dagger, student_of
from traffic_lam.imitation.dataset import DemoDataset
from traffic_lam.imitation.policy import ClonePolicy, train_clone
from traffic_lam.imitation.rollout import env_factory, record_demos
from traffic_lam.validation import require_int


@dataclass(frozen=True)
class CloneConfig:
    """Settings of the ``bc`` learner (its keyword arguments)."""

    expert: str = "greedy"
    """The expert: a controller name, ``module:Class``, or the path of a saved learner."""
    expert_args: dict[str, Any] = field(default_factory=dict)
    """The expert's constructor arguments."""
    episodes: int | None = None
    """Expert episodes to record (None: the training budget's episodes); seeds from the budget's seed on."""
    observation: Any = LEARNER_OBSERVATION
    """The learner's observation (that of the neural learners it may warm-start)."""
    demos: str | None = None
    """A recorded demonstrations file to learn from instead of recording (``traffic-lam demos record``)."""
    hidden: int = 64
    """Width of the policy's two hidden layers."""
    epochs: int = 200
    """Passes over the demonstrations (a clone has to fit them nearly exactly: one wrong decision
    in ten thousand can send a trajectory away from the expert's)."""
    lr: float = 1e-3
    """Adam's learning rate."""
    batch_size: int = 256
    """Rows per gradient step."""
    holdout_episodes: int = 1
    """Last episodes held out to measure the accuracy on (none when the demonstrations have no more)."""
    seed: int = 0
    """Seeds initialisation and shuffling."""
    device: str = "cpu"
    """torch device of training and acting."""

    def __post_init__(self) -> None:
        if self.episodes is not None:
            require_int("episodes", self.episodes, 1)
        if not isinstance(self.expert, str) or not self.expert:
            raise ConfigError(f"expert: expected a controller name or a model path, got {self.expert!r}")


@dataclass(frozen=True)
class DaggerConfig(CloneConfig):
    """Settings of the ``dagger`` learner: ``bc``'s, plus the iterations and the expert mixture."""

    iterations: int = 3
    """Student rollouts after the expert's demonstrations (each of ``episodes`` episodes)."""
    beta: float = 0.5
    """Probability of executing the expert's action at a decision in the first student iteration."""
    beta_decay: float = 0.5
    """Factor applied to ``beta`` at every later iteration."""


class ImitationLearner(Controller):
    """What ``bc`` and ``dagger`` share: settings, acting, saving; :meth:`_fit` trains.

    Args:
        **settings: fields of the learner's :attr:`config_class`.

    Raises:
        ConfigError: an unknown setting or a bad value.
    """

    observation: ClassVar[str | None] = LEARNER_OBSERVATION  # per instance: its ``observation`` option
    needs_training: ClassVar[bool] = True
    artefact: ClassVar[str | None] = "torch"
    config_class: ClassVar[type[CloneConfig]] = CloneConfig

    def __init__(self, **settings: Any) -> None:
        known = [f.name for f in dataclasses.fields(self.config_class)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ConfigError(f"{self.name}: unknown option {unknown[0]!r}: expected one of {', '.join(known)}")
        self.config = self.config_class(**settings)
        super().__init__(**dataclasses.asdict(self.config))
        self.policy: ClonePolicy | None = None
        self.sizes: SignalSizes | None = None
        self.report: dict[str, Any] = {}
        """What training measured (held-out accuracy, rows, the expert ...)."""

    def observation_spec(self) -> Any:
        """The observation this learner was configured with."""
        return self.config.observation

    @property
    def holdout_accuracy(self) -> float | None:
        """Held-out action accuracy of the last training (None when nothing was held out)."""
        return self.report.get("holdout_accuracy")

    # ------------------------------------------------------------------ training
    def _learn(self, make_env: Any, budget: TrainingBudget) -> None:
        factory = env_factory(make_env)
        demos = self._demos(factory)
        dataset, report, curve = self._fit(factory, budget, demos)
        self.policy = report.pop("policy")
        self.sizes = SignalSizes.of(dataset.signals, dataset.metadata.obs_sizes, dataset.metadata.action_sizes)
        self.report = {**report, "expert": dataset.metadata.expert, "rows": len(dataset)}
        if budget.curve_file is not None:
            budget.curve_file.parent.mkdir(parents=True, exist_ok=True)
            write_csv(budget.curve_file, curve)
            path = budget.curve_file.with_name(f"{budget.curve_file.stem}.{self.name}.json")
            atomic_write_text(path, json.dumps(self.report, indent=2, sort_keys=True, default=str) + "\n")

    def _demos(self, factory: Any) -> DemoDataset | None:
        """The configured demonstrations file, checked against this learner's environment (None: record)."""
        if self.config.demos is None:
            return None
        dataset = DemoDataset.load(self.config.demos)
        env = factory(observation=self.config.observation, control="agents")
        dataset.check_fits(env, self.config.observation, self.name)
        return dataset

    @abstractmethod
    def _fit(
        self, factory: Any, budget: TrainingBudget, demos: DemoDataset | None
    ) -> tuple[DemoDataset, dict[str, Any], list[dict[str, Any]]]:
        """Train; return the dataset, the report (with the ``policy``) and the curve rows."""

    def _train_settings(self) -> dict[str, Any]:
        c = self.config
        return {"hidden": c.hidden, "epochs": c.epochs, "lr": c.lr, "batch_size": c.batch_size, "seed": c.seed,
                "device": c.device}  # fmt: skip

    # ------------------------------------------------------------------ acting
    def _setup(self, env: Any) -> None:
        if self.policy is None or self.sizes is None:
            raise ControllerError(f"{self.name}: not trained; call learn() or load a saved model first")
        spaces = (env.observation_spaces.__getitem__, env.action_spaces.__getitem__)
        found = SignalSizes.from_spaces(sorted(env.possible_agents), *spaces)
        check_layout(self.name, self.sizes, found, network_name(env))
        self._student = student_of(self.policy, list(self.sizes.agents))

    def _act(self, observations: Mapping[str, Any], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        return self._student(observations, infos)

    # ------------------------------------------------------------------ persistence (base class hooks)
    def _state(self) -> dict[str, Any]:
        if self.policy is None or self.sizes is None:
            raise ControllerError(f"{self.name}: nothing to save, the learner is not trained")
        sizes = self.sizes
        return {
            "signals": list(sizes.agents), "obs_sizes": list(sizes.obs_sizes), "action_sizes": list(sizes.action_sizes),
            "policy": dict(self.policy.shape), "report": json.loads(json.dumps(self.report, default=str)),
        }  # fmt: skip

    def _restore(self, state: Any) -> None:
        if not isinstance(state, Mapping) or not isinstance(state.get("policy"), Mapping):
            raise ControllerError(f"{self.name}: the saved document has no policy shape (retrain the learner)")
        self.sizes = SignalSizes.of(state["signals"], state["obs_sizes"], state["action_sizes"])
        self.policy = ClonePolicy(**{k: int(v) for k, v in state["policy"].items()})
        self.report = dict(state.get("report") or {})

    def _save_artefact(self, handle: BinaryIO) -> None:
        assert self.policy is not None
        torch.save({k: v.cpu() for k, v in self.policy.state_dict().items()}, handle)

    def _load_artefact(self, path: Path) -> None:
        assert self.policy is not None
        weights = torch.load(path, map_location=self.config.device, weights_only=True)
        self.policy.load_state_dict(weights)
        self.policy.to(self.config.device).eval()


class BehaviourCloning(ImitationLearner):
    """Behaviour cloning (``bc``): record the expert, fit the policy to its actions (cross-entropy).

    Args:
        **settings: fields of :class:`CloneConfig`.
    """

    name: ClassVar[str] = "bc"
    config_class: ClassVar[type[CloneConfig]] = CloneConfig

    def _fit(
        self, factory: Any, budget: TrainingBudget, demos: DemoDataset | None
    ) -> tuple[DemoDataset, dict[str, Any], list[dict[str, Any]]]:
        c = self.config
        if demos is None:
            n = c.episodes if c.episodes is not None else budget.episodes
            seeds = range(budget.seed, budget.seed + n)
            demos = record_demos(factory, c.expert, seeds=seeds, observation=c.observation, expert_args=c.expert_args)
        result = train_clone(demos, holdout=c.holdout_episodes, **self._train_settings())
        report = {
            "policy": result.policy, "train_accuracy": result.train_accuracy,
            "holdout_accuracy": result.holdout_accuracy, "train_rows": result.train_rows,
            "holdout_rows": result.holdout_rows, "demo_episodes": list(demos.metadata.episodes),
        }  # fmt: skip
        return demos, report, result.history


class DAgger(ImitationLearner):
    """DAgger (``dagger``): behaviour cloning, then student rollouts labelled by the expert, aggregated.

    Args:
        **settings: fields of :class:`DaggerConfig`.
    """

    name: ClassVar[str] = "dagger"
    config_class: ClassVar[type[CloneConfig]] = DaggerConfig
    config: DaggerConfig

    def _fit(
        self, factory: Any, budget: TrainingBudget, demos: DemoDataset | None
    ) -> tuple[DemoDataset, dict[str, Any], list[dict[str, Any]]]:
        c = self.config
        result = dagger(
            factory, c.expert, observation=c.observation, expert_args=c.expert_args,
            iterations=c.iterations, episodes=c.episodes if c.episodes is not None else budget.episodes,
            seed=budget.seed, beta=c.beta, beta_decay=c.beta_decay, demos=demos,
            train={**self._train_settings(), "holdout": c.holdout_episodes},
        )  # fmt: skip
        curve, driven = [], 0
        for step in result.iterations:
            driven += step.episodes
            curve.append({"episode": driven, **step.row()})
        report = {
            "policy": result.policy, "train_accuracy": result.clone.train_accuracy,
            "holdout_accuracy": result.iterations[-1].holdout_accuracy,
            "iterations": [step.row() for step in result.iterations],
        }  # fmt: skip
        return result.dataset, report, curve
