"""The off-policy collection loop: parallel simulations -> a batch of every signal's transitions -> ``update``.

One training step, top to bottom in :func:`_collect`:

1. every signal of every simulation chooses its action in one call of the learner
   (:meth:`OffPolicyLearner.choose`); the simulations start stepping, and while they do
   the learner may learn (:meth:`OffPolicyLearner.while_stepping`: gradient steps);
2. the simulations' replies are stacked into ``[B, N, ...]`` arrays
   (:class:`~traffic_lam.controllers.offpolicy.stacking.SignalStacker`); a simulation that
   finished has already reset, so its transitions end in the final observation of the
   finished episode;
3. the learner learns from the :class:`Transitions` of all signals of all simulations at
   once (:meth:`OffPolicyLearner.update`);
4. bookkeeping: one learning-curve row per finished episode (its return, the score
   evaluation gives it: delay, throughput, vehicles never inserted, from the episode's
   tripinfo, and the average queue), a validation of the policy every ``validate_every``
   episodes (:class:`~traffic_lam.controllers.selection.Validator`: it keeps the policy of
   the best validation delay), a checkpoint every ``checkpoint_every`` episodes.

When the episodes are done, the final policy is validated too (unless just done) and the
learner's :attr:`OffPolicyLearner.selection` holds what validation selected.

A checkpoint (:func:`save_checkpoint`, one unit:
:mod:`traffic_lam.controllers.checkpoints`) holds the learner saved as a controller
(:data:`CHECKPOINT`: parameters, counters, tensors, optimiser state), its
:meth:`OffPolicyLearner.training_state` (replay buffer, generators:
:data:`TRAINING_STATE`), the learning-curve rows up to it, the validations so far with the
selected policy, and the process' random-number states. Resuming restores all of it and
rewrites the curve file from the checkpoint's rows, so the episodes run after the
checkpoint (lost with a crash) are run again and counted once; checkpoints fall at the
same episode counts as without the interruption. The simulations restart at the
checkpoint: episodes then in progress in other parallel simulations are dropped, and the
simulations' seeds continue from ``seed + episodes done`` rather than the uninterrupted
run's seed stream.

What is specific to a learner (how it chooses, what it learns from a batch) is a method
of the learner; measuring the loop is a :class:`LoopCallback`
(:class:`~traffic_lam.controllers.offpolicy.profiling.Profiler`), and so is logging the
curve rows to TensorBoard (:class:`~traffic_lam.controllers.offpolicy.tensorboard_log.TensorBoardLog`,
into ``<checkpoint_dir>/tensorboard`` when the budget has a checkpoint folder).
"""

from __future__ import annotations

import contextlib
import math
import pickle
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from traffic_lam.controllers import checkpoints
from traffic_lam.controllers.base import Controller, read_document, verify_artefact
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.selection import Selection, Validator
from traffic_lam.env.vector import score_columns
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.files import write_csv

if TYPE_CHECKING:
    from traffic_lam.controllers.offpolicy.stacking import SignalStacker
    from traffic_lam.env.factory import EnvFactory
    from traffic_lam.env.vector import VectorSignalEnv

CHECKPOINT = "checkpoint.pt"
"""File name of the learner's model in a checkpoint (a saved controller: ``checkpoint.pt`` + ``.json``)."""
TRAINING_STATE = "training_state.pt"
"""File name of the rest of what resuming needs (:meth:`OffPolicyLearner.training_state`, ``weights_only``)."""


@dataclass(frozen=True)
class Transitions:
    """One decision step of every signal of every simulation, stacked ``[B, N, ...]``.

    Arrays are the learner's kind (what its stacker makes: numpy arrays or tensors on its
    device), except ``rewards``, always numpy.

    Attributes:
        state: what the learner made of ``obs`` (:meth:`OffPolicyLearner.observe`).
        obs: ``[B, N, D]`` observations the actions were chosen from.
        actions: ``[B, N]`` actions taken.
        rewards: ``[B, N]`` float32 rewards received.
        next_obs: ``[B, N, D]`` observations the next step starts from (a finished
            simulation's are those of its new episode).
        end_obs: ``[B, N, D]`` observations the transitions end in (a finished
            simulation's are the final ones of the finished episode).
        end_masks: ``[B, N, A]`` allowed actions there.
        dones: per simulation, whether its episode ended with this step (at its time
            limit: a truncation, to bootstrap from ``end_obs``).
    """

    state: Any
    obs: Any
    actions: Any
    rewards: np.ndarray
    next_obs: Any
    end_obs: Any
    end_masks: Any
    dones: list[bool]


@dataclass(frozen=True)
class TrainingPlan:
    """What a learner is told before the loop starts.

    Attributes:
        episodes: training episodes in all (the budget's).
        num_envs: parallel simulations.
        steps_per_episode: decision steps of one episode.
    """

    episodes: int
    num_envs: int
    steps_per_episode: int


class LoopCallback:
    """Hooks the loop calls around each training step; each does nothing unless overridden."""

    def on_training_start(self) -> None:
        """Before the first step."""

    def on_step_start(self) -> None:
        """A step starts: the learner is about to choose."""

    def on_wait_start(self) -> None:
        """The actions are sent (and the learner's work during the stepping done): waiting for the replies."""

    def on_wait_end(self) -> None:
        """The simulations replied."""

    def on_step_end(self, simulated_s: float) -> None:
        """The learner has learned from the step (``simulated_s``: simulated seconds, all simulations)."""

    def on_episode_end(self, row: dict[str, Any]) -> None:
        """An episode ended: ``row`` is its learning-curve row (before the curve file is written)."""

    def on_training_end(self) -> None:
        """After the last step."""


class CallbackList(LoopCallback):
    """Several callbacks told about every hook, in order.

    Args:
        callbacks: the callbacks.
    """

    def __init__(self, callbacks: list[LoopCallback]) -> None:
        self.callbacks = list(callbacks)

    def _each(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_training_start(self) -> None:
        """Tell every callback."""
        self._each("on_training_start")

    def on_step_start(self) -> None:
        """Tell every callback."""
        self._each("on_step_start")

    def on_wait_start(self) -> None:
        """Tell every callback."""
        self._each("on_wait_start")

    def on_wait_end(self) -> None:
        """Tell every callback."""
        self._each("on_wait_end")

    def on_step_end(self, simulated_s: float) -> None:
        """Tell every callback."""
        self._each("on_step_end", simulated_s)

    def on_episode_end(self, row: dict[str, Any]) -> None:
        """Tell every callback."""
        self._each("on_episode_end", row)

    def on_training_end(self) -> None:
        """Tell every callback."""
        self._each("on_training_end")


class OffPolicyLearner(Controller, ABC):
    """A learner trained by :func:`train` (its :meth:`learn` runs the loop).

    The loop keeps :attr:`decision_steps` and :attr:`training_episodes` up to date; they
    are part of what a checkpoint saves (the learner's :meth:`_state`). After training,
    :attr:`selection` holds the policy validation selected (None when the budget never
    validates): :class:`~traffic_lam.controllers.selection.Selection`.
    """

    needs_training: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.decision_steps = 0
        self.training_episodes = 0
        self.selection: Selection | None = None

    @property
    def warm_started(self) -> bool:
        """Whether :meth:`prepare` started this training from an expert (a warm start); False here."""
        return False

    @abstractmethod
    def prepare(self, venv: VectorSignalEnv, plan: TrainingPlan) -> SignalStacker:
        """Build for the simulations' signals (or check them), get ready for ``plan``; return the stacker to use."""

    @abstractmethod
    def exploration(self) -> float:
        """The exploration of the next step (e.g. epsilon), also written in the learning curve."""

    @abstractmethod
    def observe(self, obs: Any) -> Any:
        """What the learner chooses from and learns from for stacked observations ``[B, N, D]`` (its state)."""

    @abstractmethod
    def choose(self, state: Any, masks: Any, current: Any, exploration: float) -> Any:
        """Actions ``[B, N]`` of every signal of every simulation."""

    def while_stepping(self) -> None:
        """Work done while the simulations step (e.g. gradient steps); nothing by default."""
        return None

    @abstractmethod
    def update(self, batch: Transitions) -> Any:
        """Learn from a step's transitions; return the state of ``batch.next_obs`` (what :meth:`observe` gives)."""

    @contextmanager
    def compute(self) -> Iterator[None]:
        """Context the whole training runs in (e.g. the learner's CPU threads); none by default."""
        yield

    def resume(self, path: Path) -> None:
        """Restore this learner from the checkpoint :meth:`save` wrote at ``path`` (the loop's resume).

        Raises:
            ControllerError: the saved artefact does not match its recorded SHA-256.
        """
        document = read_document(path)
        if self.artefact is not None:
            verify_artefact(path, document)
        self._restore(document.get("state"))
        if self.artefact is not None:
            self._load_artefact(path)

    def training_state(self) -> dict[str, Any]:
        """What resuming needs beyond the saved learner (replay buffer, generators), ``weights_only``-loadable.

        Called for a checkpoint; none by default.
        """
        return {}

    def restore_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` gave (after :meth:`prepare`); nothing by default."""
        return None

    def _learn(self, make_env: Any, budget: Any) -> None:
        train(self, make_env, budget)


def train(
    learner: OffPolicyLearner,
    make_env: EnvFactory,
    budget: TrainingBudget | int,
    callback: LoopCallback | None = None,
) -> None:
    """Train ``learner`` on ``budget.num_envs`` parallel simulations built by ``make_env``.

    The episodes of all simulations count: simulations finishing together may take the
    total past ``budget.episodes`` (a multiple of ``num_envs``). With a ``checkpoint_dir``
    the loop resumes from the checkpoint there and writes one every ``checkpoint_every``
    episodes and at the end, and logs every curve row to TensorBoard in its ``tensorboard``
    folder (when tensorboard is installed). The simulations write each episode's tripinfo
    into a temporary folder, read for the curve rows' score and then deleted.

    Args:
        learner: the learner (it sets its own observation in the environment options).
        make_env: builds the simulations (:meth:`~traffic_lam.env.factory.EnvFactory.vector`).
        budget: a :class:`TrainingBudget`, or a number of episodes.
        callback: told about every step and episode (e.g. a
            :class:`~traffic_lam.controllers.offpolicy.profiling.Profiler`).

    Raises:
        ConfigError: the environment options ask for another observation than the learner's.
        ControllerError: a file of the checkpoint does not match its manifest.
    """
    budget = TrainingBudget.of(budget)
    asked = make_env.options.get("observation", learner.observation_spec())
    if asked != learner.observation_spec():
        raise ConfigError(
            f"observation: {learner.name} reads {learner.observation_spec()!r} (its 'observation' option); "
            f"the environment options ask for {asked!r}"
        )
    resumed = checkpoints.open_checkpoint(budget.checkpoint_dir, legacy=[CHECKPOINT])  # verified before use
    with contextlib.ExitStack() as resources:  # closed in reverse: simulations, learner's compute, trip folder
        trips = resources.enter_context(tempfile.TemporaryDirectory(prefix="traffic_lam-trips-"))
        resources.enter_context(learner.compute())
        venv = resources.enter_context(make_env.vector(budget.num_envs, trip_dir=trips, **learner.env_options()))
        callbacks = _callbacks(learner, budget, callback, resources)
        if resumed is not None:
            learner.resume(resumed.file(CHECKPOINT))
        curve = checkpoints.restart_curve(budget.curve_file, resumed)
        validator = Validator(learner, make_env, budget, resumed)
        config = venv.config
        steps = math.ceil((config.end_time - config.begin_time) / config.timing.delta_time)
        stack = learner.prepare(venv, TrainingPlan(budget.episodes, budget.num_envs, steps))
        if resumed is not None:
            learner.restore_training_state(load_training_state(resumed.file(TRAINING_STATE)))
            checkpoints.restore_rng(resumed.rng)
        elif learner.warm_started:
            validator.validate_start()  # the warm start competes in the selection
        _collect(learner, venv, stack, budget, curve, callbacks, validator)
    learner.selection = validator.finish(curve)  # the final policy validated; the reward-hacking guard
    if budget.checkpoint_dir is not None:
        save_checkpoint(learner, budget.checkpoint_dir, curve, validator)


def _callbacks(
    learner: OffPolicyLearner, budget: TrainingBudget, callback: LoopCallback | None, resources: contextlib.ExitStack
) -> LoopCallback:
    """The caller's callback and, with a checkpoint folder and tensorboard installed, the TensorBoard log."""
    from traffic_lam.controllers.offpolicy.tensorboard_log import TensorBoardLog

    chosen = [callback] if callback is not None else []
    if budget.checkpoint_dir is not None and TensorBoardLog.available():
        log = TensorBoardLog(Path(budget.checkpoint_dir) / "tensorboard" / learner.name)
        resources.callback(log.close)  # also when training fails
        chosen.append(log)
    if len(chosen) == 1:
        return chosen[0]
    return CallbackList(chosen) if chosen else LoopCallback()


def _collect(
    learner: OffPolicyLearner,
    venv: VectorSignalEnv,
    stack: SignalStacker,
    budget: TrainingBudget,
    curve: list[dict[str, Any]],
    callback: LoopCallback,
    validator: Validator,
) -> None:
    """Step the simulations until ``budget.episodes`` episodes are done; append a curve row per episode."""
    observations, infos = venv.reset(seed=budget.seed + learner.training_episodes)
    obs, masks, current = stack(observations, infos)
    state = learner.observe(obs)
    log = EpisodeLog(budget.num_envs, stack.agents, float(curve[-1]["wall_s"]) if curve else 0.0)
    callback.on_training_start()
    with torch.inference_mode():  # no autograd bookkeeping on the hot path
        while learner.training_episodes < budget.episodes:
            # 1. every signal of every simulation chooses; the simulations step while the learner learns
            callback.on_step_start()
            epsilon = learner.exploration()
            actions = learner.choose(state, masks, current, epsilon)
            venv.step_async(stack.actions(actions))
            learner.while_stepping()
            callback.on_wait_start()
            next_observations, rewards, dones, next_infos = venv.step_wait()
            callback.on_wait_end()

            # 2. stack the replies; a finished simulation has reset: its transitions end in its final observation
            next_obs, next_masks, next_current = stack(next_observations, next_infos)
            end_obs, end_masks = stack.final(next_obs, next_masks, next_infos, dones)
            batch = Transitions(state, obs, actions, stack.rewards(rewards), next_obs, end_obs, end_masks, dones)

            # 3. learn from the transitions of all signals of all simulations at once
            next_state = learner.update(batch)
            learner.decision_steps += 1
            log.step(batch.rewards, next_infos)
            callback.on_step_end(venv.config.timing.delta_time * budget.num_envs)

            # 4. one learning-curve row per finished episode; validations; checkpoints
            for e in np.flatnonzero(dones):
                learner.training_episodes += 1
                curve.append(log.finish(e, learner.training_episodes, epsilon))
                callback.on_episode_end(curve[-1])
                if validator.due(learner.training_episodes):
                    validator.validate(curve)
                due = budget.checkpoint_every and learner.training_episodes % budget.checkpoint_every == 0
                if budget.checkpoint_dir is not None and due:
                    save_checkpoint(learner, budget.checkpoint_dir, curve, validator)
            if budget.curve_file is not None and any(dones):  # once, however many simulations finished
                write_csv(budget.curve_file, curve)
            obs, masks, current, state = next_obs, next_masks, next_current, next_state
    callback.on_training_end()


def save_checkpoint(
    learner: OffPolicyLearner, folder: Path, curve: list[dict[str, Any]], validator: Validator | None = None
) -> None:
    """Write a checkpoint of ``learner``, the curve rows and the validations so far into ``folder``, as one unit."""

    def fill(staging: Path) -> None:
        learner.save(staging / CHECKPOINT)
        torch.save(learner.training_state(), staging / TRAINING_STATE)
        if validator is not None:
            validator.save_selected(staging)

    extra = validator.extra() if validator is not None else None
    checkpoints.write_checkpoint(folder, fill, learner.training_episodes, curve, extra)


def load_training_state(path: Path) -> dict[str, Any]:
    """The training state a checkpoint holds (``weights_only``: no code runs while reading it)."""
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise ControllerError(f"{path}: not a learner's training state ({exc})") from None
    return state


class EpisodeLog:
    """Running sums of each simulation's episode, turned into a learning-curve row when it ends.

    A row holds the episode's mean return per signal, its score as evaluation computes it
    (``delay_s``, ``throughput_per_h``, ``vehicles_not_inserted``: see
    :func:`~traffic_lam.env.vector.score_columns`), the halting vehicles per signal averaged
    over its decisions (``avg_queue``), its arrivals, the exploration and the wall-clock
    seconds of training so far.

    Args:
        num_envs: parallel simulations.
        agents: signal ids (the first one's infos carry the system figures).
        elapsed_s: wall-clock seconds of training before (a resumed run's last curve row).
    """

    def __init__(self, num_envs: int, agents: list[str], elapsed_s: float = 0.0) -> None:
        self.first, self.signals = agents[0], len(agents)
        self.returns = np.zeros(num_envs)
        self.halting = np.zeros(num_envs)
        self.steps = np.zeros(num_envs)
        self.arrived = [0] * num_envs
        self.scores: list[dict[str, Any] | None] = [None] * num_envs
        self.started = time.perf_counter() - elapsed_s  # a resumed run's wall clock continues

    def step(self, rewards: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Add a step: rewards ``[B, N]`` and the simulations' infos (a finished one's ``final_info``, ``episode``)."""
        system = [i[self.first].get("final_info", i[self.first])["system"] for i in infos]
        self.scores = [i[self.first].get("episode") for i in infos]
        self.returns += rewards.sum(1) / self.signals
        self.halting += [s["halting"] / self.signals for s in system]
        self.steps += 1
        self.arrived = [s["arrived"] for s in system]

    def finish(self, e: int, episode: int, epsilon: float) -> dict[str, Any]:
        """The curve row of simulation ``e``'s episode just ended (numbered ``episode``); restart its sums."""
        row = {
            "episode": episode,
            "return": float(self.returns[e]),
            **score_columns(self.scores[e]),
            "avg_queue": float(self.halting[e] / self.steps[e]),
            "arrived": self.arrived[e],
            "epsilon": epsilon,
            "wall_s": time.perf_counter() - self.started,
        }
        self.returns[e] = self.halting[e] = self.steps[e] = 0.0
        return row
