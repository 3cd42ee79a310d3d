"""Checks of the demand files: repeated vehicle ids, routes with a gap, signals no vehicle passes.

Route files are read as SUMO reads them: ``<vehicle>``, ``<trip>``, ``<flow>``, ``<person>`` ...
at the top of ``<routes>`` carry the ids (one namespace across every loaded file); a route is
a top-level ``<route>``, one inside a ``<routeDistribution>``, or one inside a vehicle or
flow. A trip (or a flow given by ``from``/``to``/``via``) has no route yet: SUMO routes it
when it departs, so it is routed here too, along the net's shortest path for passenger cars
between its ``from``, ``via`` and ``to`` edges. Beyond :data:`MAX_ROUTED_TRIPS` distinct such
legs, the rest count as passing only their own ``from``/``via``/``to`` edges.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traffic_lam.diagnostics.problem import Problem, names
from traffic_lam.files import open_xml
from traffic_lam.signals import SignalLayout
from traffic_lam.signals.layout import lane_edge

MAX_ROUTED_TRIPS = 2000
"""Distinct trip legs routed along the shortest path; the rest count their end edges only."""

_ID_TAGS = frozenset({"vehicle", "trip", "flow", "person", "personFlow", "container", "containerFlow"})
_LEFTOVER = ".trips.xml"


@dataclass
class Demand:
    """What the route files hold.

    Attributes:
        files: the route files' names, in load order.
        ids: files each id appears in, in load order (a file repeated for an id twice in it).
        routes: ``(file, route or vehicle id, edges)`` of every explicit route.
        trips: ``(file, trip id, edges)``: the ``from``, ``via`` and ``to`` edges of each unrouted trip.
        unreadable: one problem per file that is not readable XML.

    """

    files: list[str] = field(default_factory=list)
    ids: dict[str, list[str]] = field(default_factory=dict)
    routes: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    trips: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    unreadable: list[Problem] = field(default_factory=list)


def read_demand(route_files: Sequence[Path]) -> Demand:
    """Read every route file (a file that cannot be parsed becomes an error problem)."""
    demand = Demand()
    for path in route_files:
        demand.files.append(path.name)
        try:
            with open_xml(path) as handle:
                root = ET.parse(handle).getroot()
        except (OSError, ET.ParseError, EOFError) as exc:
            demand.unreadable.append(Problem("error", "unreadable-routes", f"{path}: cannot read routes ({exc})"))
            continue
        for element in root:
            _read_element(element, path.name, demand)
    return demand


def _read_element(element: ET.Element, file: str, demand: Demand) -> None:
    ident = element.get("id", "")
    if element.tag in _ID_TAGS:
        demand.ids.setdefault(ident, []).append(file)
    for route in _routes_in(element):
        demand.routes.append((file, route.get("id") or ident, tuple(route.get("edges", "").split())))
    if element.tag in ("trip", "flow") and element.get("from") and element.get("to") and not element.get("route"):
        legs = (element.get("from", ""), *element.get("via", "").split(), element.get("to", ""))
        demand.trips.append((file, ident, legs))


def _routes_in(element: ET.Element) -> Iterator[ET.Element]:
    if element.tag == "route":
        yield element
    elif element.tag in ("routeDistribution", "vehicle", "flow"):
        yield from (route for route in element.iter("route") if route.get("edges"))


def duplicate_id_problems(demand: Demand) -> list[Problem]:
    """Ids loaded more than once, one error per group of files (SUMO refuses a repeated id).

    A ``.trips.xml`` loaded beside a ``.rou.xml`` without repeating its ids is a warning: if
    it holds the trips the routes were made from (randomTrips' leftover), the demand runs twice.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for ident, files in demand.ids.items():
        if len(files) > 1:
            groups.setdefault(tuple(files), []).append(ident)
    problems = []
    named: set[str] = set()
    for files, ids in groups.items():
        distinct = list(dict.fromkeys(files))
        where = f"twice in {files[0]}" if len(distinct) == 1 else f"in each of {', '.join(distinct)}"
        leftover = [f for f in distinct if f.endswith(_LEFTOVER)] if len(distinct) > 1 else []
        named.update(leftover)
        hint = f" ({leftover[0]} looks like randomTrips' leftover trips: remove it)" if leftover else ""
        message = f"{len(ids)} vehicle id(s) appear {where}, e.g. {names(ids, 3)}: SUMO refuses a repeated id{hint}"
        problems.append(Problem("error", "duplicate-ids", message))
    trips = [f for f in demand.files if f.endswith(_LEFTOVER) and f not in named]
    routed = [f for f in demand.files if f.endswith((".rou.xml", ".rou.xml.gz"))]
    if trips and routed:
        message = (
            f"both {trips[0]} and {routed[0]} are loaded: if {trips[0]} holds the trips {routed[0]} was routed "
            "from (randomTrips' leftover), every vehicle runs twice; remove it or name the route files"
        )
        problems.append(Problem("warning", "leftover-trips", message))
    return problems


@dataclass(frozen=True)
class TripRouting:
    """The unrouted trips, routed: the edges they use and the legs with no path.

    Attributes:
        edges: every edge on a routed leg's path, plus every trip's own ``from``/``via``/``to`` edges.
        unroutable: ``(file, trip id, reason)`` of each trip with an unknown edge or no path between two legs.

    """

    edges: frozenset[str]
    unroutable: tuple[tuple[str, str, str], ...]


def route_trips(net: Any, demand: Demand) -> TripRouting:
    """Route each trip leg along the shortest passenger path (the first :data:`MAX_ROUTED_TRIPS` distinct legs)."""
    edges: set[str] = set()
    paths: dict[tuple[str, str], bool] = {}
    unroutable: list[tuple[str, str, str]] = []
    for file, ident, legs in demand.trips:
        edges.update(legs)
        missing = [edge for edge in legs if not net.hasEdge(edge)]
        if missing:
            unroutable.append((file, ident, f"edge '{missing[0]}' is not in the network"))
            continue
        for a, b in itertools.pairwise(legs):
            if (a, b) not in paths and len(paths) < MAX_ROUTED_TRIPS:
                path, _ = net.getShortestPath(net.getEdge(a), net.getEdge(b), vClass="passenger")
                paths[a, b] = path is not None
                edges.update(e.getID() for e in path or ())
            if not paths.get((a, b), True):
                unroutable.append((file, ident, f"no path for passenger cars from edge '{a}' to '{b}'"))
                break
    return TripRouting(frozenset(edges), tuple(unroutable))


def route_gap_problems(net: Any, demand: Demand, trips: TripRouting) -> list[Problem]:
    """Routes naming an edge the net lacks or with two unconnected consecutive edges, and trips with no path.

    One error per file: SUMO refuses such a vehicle.
    """
    broken: dict[str, list[str]] = {}
    for file, ident, edges in demand.routes:
        reason = _route_gap(net, edges)
        if reason is not None:
            broken.setdefault(file, []).append(f"route '{ident}': {reason}")
    for file, ident, reason in trips.unroutable:
        broken.setdefault(file, []).append(f"trip '{ident}': {reason}")
    return [
        Problem("error", "route-gap", f"{file}: {len(reasons)} route(s) SUMO cannot drive, e.g. {reasons[0]}")
        for file, reasons in broken.items()
    ]


def _route_gap(net: Any, edges: tuple[str, ...]) -> str | None:
    if not edges:
        return "no edges"
    for edge in edges:
        if not net.hasEdge(edge):
            return f"edge '{edge}' is not in the network"
    for a, b in itertools.pairwise(edges):
        if net.getEdge(b) not in net.getEdge(a).getOutgoing():
            return f"no connection from edge '{a}' to '{b}'"
    return None


def unpassed_signal_problems(demand: Demand, trips: TripRouting, layouts: Mapping[str, SignalLayout]) -> list[Problem]:
    """Controlled signals whose incoming edges no route, flow or trip uses: one warning naming them."""
    used = {edge for _, _, edges in demand.routes for edge in edges} | trips.edges
    idle = [sid for sid, layout in layouts.items() if not {lane_edge(lane) for lane in layout.in_lanes} & used]
    if not idle:
        return []
    message = (
        f"{len(idle)} signal(s) no route, flow or trip passes: {names(idle)}; their agents see no traffic "
        "and learn nothing there"
    )
    return [Problem("warning", "unpassed-signal", message)]
