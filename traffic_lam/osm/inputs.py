"""Check an OpenStreetMap input file and turn it into XML that ``netconvert`` reads.

``netconvert`` reads OSM XML, plain or gzipped. A ``.bz2`` file is decompressed and a
``.pbf`` file converted with the optional ``osmium`` package (``pip install -e ".[osm]"``).
Every problem is one :class:`~traffic_lam.errors.ConfigError` line naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import re
import shutil
from pathlib import Path

from traffic_lam.errors import ConfigError

EXPECTED = "expected an OpenStreetMap extract (.osm, .osm.gz, .osm.bz2 or .osm.pbf)"
_ROOT = re.compile(r"<(?![?!])([A-Za-z_][\w.:-]*)")


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``W,S,E,N`` (longitudes and latitudes in degrees) into a tuple.

    Raises:
        ConfigError: unless four numbers with W < E and S < N inside the WGS84 ranges are given.
    """
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--bbox {text!r}: expected W,S,E,N (four numbers, degrees)") from None
    inside = -180 <= west < east <= 180 and -90 <= south < north <= 90
    if not inside:
        raise ConfigError(f"--bbox {text!r}: expected W < E in [-180, 180] and S < N in [-90, 90]")
    return west, south, east, north


def prepare_osm_xml(source: Path, workdir: Path) -> Path:
    """Return an OSM XML file ``netconvert`` can read for ``source`` (converted into ``workdir`` if needed).

    Raises:
        ConfigError: if the file is missing, empty, not OSM XML, or a PBF that cannot be read.
    """
    if not source.is_file():
        raise ConfigError(f"{source}: no such file ({EXPECTED})")
    if source.stat().st_size == 0:
        raise ConfigError(f"{source}: empty file, {EXPECTED}")
    if source.name.lower().endswith(".pbf"):
        return pbf_to_xml(source, workdir / "input.osm")
    if source.name.lower().endswith(".bz2"):
        target = workdir / "input.osm"
        with bz2.open(source, "rb") as packed, target.open("wb") as plain:
            _copy(source, packed, plain)
        source = target
    _check_osm_xml(source)
    return source


def _copy(source: Path, packed, plain) -> None:
    """Decompress ``packed`` into ``plain``; a broken archive is one line naming ``source``."""
    try:
        shutil.copyfileobj(packed, plain)
    except (OSError, EOFError, ValueError) as exc:
        raise ConfigError(f"{source}: cannot decompress ({exc}), {EXPECTED}") from None


def _check_osm_xml(path: Path) -> None:
    """Refuse a file whose first element is not ``<osm>`` (empty, binary, a SUMO network, HTML ...)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            head = stream.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    except (OSError, EOFError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc}), {EXPECTED}") from None
    if not head:
        raise ConfigError(f"{path}: empty file, {EXPECTED}")
    root = _ROOT.search(head) if head.startswith("<") else None
    if root is None:
        raise ConfigError(f"{path}: not XML, {EXPECTED}")
    if root.group(1) == "net":
        raise ConfigError(f"{path}: this is a SUMO network, not OpenStreetMap: run it directly (traffic-lam run ...)")
    if root.group(1) != "osm":
        raise ConfigError(f"{path}: XML with root <{root.group(1)}>, not <osm>: {EXPECTED}")


def _osmium():
    """The ``osmium`` module, or one line saying how to install it."""
    try:
        import osmium
    except ImportError:
        raise ConfigError('reading .osm.pbf needs the osmium package: pip install -e ".[osm]"') from None
    return osmium


def pbf_to_xml(source: Path, target: Path, bbox: tuple[float, float, float, float] | None = None) -> Path:
    """Write the OSM objects of the PBF (or XML) file ``source`` to the OSM XML file ``target``.

    Args:
        source: an ``.osm.pbf`` (or any file osmium reads).
        target: the XML file to write (``.osm`` or ``.osm.gz``); replaced if present.
        bbox: keep only the highways with a node inside ``(W, S, E, N)`` (whole, with all their nodes)
            and the nodes inside it.

    Raises:
        ConfigError: if osmium is missing or the file is truncated or not OSM data.
    """
    osmium = _osmium()
    target.unlink(missing_ok=True)
    try:
        if bbox is None:
            with osmium.SimpleWriter(str(target)) as writer:
                for obj in osmium.FileProcessor(str(source)):
                    writer.add(obj)
        else:
            _cut(osmium, source, target, bbox)
    except RuntimeError as exc:
        target.unlink(missing_ok=True)
        raise ConfigError(f"{source}: cannot read the OSM data, truncated or corrupt ({exc})") from None
    return target


def _cut(osmium, source: Path, target: Path, bbox: tuple[float, float, float, float]) -> None:
    """Write the highways touching ``bbox`` and the nodes inside it, plus every node those ways reference."""
    west, south, east, north = bbox
    inside: set[int] = set()
    with osmium.BackReferenceWriter(str(target), ref_src=str(source), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node() and obj.location.valid():
                if west <= obj.location.lon <= east and south <= obj.location.lat <= north:
                    inside.add(obj.id)
                    writer.add(obj)
            elif obj.is_way() and "highway" in obj.tags and any(node.ref in inside for node in obj.nodes):
                writer.add(obj)
