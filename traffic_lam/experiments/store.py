"""Run folder and results store: one tidy row per episode, written atomically, resumable.

Layout of a run folder::

    results.csv            one row per (controller, seed, episode)
    results.schema.json    the type of each results.csv column (written with it)
    scenario.yaml          the scenario that produced them (copied verbatim)
    episodes/<controller>/seed<S>-ep<K>/tripinfo.xml   SUMO's own trip output per episode
    models/<controller>/   trained learners: model.final, model.selected (best validation delay), selection.json,
                           checkpoints
    curves/<controller>.csv   learning curves (one row per training episode)
    curves/<controller>.validation.csv   the validations of the learner's training (model selection)
    curves/<controller>.warnings.json    a reward-hacking warning of its training, if any
    plots/*.png, report.html
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from traffic_lam.files import atomic_write_text, ensure_writable_dir, read_csv, write_csv
from traffic_lam.metrics.record import EpisodeRecord

KEY_COLUMNS = ("controller", "network", "seed", "episode")

RUNNER_COLUMNS: Mapping[str, type] = MappingProxyType(
    {
        "controller": str,
        "controller_type": str,
        "policy": str,
        "seed": int,
        "episode": int,
        "sumo_seed": int,
        "job_wall_time_s": float,
    }
)
"""Columns the runner sets on an episode's row: the scenario's label and type, a learner's policy (``selected``,
``final``; empty for a classic controller), its evaluation seed and episode."""


def job_key(controller: str, seed: int, episode: int) -> str:
    """Identity of one evaluation episode in a run folder."""
    return f"{controller}|{seed}|{episode}"


def result_types() -> dict[str, type]:
    """The declared type of every known results column: the episode record's fields, then the runner's columns.

    Other columns (metrics declared by a user: numbers or None) take the type of their values
    when written (:func:`traffic_lam.files.write_csv`).
    """
    hints = typing.get_type_hints(EpisodeRecord)
    return {**{name: _without_none(hints[name]) for name in EpisodeRecord.columns()}, **RUNNER_COLUMNS}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Read a results CSV with its types (empty cells become None); labels are strings, always.

    Known columns read as :func:`result_types` declares them; the others as the schema beside
    the file says (``results.schema.json``), or as strings for a file written before schemas.
    """
    return read_csv(path, types=result_types())


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as CSV atomically with their schema; key columns first, then the rest in first-seen order.

    Raises:
        ConfigError: a value that is not of its column's declared type (a label that is not a string).
    """
    write_csv(path, rows, first=KEY_COLUMNS, types=result_types())


class ResultsStore:
    """The results of one run folder.

    Args:
        run_dir: the run folder; created if missing.

    Raises:
        ConfigError: the folder cannot be created or written.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = ensure_writable_dir(run_dir, "run folder")
        self.results_path = self.run_dir / "results.csv"
        self._stored: list[dict[str, Any]] | None = None  # read on first use: path lookups need no results

    @property
    def _rows(self) -> list[dict[str, Any]]:
        if self._stored is None:
            self._stored = read_rows(self.results_path) if self.results_path.is_file() else []
        return self._stored

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every stored episode row (a copy)."""
        return [dict(r) for r in self._rows]

    def done(self) -> set[str]:
        """Keys (:func:`job_key`) of the episodes already stored."""
        return {job_key(str(r["controller"]), int(r["seed"]), int(r["episode"])) for r in self._rows}

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Add (or replace, same key) rows and rewrite the CSV atomically."""
        new = {job_key(str(r["controller"]), int(r["seed"]), int(r["episode"])): r for r in rows}
        kept = [r for r in self._rows if job_key(str(r["controller"]), int(r["seed"]), int(r["episode"])) not in new]
        rows = kept + list(new.values())
        write_rows(self.results_path, rows)
        self._stored = rows  # after the write: rows refused (or a failed write) leave the store as it was

    def save_scenario(self, source: Path | None, text: str | None = None) -> None:
        """Keep a verbatim copy of the scenario file that produced the run."""
        if source is not None and source.is_file():
            atomic_write_text(self.run_dir / "scenario.yaml", source.read_text())
        elif text is not None:
            atomic_write_text(self.run_dir / "scenario.yaml", text)

    def episode_dir(self, controller: str, seed: int, episode: int) -> Path:
        """Folder for one episode's SUMO outputs (created)."""
        folder = self.run_dir / "episodes" / _safe(controller) / f"seed{seed}-ep{episode}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def model_folder(self, controller: str) -> Path:
        """Folder of a learner's saved model and checkpoints (not created)."""
        return self.run_dir / "models" / _safe(controller)

    def model_dir(self, controller: str) -> Path:
        """Folder for a learner's saved model and checkpoints (created)."""
        folder = self.model_folder(controller)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def curve_path(self, controller: str) -> Path:
        """CSV file of a learner's learning curve."""
        (self.run_dir / "curves").mkdir(exist_ok=True)
        return self.run_dir / "curves" / f"{_safe(controller)}.csv"


def _without_none(hint: Any) -> type:
    """``float`` for ``float | None``; the type itself otherwise."""
    (kind,) = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return kind


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
