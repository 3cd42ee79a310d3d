"""What SB3 training leaves behind while it runs: checkpoints to resume from, and the learning curve.

A checkpoint is one unit (written, committed and verified by
:mod:`traffic_lam.controllers.checkpoints`) of:

* ``checkpoint.zip``: the SB3 model (networks, optimiser state, timestep and update
  counters, exploration rate);
* ``replay_buffer.pkl``: DQN's replay buffer (SB3's pickle). PPO has none to save: the
  rollout it was collecting is dropped, and a resumed run collects a fresh one;
* ``reward_scaling.pkl``: ``VecNormalize``'s running return statistics (``normalize_reward``);
* ``progress.json``: episodes done, the learning-curve rows up to the checkpoint, the
  Python, numpy and torch random-number states (what SB3 draws exploration, replay
  samples and sampled actions from), the action space's generator and the validations so far;
* ``selected.model`` (+ ``.json``): the policy validation selected so far
  (:mod:`traffic_lam.controllers.selection`).

The ``.pkl`` files and some entries of the zip are pickles: they are read only after
every file matched the manifest. DQN checkpoints after the step's transition is stored
(:attr:`~traffic_lam.controllers.sb3.policies.MaskedDQN.after_store`), so the buffer
holds every transition of the episodes counted; its gradient steps, every ``train_freq``
steps, count from the resume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from stable_baselines3.common.callbacks import BaseCallback

from traffic_lam.controllers import checkpoints
from traffic_lam.controllers.checkpoints import Resumed
from traffic_lam.controllers.selection import Selection, Validator
from traffic_lam.files import write_csv


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint training resumes from, in one folder.

    Attributes:
        folder: where it is (the training budget's ``checkpoint_dir``).
    """

    folder: Path
    MODEL: ClassVar[str] = "checkpoint.zip"
    """The SB3 zip."""
    REPLAY_BUFFER: ClassVar[str] = "replay_buffer.pkl"
    """DQN's replay buffer."""
    REWARD_SCALING: ClassVar[str] = "reward_scaling.pkl"
    """The running return statistics that scale rewards (``normalize_reward``)."""

    @property
    def model(self) -> Path:
        """The SB3 zip."""
        return self.folder / self.MODEL

    @property
    def replay_buffer(self) -> Path:
        """DQN's replay buffer."""
        return self.folder / self.REPLAY_BUFFER

    @property
    def reward_scaling(self) -> Path:
        """The running return statistics that scale rewards (``normalize_reward``)."""
        return self.folder / self.REWARD_SCALING

    def open(self) -> Resumed | None:
        """The checkpoint here, every file checked against its manifest; None when there is none.

        Raises:
            ControllerError: a file does not match the manifest (one line naming it).
        """
        return checkpoints.open_checkpoint(self.folder, legacy=[self.MODEL])

    def resume(self, resumed: Resumed, algorithm: Any, env: Any, device: str) -> Any:
        """The model of the (verified) checkpoint, bound to ``env``, with its replay buffer and random states."""
        model = algorithm.load(resumed.file(self.MODEL), env=env, device=device)  # seeds the generators: see below
        if resumed.has(self.REPLAY_BUFFER) and hasattr(model, "load_replay_buffer"):
            model.load_replay_buffer(resumed.file(self.REPLAY_BUFFER))
        checkpoints.restore_rng(resumed.rng)
        if "action_space" in resumed.extra:
            model.action_space.np_random.bit_generator.state = resumed.extra["action_space"]
        return model

    def save(self, model: Any, curve: list[dict[str, Any]], validator: Validator | None = None) -> None:
        """Checkpoint ``model`` (replay buffer, reward statistics, curve rows, validations) as one unit."""

        def fill(staging: Path) -> None:
            normalizer = model.get_vec_normalize_env()
            if normalizer is not None:
                normalizer.save(str(staging / self.REWARD_SCALING))
            model.save(staging / self.MODEL)
            if hasattr(model, "save_replay_buffer"):
                model.save_replay_buffer(staging / self.REPLAY_BUFFER)
            if validator is not None:
                validator.save_selected(staging)

        extra = {"action_space": model.action_space.np_random.bit_generator.state}
        if validator is not None:
            extra.update(validator.extra())
        checkpoints.write_checkpoint(self.folder, fill, len(curve), curve, extra)


class Progress(BaseCallback):
    """Writes the learning curve after every finished simulation episode; validates and checkpoints.

    The policy is validated every ``validate_every`` episodes of the validator's budget
    (:class:`~traffic_lam.controllers.selection.Validator`), before the checkpoint of the
    same episode; :meth:`finish` validates the final policy.

    A curve row holds the episode number, the SB3 timesteps so far, the episode's return
    (mean over signals), its score as evaluation computes it (``delay_s``,
    ``throughput_per_h``, ``vehicles_not_inserted``; also ``avg_delay``, the delay's
    earlier name), its length, arrivals and the queue at its last decision (``avg_queue``),
    and ``wall_s``, the wall-clock seconds of training so far (a resumed run's clock continues).

    Args:
        vec: the training :class:`~traffic_lam.controllers.sb3.vec_env.SignalVecEnv` (its finished episodes).
        curve_file: CSV of the curve (rewritten after every finished episode); None keeps it in memory.
        checkpoint: where to checkpoint; None: never.
        every: episodes between checkpoints.
        curve: the rows training continues from (a resumed checkpoint's).
        validator: validates the policy (None: never).
    """

    def __init__(
        self,
        vec: Any,
        curve_file: Path | None,
        checkpoint: Checkpoint | None,
        every: int,
        curve: list[dict[str, Any]] | None = None,
        validator: Validator | None = None,
    ) -> None:
        super().__init__()
        self.vec, self.curve_file, self.checkpoint, self.every = vec, curve_file, checkpoint, every
        self.curve: list[dict[str, Any]] = list(curve or [])
        self.validator = validator
        self.saved_at: tuple[int, int] | None = None  # timesteps and validations at the last checkpoint
        self._due = False
        self._after_store = False  # an off-policy model: checkpoint once the step's transition is stored
        elapsed = float(self.curve[-1].get("wall_s") or 0.0) if self.curve else 0.0
        self._started = time.perf_counter() - elapsed

    def _on_training_start(self) -> None:
        self._after_store = hasattr(self.model, "after_store")
        if self._after_store:
            self.model.after_store = self._save_if_due

    def _on_training_end(self) -> None:
        if self._after_store:
            self.model.after_store = None

    def _on_step(self) -> bool:
        finished = self.vec.finished_episodes
        for episode in finished:
            wall = {"wall_s": time.perf_counter() - self._started}
            self.curve.append({"episode": len(self.curve) + 1, "timesteps": int(self.num_timesteps), **episode, **wall})
            if self.validator is not None and self.validator.due(len(self.curve)):
                self.validator.validate(self.curve)
            self._due = self._due or (bool(self.every) and len(self.curve) % self.every == 0)
        if finished and self.curve_file:
            write_csv(self.curve_file, self.curve)
        finished.clear()
        if not self._after_store:
            self._save_if_due()
        return True

    def _save_if_due(self) -> None:
        """Checkpoint if an episode count due for one was reached (once, however many simulations finished)."""
        if self._due:
            self._due = False
            self.save_checkpoint(self.model)

    def save_checkpoint(self, model: Any) -> None:
        """Checkpoint ``model`` now (nothing without a checkpoint folder)."""
        if self.checkpoint is not None:
            self.checkpoint.save(model, self.curve, self.validator)
            self.saved_at = self._position(model)

    def finish(self, model: Any) -> Selection | None:
        """End of training: validate the final policy (:meth:`Validator.finish`), checkpoint unless just done."""
        selection = self.validator.finish(self.curve) if self.validator is not None else None
        if self.saved_at != self._position(model):
            self.save_checkpoint(model)
        return selection

    def _position(self, model: Any) -> tuple[int, int]:
        """Where training is: its timesteps and the validations done."""
        return int(model.num_timesteps), len(self.validator.validations) if self.validator is not None else 0
