"""TensorBoard scalars of the off-policy loop's learning curve, one point per training episode.

The SB3 learners write their TensorBoard logs into ``<checkpoint_dir>/tensorboard``
(``models/<label>/tensorboard`` in a run folder); the off-policy loop writes there too,
under the learner's name: ``tensorboard --logdir runs/<scenario>/models`` shows every learner.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
from pathlib import Path
from typing import Any

from traffic_lam.controllers.offpolicy.loop import LoopCallback

_NOT_SCALARS = ("episode", "wall_s")
"""Curve columns that are no scalar to plot (the step, the clock)."""


class TensorBoardLog(LoopCallback):
    """Writes every numeric column of each curve row as ``episode/<column>`` at step = the episode number.

    Columns are those of :class:`~traffic_lam.controllers.offpolicy.loop.EpisodeLog`: the
    return, delay, throughput, vehicles never inserted, average queue, arrivals and the
    exploration (``epsilon``); a column without a value (e.g. no delay) is skipped.

    Args:
        folder: where the event files go (created on the first episode).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._writer: Any = None

    @staticmethod
    def available() -> bool:
        """Whether tensorboard is installed (``torch.utils.tensorboard`` needs it)."""
        return importlib.util.find_spec("tensorboard") is not None

    def on_episode_end(self, row: dict[str, Any]) -> None:
        """Add the row's scalars."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.folder))
        step = int(row["episode"])
        for column, value in row.items():
            if column in _NOT_SCALARS or isinstance(value, bool) or not isinstance(value, numbers.Real):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(f"episode/{column}", float(value), step)

    def on_training_end(self) -> None:
        """Flush what was written."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Close the event file (safe to call more than once)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
