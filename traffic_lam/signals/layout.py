"""Static description of each traffic light, read from the network files with sumolib.

Reading happens before SUMO starts, so agents and their spaces are known at
construction time (PettingZoo requires ``possible_agents`` and cached spaces).
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from traffic_lam.errors import NetworkError, SignalError
from traffic_lam.signals.phases import GREEN, green_phases

VEHICLE_SPACE_M = 7.5
"""Road length one queued vehicle takes (length + minimum gap), for densities."""


@dataclass(frozen=True)
class SignalLayout:
    """What one controlled traffic light looks like.

    Attributes:
        id: traffic light id in SUMO.
        greens: distinct green states the agent chooses between (action i = greens[i]).
        program_states: every state of the network's own program, in order.
        program_durations: the duration of each program phase in seconds.
        in_lanes: incoming lanes (controlled link sources), de-duplicated, in link order.
        out_lanes: outgoing lanes (controlled link targets), de-duplicated.
        links: per controlled link ``(link_index, in_lane_pos, out_lane_pos)``, positions
            into ``in_lanes`` / ``out_lanes``.
        in_capacity: vehicles each incoming lane holds (length / 7.5 m), at least 1.
        out_capacity: vehicles each outgoing lane holds.
        in_speed: speed limit of each incoming lane (m/s).
        neighbours: ids of controlled signals one edge away (upstream or downstream).

    """

    id: str
    greens: tuple[str, ...]
    program_states: tuple[str, ...]
    program_durations: tuple[float, ...]
    in_lanes: tuple[str, ...]
    out_lanes: tuple[str, ...]
    links: tuple[tuple[int, int, int], ...]
    in_capacity: tuple[float, ...]
    out_capacity: tuple[float, ...]
    in_speed: tuple[float, ...]
    neighbours: tuple[str, ...] = ()

    @property
    def num_greens(self) -> int:
        """Number of green phases (the size of the action space)."""
        return len(self.greens)

    def green_links(self, green: int) -> tuple[tuple[int, int, int], ...]:
        """Controlled links that are green in green phase ``green``."""
        state = self.greens[green]
        return tuple(link for link in self.links if state[link[0]] in GREEN)


def read_signal_layouts(
    net_file: Path,
    additional_files: tuple[Path, ...] = (),
    only: tuple[str, ...] | None = None,
) -> dict[str, SignalLayout]:
    """Read every controllable traffic light of a network.

    Args:
        net_file: the ``.net.xml``.
        additional_files: additional files; ``<tlLogic>`` elements there replace the
            net's program, as they do when SUMO loads them.
        only: ids to control. When given, a signal that cannot be controlled raises;
            when None, such signals are left to their own program with a warning.

    Returns:
        Layouts by traffic light id, sorted by id.

    Raises:
        NetworkError: the network has no traffic lights, or an id in ``only`` does not exist.
        SignalError: a requested signal cannot be controlled.

    """
    import sumolib  # lazy: keep imports of traffic_lam cheap

    try:
        net = sumolib.net.readNet(str(net_file), withPrograms=True)
    except Exception as exc:  # sumolib raises plain Exceptions / SAX errors
        raise NetworkError(f"{net_file}: cannot read the network ({exc})") from None
    tls_by_id = {tls.getID(): tls for tls in net.getTrafficLights()}
    if not tls_by_id:
        raise NetworkError(f"{net_file}: the network has no traffic lights to control")
    if only is not None:
        missing = [s for s in only if s not in tls_by_id]
        if missing:
            raise NetworkError(f"{net_file}: no traffic light '{missing[0]}' (has {', '.join(sorted(tls_by_id))})")
    override = _programs_in_additionals(additional_files)

    layouts: dict[str, SignalLayout] = {}
    reasons: list[str] = []
    for tls_id in sorted(only if only is not None else tls_by_id):
        tls = tls_by_id[tls_id]
        try:
            layouts[tls_id] = _layout(tls, override.get(tls_id))
        except SignalError as exc:
            if only is not None:
                raise
            reasons.append(str(exc))
            warnings.warn(f"{exc}; it keeps its own program", stacklevel=2)
    if not layouts:
        raise SignalError(
            f"{net_file}: none of the {len(tls_by_id)} traffic lights can be controlled (e.g. {reasons[0]})"
        )
    return _with_neighbours(net, layouts)


def _programs_in_additionals(files: tuple[Path, ...]) -> dict[str, list[tuple[str, float]]]:
    programs: dict[str, list[tuple[str, float]]] = {}
    for path in files:
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as exc:
            raise NetworkError(f"{path}: cannot read additional file ({exc})") from None
        for logic in root.iter("tlLogic"):
            phases = [(p.get("state", ""), float(p.get("duration", "0"))) for p in logic.iter("phase")]
            programs[logic.get("id", "")] = phases
    return programs


def _layout(tls: object, override: list[tuple[str, float]] | None) -> SignalLayout:
    tls_id: str = tls.getID()  # type: ignore[attr-defined]
    if override is not None:
        phases = override
    else:
        programs = tls.getPrograms()  # type: ignore[attr-defined]
        if not programs:
            raise SignalError(f"traffic light '{tls_id}': no signal program in the network")
        program = programs[sorted(programs)[0]]
        phases = [(p.state, float(p.duration)) for p in program.getPhases()]
    states = tuple(s for s, _ in phases)
    greens = green_phases(states, tls_id)
    connections = tls.getConnections()  # type: ignore[attr-defined]
    if not connections:
        raise SignalError(f"traffic light '{tls_id}': controls no links")
    in_lanes: list[str] = []
    out_lanes: list[str] = []
    in_objs: dict[str, object] = {}
    out_objs: dict[str, object] = {}
    links: list[tuple[int, int, int]] = []
    for in_lane, out_lane, index in connections:
        if index >= len(greens[0]):
            raise SignalError(f"traffic light '{tls_id}': link index {index} beyond its state length {len(greens[0])}")
        for lane, ids, objs in ((in_lane, in_lanes, in_objs), (out_lane, out_lanes, out_objs)):
            if lane.getID() not in objs:
                objs[lane.getID()] = lane
                ids.append(lane.getID())
        links.append((index, in_lanes.index(in_lane.getID()), out_lanes.index(out_lane.getID())))
    return SignalLayout(
        id=tls_id,
        greens=greens,
        program_states=states,
        program_durations=tuple(d for _, d in phases),
        in_lanes=tuple(in_lanes),
        out_lanes=tuple(out_lanes),
        links=tuple(links),
        in_capacity=tuple(max(1.0, in_objs[lane].getLength() / VEHICLE_SPACE_M) for lane in in_lanes),  # type: ignore[attr-defined]
        out_capacity=tuple(max(1.0, out_objs[lane].getLength() / VEHICLE_SPACE_M) for lane in out_lanes),  # type: ignore[attr-defined]
        in_speed=tuple(float(in_objs[lane].getSpeed()) for lane in in_lanes),  # type: ignore[attr-defined]
    )


NEIGHBOUR_RANGE_M = 1000.0
"""How far downstream (metres, through unsignalised junctions) a neighbouring signal may be."""


def _with_neighbours(net: Any, layouts: dict[str, SignalLayout]) -> dict[str, SignalLayout]:
    """Fill ``neighbours``: controlled signals reachable downstream of each other.

    From every outgoing edge of a signal, the road graph is followed through junctions
    without a controlled signal, up to :data:`NEIGHBOUR_RANGE_M`, until an incoming edge
    of another controlled signal is reached. The relation is made symmetric (upstream
    signals are neighbours too). On real maps signals are rarely joined by one edge.
    """
    owner_of_edge: dict[str, str] = {}
    for layout in layouts.values():
        for lane in layout.in_lanes:
            owner_of_edge.setdefault(lane_edge(lane), layout.id)
    near: dict[str, set[str]] = {tls_id: set() for tls_id in layouts}
    for layout in layouts.values():
        frontier = [(lane_edge(lane), 0.0) for lane in layout.out_lanes]
        seen: set[str] = set()
        while frontier:
            edge_id, travelled = frontier.pop()
            if edge_id in seen:
                continue
            seen.add(edge_id)
            owner = owner_of_edge.get(edge_id)
            if owner is not None and owner != layout.id:
                near[layout.id].add(owner)
                near[owner].add(layout.id)
                continue
            if owner == layout.id:
                continue  # looped back to ourselves
            try:
                edge = net.getEdge(edge_id)
            except KeyError:
                continue
            travelled += edge.getLength()
            if travelled <= NEIGHBOUR_RANGE_M:
                frontier.extend((nxt.getID(), travelled) for nxt in edge.getOutgoing())
    return {tls_id: replace(layout, neighbours=tuple(sorted(near[tls_id]))) for tls_id, layout in layouts.items()}


def lane_edge(lane_id: str) -> str:
    """The edge a SUMO lane id belongs to (``"edge_2"`` -> ``"edge"``)."""
    return lane_id.rsplit("_", 1)[0]
