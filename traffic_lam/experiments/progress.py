"""What a run tells its ``progress`` callback: each training episode of each learner, each evaluated episode.

Training jobs run in worker processes (or Ray tasks), so their progress is read where
every learner writes it anyway: its learning-curve CSV (``curves/<label>.csv``, rewritten
atomically after every finished episode). While training jobs run, a
:class:`CurveWatcher` thread polls those files and reports every new row; the runner
reports each finished job and each finished evaluation job itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traffic_lam.errors import TrafficLamError

POLL_S = 0.5
"""Seconds between two looks at the learners' curve files."""


@dataclass(frozen=True)
class ProgressUpdate:
    """One thing a run has done.

    Attributes:
        phase: ``"train"`` (one learner's training) or ``"evaluate"`` (the run's evaluation jobs).
        done: training episodes of this learner done (its curve rows), or evaluation jobs done.
        total: the learner's training episodes, or the evaluation jobs of this run.
        name: the learner's label (``"train"``); ``""`` for evaluation.
        latest: the learner's latest curve row (``return``, ``delay_s`` ...), or the latest
            evaluated episode's row; empty when none is known.
        elapsed_s: seconds this learner's training or the evaluation has run so far: for a
            learner, its curve's ``wall_s`` where it has one (its training loop), and its whole
            job (start-up and saving included) once it has finished.
        finished: the learner's training job, or the last evaluation job, has ended.
        failed: the training job failed (with ``finished``).
    """

    phase: str
    done: int
    total: int
    name: str = ""
    latest: Mapping[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    finished: bool = False
    failed: bool = False


ProgressCallback = Callable[[ProgressUpdate], None]
"""What :func:`~traffic_lam.experiments.runner.execute_run` calls with every :class:`ProgressUpdate`."""


class CurveWatcher:
    """Reports the new rows of learners' curve files while their training jobs run (a context manager).

    A thread looks at every file each ``interval_s``; a file older than the watcher (left by
    an earlier run, before its learner's training restarted it) is not read. Every call of
    ``progress`` is made under one lock, so the runner's own calls (:meth:`finished`) never
    interleave with the thread's. Without a ``progress`` callback nothing is watched.

    Args:
        curves: per learner label, its curve file and training episodes.
        progress: the callback (None: nothing is reported).
        interval_s: seconds between two looks.
    """

    def __init__(
        self, curves: Mapping[str, tuple[Path, int]], progress: ProgressCallback | None, interval_s: float = POLL_S
    ) -> None:
        self.curves = dict(curves)
        self.progress = progress
        self.interval_s = interval_s
        self._seen = dict.fromkeys(self.curves, 0)
        self._latest: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.time()

    def __enter__(self) -> CurveWatcher:
        if self.progress is not None and self.curves:
            self._thread = threading.Thread(target=self._watch, name="traffic_lam-curves", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def finished(self, name: str, failed: bool = False, wall_s: float | None = None) -> None:
        """Learner ``name``'s job ended (after ``wall_s`` seconds, where known): report its last rows, then the end."""
        if self.progress is None:
            return
        with self._lock:
            self._look(name)
            latest = self._latest.get(name, {})
            took = self._elapsed(latest) if wall_s is None else wall_s
            self.progress(
                ProgressUpdate("train", self._seen[name], self.curves[name][1], name, latest, took, True, failed)
            )

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            for name in self.curves:
                with self._lock:
                    self._look(name)

    def _look(self, name: str) -> None:
        """Read ``name``'s curve file if it changed since this watcher started; report a new row."""
        from traffic_lam.files import read_csv

        path, total = self.curves[name]
        try:
            written = path.stat().st_mtime
            if written < self._started - 1.0:  # (file times lag the clock by a tick)
                return
            rows = read_csv(path)
        except (OSError, ValueError, TrafficLamError):  # not written yet, or being replaced: next time
            return
        rows = [r for r in rows if r.get("episode") not in (None, "")]  # episodes (a clone's curve has epochs)
        if len(rows) <= self._seen[name] or self.progress is None:
            return
        self._seen[name], self._latest[name] = len(rows), rows[-1]
        self.progress(ProgressUpdate("train", len(rows), total, name, rows[-1], self._elapsed(rows[-1], written)))

    def _elapsed(self, row: Mapping[str, Any], written: float | None = None) -> float:
        """Seconds of training behind ``row``: its ``wall_s`` (plus the time since it was written), else the watch's."""
        wall = row.get("wall_s")
        now = time.time()
        if isinstance(wall, (int, float)):
            return float(wall) + max(0.0, now - written) if written is not None else float(wall)
        return now - self._started
