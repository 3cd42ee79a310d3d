"""Routes that reproduce measured edge counts, with SUMO's ``routeSampler.py``.

The counts are a CSV with the columns ``edge,begin,end,count`` (edge ids of the imported
network, interval bounds in seconds, vehicles entering the edge in the interval). They become
routeSampler's edgedata input; its candidate routes are random trips routed by duarouter.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from traffic_lam.errors import ConfigError
from traffic_lam.osm.demand import random_routes
from traffic_lam.osm.tools import run_tool

COLUMNS = ("edge", "begin", "end", "count")
CANDIDATE_VEH_PER_H = 3600
"""Demand of the candidate routes routeSampler picks from (many distinct routes)."""


@dataclass(frozen=True)
class Count:
    """Vehicles counted entering ``edge`` between ``begin`` and ``end`` (s)."""

    edge: str
    begin: float
    end: float
    count: int


def read_counts(path: Path, edges: set[str]) -> list[Count]:
    """Read the counts CSV ``path``, checking every edge is one of ``edges``.

    Raises:
        ConfigError: naming the file, row and column of the first bad value.
    """
    try:
        with path.open(newline="") as stream:
            reader = csv.DictReader(stream)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"{path}: missing column '{missing[0]}', expected columns {','.join(COLUMNS)}")
            counts = [_row(path, n, row, edges) for n, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise ConfigError(f"--counts {path}: cannot read ({exc.strerror or exc})") from None
    if not counts:
        raise ConfigError(f"{path}: no counts, expected rows of {','.join(COLUMNS)}")
    return counts


def _row(path: Path, line: int, row: dict[str, str], edges: set[str]) -> Count:
    """One checked row of the counts CSV."""
    if row["edge"] not in edges:
        raise ConfigError(f"{path}:{line}: edge '{row['edge']}' is not an edge of the imported network")
    try:
        count = Count(row["edge"], float(row["begin"]), float(row["end"]), int(row["count"]))
    except (TypeError, ValueError):
        raise ConfigError(f"{path}:{line}: expected numbers begin, end and a whole count") from None
    if count.count < 0 or not 0 <= count.begin < count.end:
        raise ConfigError(f"{path}:{line}: expected 0 <= begin < end and count >= 0")
    return count


def write_edgedata(counts: list[Count], path: Path) -> Path:
    """Write ``counts`` as SUMO edgedata (one interval per distinct begin/end, ``entered`` per edge)."""
    root = ET.Element("data")
    for begin, end in sorted({(c.begin, c.end) for c in counts}):
        interval = ET.SubElement(root, "interval", id=f"{begin:g}-{end:g}", begin=f"{begin:g}", end=f"{end:g}")
        for count in counts:
            if (count.begin, count.end) == (begin, end):
                ET.SubElement(interval, "edge", id=count.edge, entered=str(count.count))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def routes_from_counts(net: Path, counts: list[Count], out: Path, seed: int) -> Path:
    """Write to ``out`` routes that reproduce ``counts`` (routeSampler picks among random candidate routes)."""
    end = max(c.end for c in counts)
    candidates = random_routes(net, out.with_name("candidates.rou.xml"), CANDIDATE_VEH_PER_H, seed, end, "cand")
    edgedata = write_edgedata(counts, out.with_name("counts.edgedata.xml"))
    run_tool(
        "routeSampler.py",
        ["-r", str(candidates), "-d", str(edgedata), "-o", str(out), "--seed", str(seed), "--prefix", "count"],
        "routeSampler.py",
        out.parent,
    )
    candidates.unlink()
    edgedata.unlink()
    return out
