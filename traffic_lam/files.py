"""Files: atomic writes (a temporary file in the same folder, then rename), typed CSV tables, SUMO XML.

A crash or an error mid-write never leaves a half-written result behind, and the
previous version of the file stays intact until the new one is complete.

A CSV table is written with its schema beside it (``results.csv`` ->
``results.schema.json``: each column's type), so it reads back with the types it was
written with, in this process or by someone else later; nothing is guessed from a cell's
text (a label ``007`` or ``1e3`` stays a string).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import numbers
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np

from traffic_lam.errors import ConfigError

ColumnType = str | type
"""A CSV column's type: ``"str"``, ``"int"``, ``"float"``, ``"number"``, ``"bool"`` (or ``str``, ``int`` ...)."""

SCHEMA_FORMAT = "traffic_lam typed CSV 1"
"""The ``format`` entry of a schema file (:func:`schema_path`)."""


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

    On an exception the temporary file is removed and ``path`` is left untouched. The file gets
    the mode a plain ``open`` would give it (``0o666`` less the umask: 0644 under the usual
    umask 022), not the 0600 of a temporary file.
    """
    target = Path(path)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask (``os.umask`` can only read it by setting it: set and reset at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(data)


def schema_path(path: str | Path) -> Path:
    """Where the schema of the CSV file ``path`` lives: ``results.csv`` -> ``results.schema.json``."""
    path = Path(path)
    stem = path.stem if path.suffix == ".csv" else path.name
    return path.with_name(f"{stem}.schema.json")


def write_csv(
    path: str | Path,
    rows: Iterable[dict[str, Any]],
    first: Sequence[str] = (),
    types: Mapping[str, ColumnType] | None = None,
) -> None:
    """Write rows as CSV atomically, with its schema beside it (:func:`schema_path`).

    Columns: the ``first`` columns present, then the others in first-seen order. ``None`` is
    written as an empty cell (and an empty string reads back as ``None``). A column's type is
    ``types[column]`` when given, else the type of its values: ``"int"``, ``"float"``,
    ``"number"`` (ints and floats mixed), ``"bool"`` or ``"str"`` (anything else, and a column
    of empty cells); see :func:`read_csv`. The schema is written first: a crash between the two
    writes leaves a schema that still covers the previous CSV's columns when rows were only added.

    Raises:
        ConfigError: a value that is not of its column's declared type (a label given as a number
            in a ``"str"`` column, a float in an ``"int"`` column); nothing is written.
    """
    rows = list(rows)
    columns: list[str] = [c for c in first if any(c in r for r in rows)]
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    declared = {c: _type_name(types[c]) for c in columns if types and c in types}
    schema = {c: declared.get(c) or _infer([r.get(c) for r in rows]) for c in columns}
    for column, kind in declared.items():
        for row in rows:
            _check(path, column, kind, row.get(column))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    document = {"format": SCHEMA_FORMAT, "columns": schema}
    atomic_write_text(schema_path(path), json.dumps(document, indent=1) + "\n")
    atomic_write_text(path, buffer.getvalue())


def read_csv(
    path: str | Path, types: Mapping[str, ColumnType] | None = None, default: ColumnType = "str"
) -> list[dict[str, Any]]:
    """Read a CSV written by :func:`write_csv`, every column as its declared type (empty cells: None).

    A column's type is, in this order: ``types[column]``; the schema beside the file (used when
    it names every column of the file's header: a schema written for other columns is not);
    ``default``. Types are ``"str"``, ``"int"``, ``"float"``, ``"number"`` (an int when the
    text is an integer, else a float), ``"bool"``, or the Python types ``str``, ``int``, ``float``,
    ``bool``. No type is ever guessed from a cell: with the default, a column without a declared
    type reads as strings (a label ``007`` stays ``"007"``).

    Raises:
        ConfigError: a cell that is not a value of its column's type, or an unreadable schema file,
            as one line naming the file, the row and the column.
    """
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        kinds = {**_read_schema(path, header), **{c: _type_name(t) for c, t in (types or {}).items()}}
        fallback = _type_name(default)
        columns = [(c, kinds.get(c, fallback)) for c in header]
        return [{c: _cell(path, reader.line_num, c, kind, row.get(c)) for c, kind in columns} for row in reader]


def open_xml(path: str | Path) -> IO[bytes]:
    """Open a SUMO XML file (gzip-compressed when it ends in ``.gz``) for binary reading."""
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _number(text: str) -> int | float:
    return int(text) if _INTEGER.fullmatch(text) else float(text)


def _bool(text: str) -> bool:
    if text not in ("True", "False"):
        raise ValueError(text)
    return text == "True"


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not _is_bool(value)


_INTEGER = re.compile(r"[+-]?[0-9]+")
_PARSERS: Mapping[str, Callable[[str], Any]] = MappingProxyType(
    {"str": str, "int": int, "float": float, "number": _number, "bool": _bool}
)
_FITS: Mapping[str, Callable[[Any], bool]] = MappingProxyType(
    {
        "str": lambda v: isinstance(v, str),
        "int": _is_integer,
        "float": _is_number,
        "number": _is_number,
        "bool": _is_bool,
    }
)
"""Which values a column of each type holds (an int in a ``"float"`` column reads back equal, as a float)."""


def _type_name(kind: ColumnType) -> str:
    name = {str: "str", int: "int", float: "float", bool: "bool"}.get(kind, kind)  # type: ignore[call-overload]
    if name not in _PARSERS:
        raise ConfigError(
            f"CSV column type: expected one of {', '.join(_PARSERS)} (or str, int, float, bool), got {kind!r}"
        )
    return name


def _infer(values: list[Any]) -> str:
    """The type of a column written from ``values`` (None and empty strings do not count)."""
    present = [v for v in values if v is not None and v != ""]
    if present and all(map(_is_bool, present)):
        return "bool"
    if not present or not all(map(_is_number, present)):
        return "str"
    integral = list(map(_is_integer, present))
    return "int" if all(integral) else "number" if any(integral) else "float"


def _check(path: str | Path, column: str, kind: str, value: Any) -> None:
    if value is not None and value != "" and not _FITS[kind](value):
        raise ConfigError(f"{path}: column {column!r}: expected {kind}, got {value!r}")


def _read_schema(path: Path, header: list[str]) -> dict[str, str]:
    """Column types of the schema beside ``path``; empty when there is none or it lacks a column of ``header``."""
    schema = schema_path(path)
    if not schema.is_file():
        return {}
    try:
        document = json.loads(schema.read_text())
        kinds = {str(c): _type_name(k) for c, k in document["columns"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{schema}: not a CSV schema written by traffic_lam ({exc})") from None
    return kinds if set(header) <= set(kinds) else {}


def _cell(path: Path, line: int, column: str, kind: str, text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return _PARSERS[kind](text)
    except ValueError:
        raise ConfigError(f"{path}: line {line}, column {column!r}: expected {kind}, got {text!r}") from None
