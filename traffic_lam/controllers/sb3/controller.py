"""Stable-Baselines3 DQN and PPO as controllers.

Training reads top to bottom in :meth:`SB3Controller._learn`: N simulations in N worker
processes, seen by SB3 as N x (signals) environments (parameter sharing: one policy,
every signal a sample); action masks (MaskablePPO; masked Q-values for DQN); a callback
that writes the learning curve (delay per training episode) and periodic checkpoints;
resume from the last checkpoint; TensorBoard logs when tensorboard is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import pickle
import tempfile
import warnings
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from traffic_lam.controllers.base import Controller
from traffic_lam.controllers.sb3.features import Featurizer
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.files import atomic_open, atomic_write_text, read_csv, write_csv

SHARING = ("shared", "independent")

DQN_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-3,
    "buffer_size": 50_000,
    "learning_starts": 1_000,
    "batch_size": 128,
    "gamma": 0.99,
    "train_freq": 1,
    "gradient_steps": 2,
    "target_update_interval": 2_000,
    "exploration_fraction": 0.3,
    "exploration_final_eps": 0.05,
}
"""DQN hyperparameters (steps count signal-steps: one simulation step of 16 signals is 16)."""

PPO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-4,
    "n_steps": 64,
    "batch_size": 256,
    "n_epochs": 10,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "ent_coef": 0.0,
    "clip_range": 0.2,
}
"""MaskablePPO hyperparameters (``n_steps`` per signal per simulation before an update).

Measured on RESCO grid4x4 (80 episodes, scaled rewards): with ``n_epochs`` 10 and no entropy
bonus the final policy reached 46.1 s (47.8 s sampling from it); with 5 epochs and ``ent_coef``
0.01 it was still at ~60 s after 50 episodes, a policy that stays random where it should commit.
"""


class SB3Controller(Controller):
    """Common part of the SB3 learners.

    Args:
        sharing: ``"shared"`` (one network for every signal, with its one-hot id) or
            ``"independent"`` (every signal its own hidden layers; see ``PerSignalExtractor``).
        neighbours: add each neighbour's queue occupancy and phase to a signal's input
            (adjacency read from the network).
        neighbour_reward: weight of the neighbours' mean reward added to each signal's reward.
        normalize_reward: divide rewards by a running estimate of the discounted return's
            standard deviation while training, clipped to +-10 (SB3 ``VecNormalize``); ``None``
            takes the algorithm's default (on for PPO, off for DQN).
        hidden: width of the two hidden layers.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed: seeds the learner.
        **hyperparameters: the algorithm's own (``learning_rate``, ``batch_size`` ...); the
            defaults are :data:`DQN_DEFAULTS` / :data:`PPO_DEFAULTS`.
    """

    observation: ClassVar[str | None] = "default"
    needs_training: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}
    normalize_reward_default: ClassVar[bool] = False

    def __init__(
        self,
        sharing: str = "shared",
        neighbours: bool = False,
        neighbour_reward: float = 0.0,
        normalize_reward: bool | None = None,
        hidden: int = 64,
        device: str = "auto",
        seed: int = 0,
        **hyperparameters: Any,
    ) -> None:
        super().__init__(
            sharing=sharing,
            neighbours=neighbours,
            neighbour_reward=neighbour_reward,
            normalize_reward=self.normalize_reward_default if normalize_reward is None else bool(normalize_reward),
            hidden=hidden,
            device=device,
            seed=seed,
            **hyperparameters,
        )
        if sharing not in SHARING:
            raise ConfigError(f"{self.name}: sharing: expected one of {', '.join(SHARING)}, got {sharing!r}")
        unknown = set(hyperparameters) - set(self.defaults)
        if unknown:
            raise ConfigError(
                f"{self.name}: unknown hyperparameter '{sorted(unknown)[0]}', expected one of "
                f"{', '.join(sorted(self.defaults))}"
            )
        self.hyperparameters = {**self.defaults, **hyperparameters}
        self.model: Any = None
        self.featurizer: Featurizer | None = None

    # ------------------------------------------------------------------ training
    def _learn(self, make_env: Any, budget: Any) -> None:
        from traffic_lam.controllers.sb3.vec_env import SignalVecEnv

        episodes = int(getattr(budget, "episodes", budget))
        num_envs = int(getattr(budget, "num_envs", 1))
        seed = int(getattr(budget, "seed", 10_000))
        checkpoint_every = int(getattr(budget, "checkpoint_every", 0))
        work = getattr(budget, "checkpoint_dir", None)
        curve_file = getattr(budget, "curve_file", None)
        with contextlib.ExitStack() as stack:
            work_dir = Path(work) if work else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            venv = make_env.vector(num_envs, trip_dir=work_dir / "trips")
            stack.callback(venv.close)
            self.featurizer = Featurizer.from_env(
                venv.layouts,
                venv.observation_spaces,
                bool(self.params["neighbours"]),
                agent_ids=True,
            )
            vec = SignalVecEnv(venv, self.featurizer, float(self.params["neighbour_reward"]), seed=seed)
            checkpoint = work_dir / "checkpoint.zip"
            scaler = work_dir / "reward_scaling.pkl"
            train_env: Any = vec
            if self.params["normalize_reward"]:
                from stable_baselines3.common.vec_env import VecNormalize

                if scaler.is_file():  # resume with the running return statistics
                    train_env = VecNormalize.load(str(scaler), vec)
                else:
                    if checkpoint.is_file():
                        warnings.warn(
                            f"{self.name}: {checkpoint} was trained without reward scaling statistics; "
                            "resuming with fresh ones (normalize_reward: false keeps raw rewards)",
                            stacklevel=2,
                        )
                    gamma = float(self.hyperparameters["gamma"])
                    train_env = VecNormalize(vec, norm_obs=False, norm_reward=True, gamma=gamma)
            steps_per_episode = int((venv.config.end_time - venv.config.begin_time) // venv.config.timing.delta_time)
            total = episodes * steps_per_episode * len(self.featurizer.agents)

            if checkpoint.is_file():  # resume after an interruption
                self.model = self._algorithm().load(checkpoint, env=train_env, device=self.params["device"])
                if (work_dir / "replay_buffer.pkl").is_file() and hasattr(self.model, "load_replay_buffer"):
                    self.model.load_replay_buffer(work_dir / "replay_buffer.pkl")
            else:
                self.model = self._new_model(train_env, work_dir)
            callback = _Progress(vec, curve_file, checkpoint if checkpoint_every else None, checkpoint_every)
            remaining = total - int(self.model.num_timesteps)
            if remaining > 0:
                self.model.learn(remaining, callback=callback, reset_num_timesteps=False, tb_log_name=self.name)
            if checkpoint_every and callback.saved_at != self.model.num_timesteps:  # not saved at the last step
                callback.save_checkpoint()

    def _new_model(self, vec: Any, work_dir: Path) -> Any:
        assert self.featurizer is not None
        hidden = int(self.params["hidden"])
        tensorboard = str(work_dir / "tensorboard") if importlib.util.find_spec("tensorboard") else None
        policy_kwargs: dict[str, Any] = {"net_arch": [hidden, hidden]}
        if self.params["sharing"] == "independent":
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
        return self._build(vec, policy_kwargs, tensorboard)

    # ------------------------------------------------------------------ acting
    def _setup(self, env: Any) -> None:
        if self.featurizer is None:
            raise ControllerError(f"{self.name}: not trained; call learn() or load a saved model first")
        if sorted(env.possible_agents) != self.featurizer.agents:
            raise ControllerError(f"{self.name}: trained on other signals than this network's")

    def _act(self, observations: Any, infos: Any) -> dict[str, int]:
        assert self.featurizer is not None and self.model is not None
        vectors = self.featurizer.vectors(observations, infos)
        actions = self._predict(vectors, self.featurizer.masks(vectors))
        return {a: int(actions[i]) for i, a in enumerate(self.featurizer.agents) if a in observations}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the SB3 zip to ``path`` and the controller's settings next to it (``path.json``)."""
        if self.model is None or self.featurizer is None:
            raise ControllerError(f"{self.name}: nothing to save, the learner is not trained")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = {"controller": self.name, "params": self.params, "featurizer": vars(self.featurizer)}
        atomic_write_text(_meta_path(target), json.dumps(meta, indent=2, sort_keys=True) + "\n")
        with atomic_open(target, "wb", encoding=None) as handle:
            self.model.save(handle)
        return target

    @classmethod
    def load(cls, path: str | Path) -> SB3Controller:
        """Rebuild a learner saved by :meth:`save`."""
        target = Path(path)
        try:
            meta = json.loads(_meta_path(target).read_text())
        except (OSError, ValueError) as exc:
            raise ControllerError(f"{target}: no saved {cls.name} settings next to it ({exc})") from None
        if meta.get("controller") != cls.name:
            raise ControllerError(f"{target}: holds controller '{meta.get('controller')}', not '{cls.name}'")
        controller = cls(**meta["params"])
        controller.featurizer = Featurizer(**meta["featurizer"])
        controller.model = controller._algorithm().load(target, device=controller.params["device"])
        return controller

    def _state(self) -> Any:
        return None

    def _restore(self, state: Any) -> None:
        return None

    # ------------------------------------------------------------------ per algorithm
    @abstractmethod
    def _algorithm(self) -> Any:
        """The SB3 algorithm class (for ``load``)."""

    @abstractmethod
    def _policy(self) -> Any:
        """The SB3 policy (class or name) the algorithm is built with."""

    def _build(self, vec: Any, policy_kwargs: dict[str, Any], tensorboard: str | None) -> Any:
        """A new model on ``vec`` with this learner's hyperparameters."""
        return self._algorithm()(
            self._policy(),
            vec,
            policy_kwargs=policy_kwargs,
            tensorboard_log=tensorboard,
            seed=int(self.params["seed"]),
            device=self.params["device"],
            verbose=0,
            **self.hyperparameters,
        )

    @abstractmethod
    def _empty_arch(self) -> Any:
        """``net_arch`` that adds no shared hidden layer (for independent networks)."""

    @abstractmethod
    def _predict(self, vectors: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Greedy allowed actions for policy inputs ``vectors``."""


class DQNController(SB3Controller):
    """SB3 DQN with masked Q-values (invalid phases never chosen, never bootstrapped from)."""

    name: ClassVar[str] = "dqn"
    defaults: ClassVar[dict[str, Any]] = DQN_DEFAULTS

    def _algorithm(self) -> Any:
        from traffic_lam.controllers.sb3.policies import MaskedDQN

        return MaskedDQN

    def _policy(self) -> Any:
        from traffic_lam.controllers.sb3.policies import MaskedDQNPolicy

        return MaskedDQNPolicy

    def _empty_arch(self) -> Any:
        return []

    def _predict(self, vectors: np.ndarray, masks: np.ndarray) -> np.ndarray:
        actions, _ = self.model.predict(vectors, deterministic=True)
        return np.asarray(actions)


class PPOController(SB3Controller):
    """sb3-contrib MaskablePPO: the policy's distribution excludes invalid phases.

    Args:
        deterministic: act with the policy's most likely action (default), or sample from
            it (``False``) as in training.
        **kwargs: see :class:`SB3Controller`.
    """

    name: ClassVar[str] = "ppo"
    defaults: ClassVar[dict[str, Any]] = PPO_DEFAULTS
    normalize_reward_default: ClassVar[bool] = True

    def _algorithm(self) -> Any:
        from sb3_contrib import MaskablePPO

        return MaskablePPO

    def _policy(self) -> Any:
        return "MlpPolicy"

    def _empty_arch(self) -> Any:
        return {"pi": [], "vf": []}

    def __init__(self, deterministic: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.params["deterministic"] = deterministic
        self._rng = np.random.default_rng(int(self.params["seed"]))

    def _reset(self) -> None:
        # each evaluation episode samples from its own seeded stream: reproducible runs
        self._rng = np.random.default_rng([int(self.params["seed"]), self.episodes])

    def _predict(self, vectors: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """The masked policy's most likely action, or a sample from it without ``deterministic``.

        On RESCO grid4x4 (80 episodes, the defaults) the argmax gave 46.1 s, sampling 47.8 s. A
        policy trained with an entropy bonus (``ent_coef`` 0.01, 50 episodes) stayed so random
        that its argmax locked the grid (708 s) where sampling gave 86 s: sample such policies.
        """
        if self.params["deterministic"]:
            actions, _ = self.model.predict(vectors, deterministic=True, action_masks=masks)
            return np.asarray(actions)
        import torch

        with torch.no_grad():
            obs = torch.as_tensor(vectors, device=self.model.device)
            probs = self.model.policy.get_distribution(obs, action_masks=masks).distribution.probs.cpu().numpy()
        probs = np.where(masks, probs, 0.0)
        probs /= probs.sum(-1, keepdims=True)
        return np.array([self._rng.choice(len(p), p=p) for p in probs])


class _Progress(BaseCallback):
    """Writes the learning curve after every finished simulation episode; checkpoints periodically."""

    def __init__(self, vec: Any, curve_file: Any, checkpoint: Path | None, every: int) -> None:
        super().__init__()
        self.vec, self.curve_file, self.checkpoint, self.every = vec, curve_file, checkpoint, every
        self.curve: list[dict[str, Any]] = _read_curve(Path(curve_file)) if curve_file else []
        self.saved_at: int | None = None  # timesteps at the last checkpoint

    def _on_step(self) -> bool:
        finished = self.vec.finished_episodes
        if not finished:
            return True
        due = False
        for episode in finished:
            self.curve.append({"episode": len(self.curve) + 1, "timesteps": int(self.num_timesteps), **episode})
            due = due or (bool(self.every) and len(self.curve) % self.every == 0)
        finished.clear()
        if self.checkpoint is not None and due:  # once, however many simulations finished
            self.save_checkpoint()
        if self.curve_file:
            write_csv(Path(self.curve_file), self.curve)
        return True

    def save_checkpoint(self) -> None:
        """Save model (and DQN's replay buffer) where :meth:`SB3Controller._learn` resumes from."""
        assert self.checkpoint is not None
        normalizer = self.model.get_vec_normalize_env()
        if normalizer is not None:  # before the model: a resumed model never lacks its statistics
            with atomic_open(self.checkpoint.with_name("reward_scaling.pkl"), "wb", encoding=None) as handle:
                pickle.dump(normalizer, handle)
        with atomic_open(self.checkpoint, "wb", encoding=None) as handle:
            self.model.save(handle)
        if hasattr(self.model, "save_replay_buffer"):
            self.model.save_replay_buffer(self.checkpoint.with_name("replay_buffer.pkl"))
        self.saved_at = int(self.model.num_timesteps)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_curve(path: Path) -> list[dict[str, Any]]:
    return read_csv(path) if path.is_file() else []
