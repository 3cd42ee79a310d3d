"""Opening a run folder: it holds the results of one fingerprint, or is refused.

A run folder records what produced it in ``fingerprint.json`` (see
:mod:`traffic_lam.experiments.fingerprint`)::

    {"fingerprint": {...}, "sha256": "...", "history": [{"at": "...", "event": "created"}, ...]}

Opening it again with the same fingerprint resumes. A different fingerprint, or a
folder holding results but no fingerprint (written by an older version), is refused
before anything is written, unless the caller asks to

* ``restart``: the old folder is moved aside whole, to ``<folder>.old-<UTC time>`` next to
  it (nothing is deleted), and a new one started;
* ``resume-anyway``: the old results are kept and the run goes on; the event, what
  changed and the replaced fingerprint are appended to the history.

``scenario.yaml`` is copied only into a new (or restarted) folder, never over old results.
Failed jobs' tracebacks are appended to ``logs/failures.log``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traffic_lam.errors import ConfigError
from traffic_lam.experiments.fingerprint import changes, digest
from traffic_lam.experiments.store import ResultsStore
from traffic_lam.files import atomic_write_text

ON_CHANGE = ("refuse", "restart", "resume-anyway")
"""What to do with a folder whose results another fingerprint produced."""

RECORD = "fingerprint.json"
FAILURE_LOG = Path("logs") / "failures.log"
_RUN_ENTRIES = (RECORD, "results.csv", "scenario.yaml", "models", "episodes", "curves")
"""Entries that make a folder a run folder (holding results of some run)."""


class RunFolderError(ConfigError):
    """A run folder holds results another scenario (or version) produced."""


@dataclass(frozen=True)
class OpenedFolder:
    """A run folder ready for jobs.

    Attributes:
        store: its results store.
        notes: what opening it did (folder moved aside, override recorded), one line each.
    """

    store: ResultsStore
    notes: tuple[str, ...] = ()


def check_output_folder(path: str | Path) -> None:
    """Check that ``path`` is, or can be created as, a writable folder, creating nothing.

    Raises:
        ConfigError: one line naming the folder and the obstacle.
    """
    folder = Path(path)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"no permission to write in {existing}"
    if problem:
        raise ConfigError(f"run folder {folder}: cannot write there ({problem})")


def written_by_run(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding results of ``traffic-lam run`` (not, say, a comparison)."""
    folder = Path(path)
    return any((folder / name).exists() for name in (RECORD, "scenario.yaml", "models", "episodes"))


def open_run_folder(
    path: str | Path, fingerprint: dict[str, Any], scenario_file: Path | None, on_change: str = "refuse"
) -> OpenedFolder:
    """Open ``path`` for a run of ``fingerprint`` (see the module docstring for what each case does).

    Args:
        path: the run folder (created when missing).
        fingerprint: the run's :func:`~traffic_lam.experiments.fingerprint.fingerprint`.
        scenario_file: the scenario file, copied into a new folder as ``scenario.yaml``.
        on_change: one of :data:`ON_CHANGE`.

    Raises:
        RunFolderError: the folder holds other results and ``on_change`` is ``"refuse"``.
        ConfigError: an unknown ``on_change``, or the folder cannot be written.
    """
    if on_change not in ON_CHANGE:
        raise ConfigError(f"on_change: expected one of {', '.join(ON_CHANGE)}, got {on_change!r}")
    folder = Path(path)
    check_output_folder(folder)
    old, why = _recorded(folder)
    if on_change == "restart" and _holds_run(folder):
        aside = _move_aside(folder)
        return _new(folder, fingerprint, scenario_file, "restart", f"{folder}: moved the old results to {aside}")
    if not _holds_run(folder):
        return _new(folder, fingerprint, scenario_file, "created")
    if old is not None and not why:
        why = changes(old["fingerprint"], fingerprint)
    if not why:
        store = ResultsStore(folder)
        if not (folder / "scenario.yaml").exists():
            store.save_scenario(scenario_file)
        return OpenedFolder(store)
    if on_change == "refuse":
        raise RunFolderError(
            f"{folder}: {why}: use a new --out, or --restart to move the old results aside and start over, or "
            "--resume-anyway to keep them (recorded in the folder)"
        )
    history = list(old.get("history", [])) if old else []
    history.append({"at": _now(), "event": "resume-anyway", "reason": why, "previous": (old or {}).get("fingerprint")})
    store = ResultsStore(folder)
    _write(folder, fingerprint, history)
    return OpenedFolder(store, (f"{folder}: resuming although {why} (recorded in {folder / RECORD})",))


def log_failure(run_dir: str | Path, what: str, text: str) -> Path:
    """Append a failed job's traceback to the run folder's ``logs/failures.log``; return the log's path."""
    log = Path(run_dir) / FAILURE_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    entry = f"=== {_now()} {what}\n{text.rstrip()}\n\n"
    with log.open("a", encoding="utf-8") as handle:  # one write per entry: entries never interleave
        handle.write(entry)
    return log


def _recorded(folder: Path) -> tuple[dict[str, Any] | None, str]:
    """The folder's ``fingerprint.json`` and, when it is missing or unreadable but results exist, why that matters."""
    record = folder / RECORD
    if not record.is_file():
        return None, (
            "holds results but no fingerprint.json (written by an older traffic_lam), so whether the scenario "
            "changed cannot be told"
        )
    try:
        data = json.loads(record.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("fingerprint"), dict):
            raise ValueError("no 'fingerprint' mapping")
    except (OSError, ValueError) as exc:
        return None, f"its {RECORD} is unreadable ({exc}), so whether the scenario changed cannot be told"
    return data, ""


def _holds_run(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).exists() for name in _RUN_ENTRIES)


def _new(
    folder: Path, fingerprint: dict[str, Any], scenario_file: Path | None, event: str, *notes: str
) -> OpenedFolder:
    """Start a run folder: its fingerprint first (no results are ever without one), then the scenario."""
    store = ResultsStore(folder)
    _write(folder, fingerprint, [{"at": _now(), "event": event}])
    store.save_scenario(scenario_file)
    return OpenedFolder(store, notes)


def _write(folder: Path, fingerprint: dict[str, Any], history: list[dict[str, Any]]) -> None:
    record = {"fingerprint": fingerprint, "sha256": digest(fingerprint), "history": history}
    atomic_write_text(folder / RECORD, json.dumps(record, indent=2) + "\n")


def _move_aside(folder: Path) -> Path:
    """Rename ``folder`` to a free ``<name>.old-<UTC time>[-n]`` beside it."""
    folder = folder.resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    aside = folder.with_name(f"{folder.name}.old-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = folder.with_name(f"{folder.name}.old-{stamp}-{n}")
    try:
        folder.rename(aside)
    except OSError as exc:
        raise ConfigError(f"run folder {folder}: cannot move it aside to {aside} ({exc.strerror or exc})") from None
    return aside


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
