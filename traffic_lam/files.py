"""Files: atomic writes (a temporary file in the same folder, then rename), CSV rows, SUMO XML.

A crash or an error mid-write never leaves a half-written result behind, and the
previous version of the file stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from traffic_lam.errors import ConfigError


def ensure_writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create ``path`` if needed and check that files can be written into it.

    Raises:
        ConfigError: one line naming the folder when it cannot be created or written.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {folder}: cannot write there ({exc.strerror or exc})") from None
    return folder


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(data)


def write_csv(path: str | Path, rows: Iterable[dict[str, Any]], first: Sequence[str] = ()) -> None:
    """Write rows as CSV atomically: the ``first`` columns present, then the others in first-seen order.

    ``None`` is written as an empty cell.
    """
    rows = list(rows)
    columns: list[str] = [c for c in first if any(c in r for r in rows)]
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    atomic_write_text(path, buffer.getvalue())


def read_csv(path: str | Path) -> list[dict[str, Any]]:
    """Read a CSV written by :func:`write_csv`, numbers and booleans converted back (empty cells: None)."""
    with Path(path).open(newline="") as handle:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def open_xml(path: str | Path) -> IO[bytes]:
    """Open a SUMO XML file (gzip-compressed when it ends in ``.gz``) for binary reading."""
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _parse(text: str | None) -> Any:
    if text is None or text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text in ("True", "False"):
        return text == "True"
    return text
