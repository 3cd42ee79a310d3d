"""Checkpoints written as one unit, listed with their SHA-256 in a manifest, verified before anything is loaded.

A checkpoint is the set of files training resumes from (the learner's model, its training
state, ``progress.json``: episodes done, learning-curve rows, random-number states). It
lives in the training budget's ``checkpoint_dir``, beside what else that folder holds
(the final model, SUMO's trip files), under fixed names, and it changes as one unit:

1. :func:`write_checkpoint` fills a fresh staging folder ``.checkpoint.tmp-*`` and writes
   :data:`MANIFEST` (every file's SHA-256) into it last;
2. renaming the staging folder to ``.checkpoint.new`` commits it (one atomic rename);
3. its files are moved over the previous checkpoint's, the manifest last, and the folder
   removed.

A crash (``kill -9``) before step 2 leaves the previous checkpoint intact and a staging
folder that :func:`open_checkpoint` deletes; a crash during step 3 leaves a committed
``.checkpoint.new`` that :func:`open_checkpoint` finishes moving (roll forward). Either way
resuming sees one complete checkpoint, and every file of it is checked against the
manifest before any is read.

The manifest protects against a file changed or corrupted *after* it was written; it is
no protection against whoever wrote the folder (they write the manifest too).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.errors import ControllerError
from traffic_lam.files import atomic_write_text, write_csv

MANIFEST = "checkpoint.manifest.json"
"""The manifest of the checkpoint in a folder: every file of it with its SHA-256 (written last)."""
PROGRESS = "progress.json"
"""The checkpoint's episodes done, learning-curve rows and random-number states (JSON)."""
PENDING = ".checkpoint.new"
"""A complete, committed checkpoint being moved into place."""
STAGING = ".checkpoint.tmp-"
"""Prefix of a checkpoint being written (incomplete until renamed to :data:`PENDING`)."""
FORMAT = 1
"""Version of the manifest and ``progress.json``."""


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected: Any, listed_in: Path) -> None:
    """Raise :class:`ControllerError` (one line naming ``path``) unless its SHA-256 is ``expected``."""
    if not path.is_file():
        raise ControllerError(f"{path}: missing, but listed in {listed_in}")
    if not isinstance(expected, str) or sha256_of(path) != expected:
        raise ControllerError(
            f"{path}: its SHA-256 does not match {listed_in} (changed or corrupted after it was written); "
            "refusing to load it"
        )


@dataclass(frozen=True)
class Resumed:
    """A verified checkpoint: where its files are, and what ``progress.json`` says.

    Attributes:
        folder: the folder its files are in (by their names in the manifest).
        episodes: training episodes done when it was written.
        curve: the learning-curve rows up to then (one per episode, JSON types).
        rng: the random-number states (:func:`capture_rng`).
        extra: what the learner added to ``progress.json`` (JSON).
        files: the names the manifest lists (each verified); only these are read.
    """

    folder: Path
    episodes: int
    curve: list[dict[str, Any]]
    rng: dict[str, Any]
    extra: dict[str, Any]
    files: frozenset[str]

    def has(self, name: str) -> bool:
        """Whether the checkpoint holds (and its manifest lists) the file ``name``."""
        return name in self.files

    def file(self, name: str) -> Path:
        """The verified file ``name`` of the checkpoint.

        Raises:
            ControllerError: the manifest does not list it (a file beside it is never trusted).
        """
        if name not in self.files:
            raise ControllerError(f"{self.folder / name}: not listed in {self.folder / MANIFEST}")
        return self.folder / name


def write_checkpoint(
    folder: Path,
    fill: Callable[[Path], None],
    episodes: int,
    curve: Iterable[Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint into ``folder`` as one unit (see the module's description).

    Args:
        folder: the training budget's ``checkpoint_dir`` (created).
        fill: writes the learner's files into the staging folder it is given.
        episodes: training episodes done.
        curve: the learning-curve rows up to now.
        extra: more JSON for ``progress.json`` (e.g. an SB3 action space's generator).
    """
    folder.mkdir(parents=True, exist_ok=True)
    _recover(folder)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=STAGING))
    try:
        fill(staging)
        progress = {"format": FORMAT, "episodes": int(episodes), "curve": [dict(r) for r in curve],
                    "rng": capture_rng(), "extra": dict(extra or {})}  # fmt: skip
        atomic_write_text(staging / PROGRESS, json.dumps(progress) + "\n")
        files = sorted(p.name for p in staging.iterdir() if p.is_file())
        for name in files:
            _fsync(staging / name)
        manifest = {"format": FORMAT, "episodes": int(episodes), "files": {n: sha256_of(staging / n) for n in files}}
        atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _fsync(staging)
        os.replace(staging, folder / PENDING)  # the commit
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync(folder)
    _install(folder)


def open_checkpoint(folder: Path | None, legacy: Iterable[str] = ()) -> Resumed | None:
    """The verified checkpoint in ``folder``, or None when there is none (after finishing an interrupted write).

    Args:
        folder: the training budget's ``checkpoint_dir`` (None: no checkpoints).
        legacy: names of checkpoint files written before manifests existed; one found
            without a manifest is refused rather than trusted.

    Raises:
        ControllerError: a file does not match the manifest, one is missing, or a
            checkpoint has no manifest (one line naming the file).
    """
    if folder is None or not folder.is_dir():
        return None
    _recover(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        for name in legacy:
            if (folder / name).exists():
                raise ControllerError(
                    f"{folder / name}: a checkpoint without {MANIFEST} (written by an older version, or not "
                    "by traffic_lam): refusing to resume from it; delete it to train from the start"
                )
        return None
    manifest = _read_json(manifest_path)
    files = manifest.get("files")
    if not isinstance(files, dict) or PROGRESS not in files:
        raise ControllerError(f"{manifest_path}: not a checkpoint manifest (no 'files' with {PROGRESS})")
    for name, expected in files.items():
        verify_file(folder / name, expected, manifest_path)
    progress = _read_json(folder / PROGRESS)
    return Resumed(folder, int(progress["episodes"]), list(progress["curve"]), dict(progress["rng"]),
                   dict(progress.get("extra") or {}), frozenset(files))  # fmt: skip


def restart_curve(curve_file: Path | None, resumed: Resumed | None) -> list[dict[str, Any]]:
    """The curve rows training continues from: the checkpoint's; the curve file rewritten to hold just those.

    Rows written after the checkpoint (by a run that crashed) are dropped: their episodes
    run again. Without a checkpoint the curve starts empty (a stale file is removed).
    """
    rows = list(resumed.curve) if resumed is not None else []
    if curve_file is not None:
        if rows:
            write_csv(curve_file, rows)
        else:
            curve_file.unlink(missing_ok=True)
    return rows


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ControllerError(f"{path}: unreadable ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ControllerError(f"{path}: expected a JSON object")
    return data


def _recover(folder: Path) -> None:
    """Delete incomplete staging folders; finish moving a committed checkpoint into place."""
    for staging in folder.glob(STAGING + "*"):
        shutil.rmtree(staging, ignore_errors=True)
    if (folder / PENDING).is_dir():
        _install(folder)


def _install(folder: Path) -> None:
    """Move the committed checkpoint's files over the previous one's, the manifest last (idempotent)."""
    pending = folder / PENDING
    if not (pending / MANIFEST).is_file():  # the manifest moved last: the move was complete
        shutil.rmtree(pending, ignore_errors=True)
        return
    new = set(_read_json(pending / MANIFEST)["files"])
    for name in new:
        if (pending / name).is_file():  # else moved before an interruption
            os.replace(pending / name, folder / name)
    old = set(_read_json(folder / MANIFEST).get("files", {})) if (folder / MANIFEST).is_file() else set()
    for name in old - new - {MANIFEST}:  # files the new checkpoint does without (e.g. reward statistics)
        (folder / name).unlink(missing_ok=True)
    os.replace(pending / MANIFEST, folder / MANIFEST)
    _fsync(folder)
    shutil.rmtree(pending, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file or a folder's entries to disk (best effort where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------- random-number states
def capture_rng() -> dict[str, Any]:
    """The process-wide random-number states (Python, numpy, torch CPU and CUDA) as JSON.

    These are what SB3 seeds (``set_random_seed``) and draws from: exploration, replay
    sampling, network initialisation; a learner's own generators are saved with its state.
    """
    import torch

    kind, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": _jsonable(random.getstate()),
        "numpy": [kind, keys.tolist(), int(position), int(has_gauss), float(gauss)],
        "torch": tensor_text(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [tensor_text(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Set the process-wide random-number states :func:`capture_rng` returned."""
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(text_tensor(state["torch"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([text_tensor(s) for s in state["cuda"]])


def tensor_text(tensor: Any) -> str:
    """A byte tensor (a torch generator's state) as base64 text."""
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def text_tensor(text: str) -> Any:
    """The byte tensor :func:`tensor_text` wrote."""
    import torch

    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value
