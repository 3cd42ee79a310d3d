"""Every check of a network before training, in one call: :func:`check_network`."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from traffic_lam.diagnostics.problem import Problem
from traffic_lam.diagnostics.routes import (
    duplicate_id_problems,
    read_demand,
    route_gap_problems,
    route_trips,
    unpassed_signal_problems,
)
from traffic_lam.diagnostics.signals import program_problems, shared_lane_problems, yellow_problems
from traffic_lam.errors import NetworkError, SignalError
from traffic_lam.signals import SignalLayout, read_signal_layouts
from traffic_lam.sim.network import NetworkSpec


@dataclass(frozen=True)
class NetworkCheck:
    """What :func:`check_network` found.

    Attributes:
        layouts: the controllable signals, by id (empty when none can be controlled).
        problems: every problem, errors first, one line each.

    """

    layouts: dict[str, SignalLayout]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> int:
        """Number of error problems."""
        return sum(p.severity == "error" for p in self.problems)


def check_network(network: NetworkSpec) -> NetworkCheck:
    """Read a resolved network and its demand, without simulating, and list every problem found.

    Checks: programs SUMO refuses or that offer fewer than two greens; lanes two signals
    control; the programs' yellows against the approach speeds; repeated vehicle ids across
    (or within) route files; routes with an unknown edge or a gap; signals no route passes.

    Args:
        network: a resolved network (:func:`traffic_lam.sim.network.resolve_network`).

    Returns:
        The controllable signals and the problems.

    Raises:
        NetworkError: the net cannot be read or has no traffic light at all.

    """
    import sumolib  # lazy: keep imports of traffic_lam cheap

    from traffic_lam.controllers.programs import read_programs

    try:
        net = sumolib.net.readNet(str(network.net_file), withPrograms=True)
    except Exception as exc:  # sumolib raises plain Exceptions / SAX errors
        raise NetworkError(f"{network.net_file}: cannot read the network ({exc})") from None
    problems = program_problems(net, read_programs(network))
    layouts, kept = _layouts(network, {_light(p.message) for p in problems})
    demand = read_demand(network.route_files)
    problems += kept + shared_lane_problems(net) + yellow_problems(layouts)
    trips = route_trips(net, demand)
    problems += demand.unreadable + duplicate_id_problems(demand) + route_gap_problems(net, demand, trips)
    problems += unpassed_signal_problems(demand, trips, layouts)
    return NetworkCheck(layouts, tuple(sorted(problems, key=lambda p: p.severity != "error")))


def _layouts(network: NetworkSpec, reported: set[str]) -> tuple[dict[str, SignalLayout], list[Problem]]:
    """The controllable signals and, as warnings, why the others are left to their program (unless reported)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            layouts = read_signal_layouts(network.net_file, network.additional_files)
        except SignalError as exc:
            return {}, [Problem("error", "no-controllable-signal", str(exc))]
    problems = []
    for warning in caught:
        message = " ".join(str(warning.message).split())
        light = _light(message)
        if light is None or light not in reported:
            problems.append(Problem("warning", "uncontrollable-signal", message))
    return layouts, problems


def _light(message: str) -> str | None:
    """The traffic light a message is about (``traffic light 'X': ...``), or None."""
    about = re.match(r"traffic light '([^']*)'", message)
    return None if about is None else about.group(1)
