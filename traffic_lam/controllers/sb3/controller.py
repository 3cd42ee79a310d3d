"""Stable-Baselines3 DQN and PPO as controllers.

Training reads top to bottom in :meth:`SB3Controller._learn`: N simulations in N worker
processes, seen by SB3 as N x (signals) environments (parameter sharing: one policy,
every signal a sample); action masks (MaskablePPO; masked Q-values for DQN); a callback
that writes the learning curve (delay per training episode), validates the policy
(:mod:`traffic_lam.controllers.selection`: :attr:`SB3Controller.selection` holds the
policy of the best validation delay after training) and writes periodic checkpoints;
resume from the last checkpoint (:mod:`.training`: what a checkpoint holds); TensorBoard
logs when tensorboard is installed. The simulations' SUMO seeds start at the budget's
``seed`` (plus the episodes a resumed checkpoint had done).

With ``warm_start`` (:mod:`traffic_lam.imitation.warm_start`) the learner first gets an
expert's demonstrations (recorded in this process before the simulations start) and
starts from them before its first interaction (:meth:`SB3Controller.warm_start_from`:
DQfD-style pre-training for DQN, a cloned actor and a critic warm-up for PPO:
:mod:`.demos`); a resumed training skips that phase.

Hyperparameters: :class:`~traffic_lam.controllers.sb3.config.DQNConfig` and
:class:`~traffic_lam.controllers.sb3.config.PPOConfig`. A learner saves as an SB3 zip at
the path given and its document (settings, featurizer) at ``<path>.json``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import tempfile
import warnings
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from traffic_lam.controllers import checkpoints
from traffic_lam.controllers.base import Controller
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.checkpoints import Resumed
from traffic_lam.controllers.layouts import SignalSizes, check_layout, network_name
from traffic_lam.controllers.sb3.config import DQNConfig, PPOConfig, SB3Config
from traffic_lam.controllers.sb3.features import Featurizer
from traffic_lam.controllers.sb3.training import Checkpoint, Progress
from traffic_lam.controllers.selection import Selection, Validator
from traffic_lam.controllers.threads import torch_threads
from traffic_lam.env.observations import LEARNER_OBSERVATION
from traffic_lam.errors import ControllerError
from traffic_lam.imitation.warm_start import DemoSteps, WarmStart, demo_report, warm_start_demos


class SB3Controller(Controller):
    """Common part of the SB3 learners: training, acting, saving; the subclass names the algorithm.

    Args:
        **settings: fields of the learner's :attr:`config_class` (defaults there); any other
            argument of the SB3 algorithm's constructor goes under ``sb3``.

    Raises:
        ConfigError: an unknown setting, or an ``sb3`` argument the algorithm does not take.
    """

    observation: ClassVar[str | None] = LEARNER_OBSERVATION  # per instance: its ``observation`` option
    needs_training: ClassVar[bool] = True
    artefact: ClassVar[str | None] = "sb3-zip"
    config_class: ClassVar[type[SB3Config]] = SB3Config

    def __init__(self, **settings: Any) -> None:
        config = self.config_class.from_args(self.name, settings)
        super().__init__(**asdict(config))
        self.config = config
        self.algorithm_kwargs = config.algorithm_kwargs(self.name, self._algorithm())
        self.model: Any = None
        self.featurizer: Featurizer | None = None
        self.selection: Selection | None = None  # what validation selected in the last training
        self.warm_start_report: dict[str, Any] | None = None  # what the warm start measured (saved)

    def observation_spec(self) -> Any:
        """The observation this learner was configured with."""
        return self.config.observation

    # ------------------------------------------------------------------ training
    def _learn(self, make_env: Any, budget: TrainingBudget | int) -> None:
        budget = TrainingBudget.of(budget)
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch_threads(self.config.torch_threads))
            folder = budget.checkpoint_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            checkpoint = Checkpoint(folder)
            resumed = checkpoint.open()  # every file verified before any is read
            demos = self._warm_start_demos(make_env, budget, resumed)  # the expert runs here, before the simulations
            venv, vec, train_env = self._training_env(make_env, budget.num_envs, folder, budget.seed, resumed, stack)
            if resumed is not None:  # after an interruption
                self.model = checkpoint.resume(resumed, self._algorithm(), train_env, self.config.device)
                self.warm_start_report = self.model.warm_start_report  # the warm start of the first run
            else:
                self.model = self._new_model(train_env, folder)
            if demos is not None:
                self._use_demos(demos, fresh=resumed is None)  # fresh: the warm-start phase, before any interaction
            train_env.seed(budget.seed + (resumed.episodes if resumed else 0))  # SB3 seeded it with the learner's
            saving = checkpoint if budget.checkpoint_dir is not None else None
            curve = checkpoints.restart_curve(budget.curve_file, resumed)
            validator = Validator(self, make_env, budget, resumed)
            if demos is not None and resumed is None:
                validator.validate_start()  # the warm start competes in the selection
            progress = Progress(vec, budget.curve_file, saving, budget.checkpoint_every, curve, validator)
            remaining = self._signal_steps(venv.config, budget.episodes) - int(self.model.num_timesteps)
            if remaining > 0:
                self.model.learn(remaining, callback=progress, reset_num_timesteps=False, tb_log_name=self.name)
            self.selection = progress.finish(self.model)  # the final policy validated; the last checkpoint

    def _training_env(
        self, make_env: Any, num_envs: int, folder: Path, seed: int, resumed: Resumed | None, stack: Any
    ) -> tuple[Any, Any, Any]:
        """The simulations (closed with ``stack``), their SB3 view and the env SB3 trains on (rewards scaled)."""
        from traffic_lam.controllers.sb3.vec_env import SignalVecEnv

        venv = make_env.vector(num_envs, trip_dir=folder / "trips")
        stack.callback(venv.close)
        self.featurizer = Featurizer.from_env(
            venv.layouts, venv.observation_spaces, self.config.neighbours, agent_ids=True
        )
        vec = SignalVecEnv(venv, self.featurizer, self.config.neighbour_reward, seed=seed)
        return venv, vec, self._scale_rewards(vec, Checkpoint(folder), resumed)

    # ------------------------------------------------------------------ warm start (traffic_lam.imitation.warm_start)
    def warm_start_from(self, dataset: Any, make_env: Any) -> Any:
        """The warm-start phase alone: a fresh model for ``make_env``'s signals, fitted to ``dataset``; no RL.

        :meth:`learn` runs this phase itself (on demonstrations it makes); this is the phase
        on its own, e.g. to look at the policy a fine-tuning starts from. The learner then
        acts with the warm-started model; :attr:`warm_start_report` says how often it agrees
        with the expert on the demonstrations.

        Args:
            dataset: a :class:`~traffic_lam.imitation.dataset.DemoDataset` recorded with this
                learner's observation on ``make_env``'s network.
            make_env: an :class:`~traffic_lam.env.factory.EnvFactory` (one simulation is started
                to bind the model, then closed).

        Returns:
            The SB3 model.

        Raises:
            ControllerError: no ``warm_start`` settings, or demonstrations that do not fit.
        """
        if self.config.warm_start is None:
            raise ControllerError(
                f"{self.name}: warm_start_from needs warm_start settings (warm_start: {{}}: defaults)"
            )
        with contextlib.ExitStack() as stack:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            venv, _, train_env = self._training_env(make_env, 1, folder, 0, None, stack)
            dataset.check_fits(venv, self.config.observation, self.name)
            self.model = self._new_model(train_env, folder)
            self._use_demos(dataset, fresh=True)
        return self.model

    def _warm_start_demos(self, make_env: Any, budget: TrainingBudget, resumed: Resumed | None) -> Any:
        """The demonstrations training needs: for the warm start, or a resumed training that keeps them (else None)."""
        warm = self.config.warm_start
        if warm is None or (resumed is not None and not self._keeps_demos(warm)):
            return None
        return warm_start_demos(warm, make_env, self.config.observation, self.name, budget)

    def _use_demos(self, dataset: Any, fresh: bool) -> None:
        """Attach the demonstrations to the model; when ``fresh``, run its warm start and report the agreement."""
        assert self.featurizer is not None and self.config.warm_start is not None
        steps = DemoSteps.of(dataset).in_order(self.featurizer.agents)
        demos = self.model.use_demos(steps, self.featurizer, self.config.neighbour_reward, self.config.warm_start)
        if fresh:
            self.model.warm_start()
            chosen = self.model.greedy(demos.obs).reshape(len(steps), -1)
            self.warm_start_report = self.model.warm_start_report = demo_report(dataset, steps, chosen)

    def _scale_rewards(self, vec: Any, checkpoint: Checkpoint, resumed: Resumed | None) -> Any:
        """``vec``, wrapped to scale its rewards with ``normalize_reward`` (statistics of the resumed checkpoint)."""
        if not self.config.normalize_reward:
            return vec
        from stable_baselines3.common.vec_env import VecNormalize

        if resumed is not None and resumed.has(checkpoint.REWARD_SCALING):  # verified with the checkpoint
            return VecNormalize.load(str(resumed.file(checkpoint.REWARD_SCALING)), vec)
        if resumed is not None:
            warnings.warn(
                f"{self.name}: {checkpoint.model} was trained without reward scaling statistics; "
                "resuming with fresh ones (normalize_reward: false keeps raw rewards)",
                stacklevel=3,
            )
        return VecNormalize(vec, norm_obs=False, norm_reward=True, gamma=float(self.config.gamma))

    def _signal_steps(self, config: Any, episodes: int) -> int:
        """SB3 timesteps of ``episodes`` simulations: decisions per episode x signals."""
        assert self.featurizer is not None
        decisions = int((config.end_time - config.begin_time) // config.timing.delta_time)
        return episodes * decisions * len(self.featurizer.agents)

    def _new_model(self, env: Any, folder: Path) -> Any:
        """A fresh model on ``env`` with this learner's network and hyperparameters."""
        assert self.featurizer is not None
        hidden = self.config.hidden
        policy_kwargs: dict[str, Any] = {"net_arch": [hidden, hidden]}
        if self.config.sharing == "independent":
            from traffic_lam.controllers.sb3.policies import PerSignalExtractor

            policy_kwargs = {
                "features_extractor_class": PerSignalExtractor,
                "features_extractor_kwargs": {
                    "n_agents": len(self.featurizer.agents),
                    "n_actions": self.featurizer.num_actions,
                    "hidden": hidden,
                },
                "net_arch": self._empty_arch(),
            }
        tensorboard = str(folder / "tensorboard") if importlib.util.find_spec("tensorboard") else None
        return self._algorithm()(
            self._policy(), env, policy_kwargs=policy_kwargs, tensorboard_log=tensorboard, verbose=0,
            **self.algorithm_kwargs,
        )  # fmt: skip

    # ------------------------------------------------------------------ acting
    def _setup(self, env: Any) -> None:
        if self.featurizer is None:
            raise ControllerError(f"{self.name}: not trained; call learn() or load a saved model first")
        featurizer = self.featurizer
        spaces = (env.observation_spaces.__getitem__, env.action_spaces.__getitem__)
        found = SignalSizes.from_spaces(sorted(env.possible_agents), *spaces)
        trained = SignalSizes.of(featurizer.agents, featurizer.obs_sizes, featurizer.action_sizes)
        check_layout(self.name, trained, found, network_name(env))

    def _act(self, observations: Any, infos: Any) -> dict[str, int]:
        assert self.featurizer is not None and self.model is not None
        vectors = self.featurizer.vectors(observations, infos)
        actions = self._predict(vectors, self.featurizer.masks(vectors))
        return {a: int(actions[i]) for i, a in enumerate(self.featurizer.agents) if a in observations}

    # ------------------------------------------------------------------ persistence (base class hooks)
    def _state(self) -> dict[str, Any]:
        if self.model is None or self.featurizer is None:
            raise ControllerError(f"{self.name}: nothing to save, the learner is not trained")
        return {"featurizer": self.featurizer.to_state(), "warm_start": self.warm_start_report}

    def _restore(self, state: Any) -> None:
        if not isinstance(state, Mapping) or not isinstance(state.get("featurizer"), Mapping):
            raise ControllerError(f"{self.name}: the saved document has no featurizer state (retrain the learner)")
        self.featurizer = Featurizer.from_state(state["featurizer"])
        self.warm_start_report = state.get("warm_start")

    def _save_artefact(self, handle: BinaryIO) -> None:
        self.model.save(handle)

    def _load_artefact(self, path: Path) -> None:
        self.model = self._algorithm().load(path, device=self.config.device)

    # ------------------------------------------------------------------ per algorithm
    @abstractmethod
    def _algorithm(self) -> Any:
        """The SB3 algorithm class."""

    @abstractmethod
    def _policy(self) -> Any:
        """The SB3 policy (class or name) the algorithm is built with."""

    @abstractmethod
    def _empty_arch(self) -> Any:
        """``net_arch`` that adds no shared hidden layer (for independent networks)."""

    @abstractmethod
    def _predict(self, vectors: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Allowed actions for policy inputs ``vectors``."""

    @abstractmethod
    def _keeps_demos(self, warm: WarmStart) -> bool:
        """Whether training uses the demonstrations after the warm start (a resume must make them again)."""


class DQNController(SB3Controller):
    """SB3 DQN with masked Q-values (invalid phases never chosen, never bootstrapped from).

    Args:
        **settings: fields of :class:`~traffic_lam.controllers.sb3.config.DQNConfig`.
    """

    name: ClassVar[str] = "dqn"
    config_class: ClassVar[type[SB3Config]] = DQNConfig

    def _algorithm(self) -> Any:
        from traffic_lam.controllers.sb3.demos import DemoDQN

        return DemoDQN

    def _policy(self) -> Any:
        from traffic_lam.controllers.sb3.policies import MaskedDQNPolicy

        return MaskedDQNPolicy

    def _empty_arch(self) -> Any:
        return []

    def _predict(self, vectors: np.ndarray, masks: np.ndarray) -> np.ndarray:
        actions, _ = self.model.predict(vectors, deterministic=True)
        return np.asarray(actions)

    def _keeps_demos(self, warm: WarmStart) -> bool:
        return warm.keep_demos


class PPOController(SB3Controller):
    """sb3-contrib MaskablePPO: the policy's distribution excludes invalid phases.

    Args:
        **settings: fields of :class:`~traffic_lam.controllers.sb3.config.PPOConfig`.
    """

    name: ClassVar[str] = "ppo"
    config_class: ClassVar[type[SB3Config]] = PPOConfig
    config: PPOConfig

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._rng = np.random.default_rng(self.config.seed)

    def _algorithm(self) -> Any:
        from traffic_lam.controllers.sb3.demos import DemoPPO

        return DemoPPO

    def _policy(self) -> Any:
        return "MlpPolicy"

    def _empty_arch(self) -> Any:
        return {"pi": [], "vf": []}

    def _keeps_demos(self, warm: WarmStart) -> bool:
        return warm.bc_coef > 0.0

    def _reset(self) -> None:
        # each evaluation episode samples from its own seeded stream: reproducible runs
        self._rng = np.random.default_rng([self.config.seed, self.episodes])

    def _predict(self, vectors: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """The masked policy's most likely action, or a sample from it without ``deterministic``."""
        if self.config.deterministic:
            actions, _ = self.model.predict(vectors, deterministic=True, action_masks=masks)
            return np.asarray(actions)
        import torch

        with torch.no_grad():
            obs = torch.as_tensor(vectors, device=self.model.device)
            probs = self.model.policy.get_distribution(obs, action_masks=masks).distribution.probs.cpu().numpy()
        probs = np.where(masks, probs, 0.0)
        probs /= probs.sum(-1, keepdims=True)
        return np.array([self._rng.choice(len(p), p=p) for p in probs])
