"""What SB3 training leaves behind while it runs: checkpoints to resume from, and the learning curve."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from traffic_lam.files import atomic_open, read_csv, write_csv


@dataclass(frozen=True)
class Checkpoint:
    """The files training resumes from, in one folder.

    Attributes:
        folder: where they are (the training budget's ``checkpoint_dir``).
    """

    folder: Path

    @property
    def model(self) -> Path:
        """The SB3 zip."""
        return self.folder / "checkpoint.zip"

    @property
    def replay_buffer(self) -> Path:
        """DQN's replay buffer."""
        return self.folder / "replay_buffer.pkl"

    @property
    def reward_scaling(self) -> Path:
        """The running return statistics that scale rewards (``normalize_reward``)."""
        return self.folder / "reward_scaling.pkl"

    def resume(self, algorithm: Any, env: Any, device: str) -> Any | None:
        """The model saved here, bound to ``env`` (with its replay buffer), or None when there is none."""
        if not self.model.is_file():
            return None
        model = algorithm.load(self.model, env=env, device=device)
        if self.replay_buffer.is_file() and hasattr(model, "load_replay_buffer"):
            model.load_replay_buffer(self.replay_buffer)
        return model

    def save(self, model: Any) -> None:
        """Save ``model`` (with DQN's replay buffer and the reward statistics) where :meth:`resume` reads it."""
        normalizer = model.get_vec_normalize_env()
        if normalizer is not None:  # before the model: a resumed model never lacks its statistics
            with atomic_open(self.reward_scaling, "wb", encoding=None) as handle:
                pickle.dump(normalizer, handle)
        with atomic_open(self.model, "wb", encoding=None) as handle:
            model.save(handle)
        if hasattr(model, "save_replay_buffer"):
            model.save_replay_buffer(self.replay_buffer)


class Progress(BaseCallback):
    """Writes the learning curve after every finished simulation episode; checkpoints every ``every`` episodes.

    Args:
        vec: the training :class:`~traffic_lam.controllers.sb3.vec_env.SignalVecEnv` (its finished episodes).
        curve_file: CSV of the curve (continued when it exists: a resumed run); None keeps it in memory.
        checkpoint: where to checkpoint; None: never.
        every: episodes between checkpoints.
    """

    def __init__(self, vec: Any, curve_file: Path | None, checkpoint: Checkpoint | None, every: int) -> None:
        super().__init__()
        self.vec, self.curve_file, self.checkpoint, self.every = vec, curve_file, checkpoint, every
        self.curve: list[dict[str, Any]] = read_csv(curve_file) if curve_file and curve_file.is_file() else []
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
        if due:  # once, however many simulations finished
            self.save_checkpoint(self.model)
        if self.curve_file:
            write_csv(self.curve_file, self.curve)
        return True

    def save_checkpoint(self, model: Any) -> None:
        """Checkpoint ``model`` now (nothing without a checkpoint folder)."""
        if self.checkpoint is not None:
            self.checkpoint.save(model)
            self.saved_at = int(model.num_timesteps)
