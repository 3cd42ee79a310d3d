"""Checks of the signals themselves: programs the env cannot drive, shared lanes, short yellows.

The env derives its actions from each light's own green phases, whatever the program type
(``static``, ``actuated``, ``delay_based``): the type is no problem. A light is a problem when
SUMO refuses its program (phases of different lengths, a state shorter than its links) or
when it offers nothing to choose (no green phase, or a single one): such a light keeps
its own program (``traffic_lam.signals.read_signal_layouts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from traffic_lam.controllers.programs import Program
from traffic_lam.diagnostics.problem import Problem, names
from traffic_lam.metrics.yellow import yellow_warnings
from traffic_lam.signals import SignalLayout
from traffic_lam.signals.phases import is_green_phase


def program_problems(net: Any, programs: Mapping[str, Program]) -> list[Problem]:
    """Programs SUMO refuses (error) or that have no green phase at all (warning), one line per light.

    Args:
        net: the sumolib network (its traffic lights give each light's controlled links).
        programs: the program SUMO starts each light with
            (:func:`traffic_lam.controllers.programs.read_programs`).

    """
    found = (_program_problem(tls, programs.get(tls.getID())) for tls in net.getTrafficLights())
    return [problem for problem in found if problem is not None]


def _program_problem(tls: Any, program: Program | None) -> Problem | None:
    if program is None or not program.phases:
        return Problem(
            "warning", "no-program", f"traffic light '{tls.getID()}': no signal program; it is not controlled"
        )
    where = f"traffic light '{tls.getID()}' (programID '{program.program_id}' in {program.source.name})"
    lengths = sorted({len(p.state) for p in program.phases})
    links = 1 + max((index for _, _, index in tls.getConnections()), default=-1)
    if len(lengths) > 1:
        return Problem(
            "error", "bad-program", f"{where}: phases have different state lengths {lengths}; SUMO refuses it"
        )
    if lengths[0] < links:
        message = f"{where}: state length {lengths[0]} but the light controls {links} links; SUMO refuses it"
        return Problem("error", "bad-program", message)
    if not any(is_green_phase(p.state) for p in program.phases):
        message = f"{where}: no phase shows a green, so there is nothing to choose; the light keeps its own program"
        return Problem("warning", "no-green", message)
    return None


def shared_lane_problems(net: Any) -> list[Problem]:
    """Incoming lanes whose links two or more lights control, one warning per group of lights."""
    owners: dict[str, set[str]] = {}
    for tls in net.getTrafficLights():
        for in_lane, _, _ in tls.getConnections():
            owners.setdefault(in_lane.getID(), set()).add(tls.getID())
    shared: dict[tuple[str, ...], list[str]] = {}
    for lane, tls_ids in sorted(owners.items()):
        if len(tls_ids) > 1:
            shared.setdefault(tuple(sorted(tls_ids)), []).append(lane)
    return [
        Problem(
            "warning",
            "shared-lane",
            f"lane(s) {names(lanes)} controlled by {len(tls_ids)} signals ({names(list(tls_ids))}): their vehicles "
            "count in each of those agents' observations and rewards, and the lights' actions conflict there",
        )
        for tls_ids, lanes in shared.items()
    ]


def yellow_problems(layouts: Mapping[str, SignalLayout]) -> list[Problem]:
    """The network's own yellows too short for the approach speeds (:mod:`traffic_lam.metrics.yellow`)."""
    return [Problem("warning", "short-yellow", message) for message in yellow_warnings(layouts, None)]
