"""Faults for the fault-containment tests: a controller that kills its SUMO or its worker process once."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.controllers.max_pressure import MaxPressure


class KillSumo(MaxPressure):
    """Max-pressure that, the first time any of its instances reaches decision ``after``, kills something.

    Only the instance that creates ``marker`` (atomically) kills, so exactly one job fails
    and a re-run goes through.

    Args:
        marker: a file path; created by the instance that kills.
        target: ``"worker"`` kills the process running the job (use with ``--workers 2``);
            ``"sumo"`` kills the SUMO child process of a TraCI run.
        after: decision at which to kill.
        **params: max-pressure's arguments.
    """

    def __init__(self, marker: str, target: str = "worker", after: int = 3, **params: Any) -> None:
        super().__init__(**params)
        self.marker, self.target, self.after = marker, target, after

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        if self.steps == self.after and _first(self.marker):
            for pid in [os.getpid()] if self.target == "worker" else sumo_children():
                os.kill(pid, signal.SIGKILL)
        return super()._act(observations, infos)


def _first(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def sumo_children() -> list[int]:
    """Process ids of this process's ``sumo`` children (Linux ``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if "sumo" in name and int(rest[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


def die_on_three(x: int) -> int:
    """A job function whose process dies (no exception) on job 3."""
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


class NanAfter20sObservation:
    """An observation (one number) that becomes NaN at t = 20 s."""

    def space(self, signal: Any) -> Any:
        from gymnasium import spaces

        return spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32)

    def __call__(self, signal: Any) -> np.ndarray:
        return np.array([np.nan if signal.now >= 20 else 0.0], dtype=np.float32)


class KeepGreenOnNanObservation(MaxPressure):
    """A controller keeping every green, reading :class:`NanAfter20sObservation` (its jobs fail at t = 20 s)."""

    def observation_spec(self) -> Any:
        return "tests.helpers_faults:NanAfter20sObservation"

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        return {agent: int(info["phase"]) for agent, info in infos.items()}
