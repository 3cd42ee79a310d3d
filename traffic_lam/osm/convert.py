"""Turn OpenStreetMap XML into a SUMO network with ``netconvert``, keeping the roads cars use.

The options are those a traffic engineer sets for signal control: signals guessed from OSM's
``highway=traffic_signals`` nodes, simple ones discarded and neighbouring ones joined into one
controller with static programs; junction clusters joined; ramps and roundabouts guessed; only
edges passenger cars may use; no U-turns at junctions (turnarounds clog small junctions and are
rarely signalled in the field); street names kept for the report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from traffic_lam.errors import NetworkError, SimulationError
from traffic_lam.osm.tools import run_binary
from traffic_lam.sim.discovery import sumo_data

NETCONVERT_OPTIONS = (
    "--geometry.remove",
    "--roundabouts.guess",
    "--ramps.guess",
    "--junctions.join",
    "--tls.guess-signals",
    "--tls.discard-simple",
    "--tls.join",
    "--tls.default-type",
    "static",
    "--keep-edges.by-vclass",
    "passenger",
    "--remove-edges.isolated",
    "--no-turnarounds",
    "--output.street-names",
    "--output.original-names",
    "--no-warnings",
)


@dataclass(frozen=True)
class NetSummary:
    """What an imported network holds: its road edges and its signals."""

    edges: int
    signals: tuple[str, ...]


def netconvert_osm(osm: Path, net: Path, bbox: tuple[float, float, float, float] | None = None) -> NetSummary:
    """Convert the OSM XML file ``osm`` into the SUMO network ``net``; return what it holds.

    Args:
        osm: OpenStreetMap XML (plain or gzipped).
        net: the ``.net.xml`` to write.
        bbox: keep only edges inside ``(W, S, E, N)`` (degrees).

    Raises:
        NetworkError: if no road cars use is left, or the roads have no traffic signals.
    """
    args = ["--osm-files", str(osm), "--type-files", str(sumo_data("typemap/osmNetconvert.typ.xml"))]
    args += [*NETCONVERT_OPTIONS, "--output-file", str(net)]
    if bbox is not None:
        args += ["--keep-edges.in-geo-boundary", ",".join(f"{v:.7f}" for v in bbox)]
    try:
        run_binary("netconvert", args, f"netconvert of {osm}")
    except SimulationError as exc:
        if "no edges" not in str(exc).lower():
            raise
    summary = read_summary(net) if net.is_file() else NetSummary(0, ())
    if summary.edges == 0:
        where = " inside --bbox" if bbox else ""
        raise NetworkError(f"{osm}: no roads cars use (OSM highway ways for passenger cars){where}")
    if not summary.signals:
        raise NetworkError(
            f"{osm}: {summary.edges} road edges but no traffic signals (OSM highway=traffic_signals nodes): "
            "nothing to control; pick an extract or --bbox with signalised junctions"
        )
    return summary


def read_edges(net: Path) -> set[str]:
    """The ids of the non-internal edges of the SUMO network ``net``."""
    return {e.get("id", "") for _, e in ET.iterparse(net) if e.tag == "edge" and e.get("function") != "internal"}


def read_summary(net: Path) -> NetSummary:
    """Count the non-internal edges and list the traffic lights of the SUMO network ``net``."""
    edges = 0
    signals: list[str] = []
    for _, element in ET.iterparse(net):
        if element.tag == "edge" and element.get("function") != "internal":
            edges += 1
        elif element.tag == "tlLogic":
            signals.append(element.get("id", ""))
        element.clear()
    return NetSummary(edges, tuple(signals))
