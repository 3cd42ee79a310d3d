"""Surrogate safety measures (SUMO's SSM device), restricted to the controlled junctions.

Every vehicle gets an SSM device that logs conflicts with TTC below, DRAC above or
PET below the thresholds of :class:`SSMSettings` (``docs/definitions.md``: 1.5 s, 3.4 m/s², 1.0 s).
Output is restricted (``--device.ssm.filter-edges.input-file``) to the junction areas
of the controlled lights: their incoming and outgoing edges and the internal edges of
their junctions. A logged conflict is counted under each measure whose extreme value
passes its threshold (one conflict may count as TTC and DRAC).

The device is expensive (``scripts/benchmark_ssm.py`` measures its cost), so it is off
unless asked for.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from traffic_lam.errors import ConfigError, NetworkError, SimulationError
from traffic_lam.files import open_xml
from traffic_lam.signals import SignalLayout
from traffic_lam.signals.layout import lane_edge


@dataclass(frozen=True)
class SSMSettings:
    """Thresholds and range of the SSM device.

    Attributes:
        ttc: time-to-collision threshold (s); a conflict with a smaller minimum TTC counts.
        drac: deceleration-rate-to-avoid-crash threshold (m/s²); a larger maximum counts.
        pet: post-encroachment-time threshold (s); a smaller PET counts.
        range: distance (m) within which other vehicles are checked.
        extratime: seconds a conflict is followed after it ends (needed for PET).

    """

    ttc: float = 1.5
    drac: float = 3.4
    pet: float = 1.0
    range: float = 50.0
    extratime: float = 5.0

    def __post_init__(self) -> None:
        for name in ("ttc", "drac", "pet", "range", "extratime"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"ssm {name}: expected a positive number, got {value!r}")

    def sumo_options(self, output: str | Path, edges_file: str | Path) -> list[str]:
        """SUMO flags: device on every vehicle, output to ``output``, restricted to ``edges_file``."""
        return [
            "--device.ssm.probability",
            "1",
            "--device.ssm.measures",
            "TTC DRAC PET",
            "--device.ssm.thresholds",
            f"{self.ttc:g} {self.drac:g} {self.pet:g}",
            "--device.ssm.range",
            f"{self.range:g}",
            "--device.ssm.extratime",
            f"{self.extratime:g}",
            "--device.ssm.trajectories",
            "false",
            "--device.ssm.file",
            str(output),
            "--device.ssm.filter-edges.input-file",
            str(edges_file),
        ]


@dataclass(frozen=True)
class SSMCounts:
    """Conflicts per measure in one SSM output.

    Attributes:
        conflicts: conflicts logged (each passes at least one threshold).
        ttc: conflicts whose minimum TTC is below the threshold.
        drac: conflicts whose maximum DRAC is above the threshold.
        pet: conflicts whose PET is below the threshold.

    """

    conflicts: int
    ttc: int
    drac: int
    pet: int


def junction_edges(net_file: str | Path, layouts: Mapping[str, SignalLayout]) -> list[str]:
    """Edges around the controlled junctions: incoming, outgoing and the junctions' internal edges.

    Raises:
        NetworkError: the net file cannot be read.

    """
    edges = {lane_edge(lane) for layout in layouts.values() for lane in layout.in_lanes + layout.out_lanes}
    incoming = {lane_edge(lane) for layout in layouts.values() for lane in layout.in_lanes}
    nodes: set[str] = set()
    internal: list[str] = []
    try:
        with open_xml(Path(net_file)) as handle:
            for _, element in ET.iterparse(handle):
                if element.tag == "edge":
                    edge_id = element.get("id", "")
                    if element.get("function") == "internal":
                        internal.append(edge_id)
                    elif edge_id in incoming:
                        nodes.add(element.get("to", ""))
                    element.clear()
    except (OSError, ET.ParseError) as exc:
        raise NetworkError(f"{net_file}: cannot read the network ({exc})") from None
    edges.update(e for e in internal if e[1:].rsplit("_", 1)[0] in nodes)
    return sorted(edges)


def edge_selection(edges: Iterable[str]) -> str:
    """Text of a SUMO selection file naming ``edges`` (for ``filter-edges.input-file``)."""
    return "".join(f"edge:{e}\n" for e in edges)


def read_ssm(path: str | Path, settings: SSMSettings) -> SSMCounts:
    """Count the conflicts of an SSM output file per measure.

    Raises:
        SimulationError: the file is missing or not valid XML.

    """
    conflicts = ttc = drac = pet = 0
    try:
        for _, element in ET.iterparse(path):
            if element.tag != "conflict":
                continue
            conflicts += 1
            ttc += _passes(element.find("minTTC"), lambda v: v < settings.ttc)
            drac += _passes(element.find("maxDRAC"), lambda v: v > settings.drac)
            pet += _passes(element.find("PET"), lambda v: v < settings.pet)
            element.clear()
    except (OSError, ET.ParseError) as exc:
        raise SimulationError(f"{path}: cannot read SUMO SSM output ({exc})") from None
    return SSMCounts(conflicts, ttc, drac, pet)


def _passes(node: ET.Element | None, test: object) -> int:
    if node is None:
        return 0
    try:
        value = float(node.get("value", "NA"))
    except ValueError:  # "NA": not measured in this conflict
        return 0
    return int(test(value))  # type: ignore[operator]
