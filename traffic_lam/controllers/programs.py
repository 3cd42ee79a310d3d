"""The signal programs a network gives SUMO, read from its net and additional files.

The program chosen for each light follows :func:`traffic_lam.signals.read_signal_layouts`:
a ``<tlLogic>`` in an additional file replaces the net's; otherwise the net's program
with the first ``programID`` in sorted order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from traffic_lam.errors import NetworkError
from traffic_lam.files import open_xml
from traffic_lam.sim.network import NetworkSpec


@dataclass(frozen=True)
class Phase:
    """One program phase: state, duration and (actuated) duration limits, seconds."""

    state: str
    duration: float
    min_dur: float | None = None
    max_dur: float | None = None


@dataclass(frozen=True)
class Program:
    """One light's program (``<tlLogic>``).

    Attributes:
        id: traffic light id.
        program_id: SUMO ``programID``.
        type: ``static``, ``actuated``, ``delay_based`` ...
        offset: cycle offset (s).
        phases: the phases in order.
        source: the file it came from.

    """

    id: str
    program_id: str
    type: str
    offset: float
    phases: tuple[Phase, ...]
    source: Path


def read_programs(network: NetworkSpec) -> dict[str, Program]:
    """The program SUMO will start each traffic light with, by light id.

    Raises:
        NetworkError: a file cannot be read.

    """
    chosen: dict[str, Program] = {}
    for program in sorted(_programs(network.net_file), key=lambda p: p.program_id, reverse=True):
        chosen[program.id] = program  # the first programID in sorted order wins
    for path in network.additional_files:
        for program in _programs(path):
            chosen[program.id] = program
    return chosen


def _programs(path: Path) -> list[Program]:
    found: list[Program] = []
    try:
        with open_xml(path) as handle:
            for _, element in ET.iterparse(handle):
                if element.tag == "tlLogic":
                    phases = tuple(
                        Phase(
                            p.get("state", ""),
                            float(p.get("duration", "0")),
                            _number(p.get("minDur")),
                            _number(p.get("maxDur")),
                        )
                        for p in element.iter("phase")
                    )
                    found.append(
                        Program(
                            id=element.get("id", ""),
                            program_id=element.get("programID", "0"),
                            type=element.get("type", "static"),
                            offset=float(element.get("offset", "0") or 0),
                            phases=phases,
                            source=path,
                        )
                    )
                    element.clear()
                elif element.tag in ("edge", "junction", "connection"):
                    element.clear()
    except (OSError, ET.ParseError, ValueError) as exc:
        raise NetworkError(f"{path}: cannot read signal programs ({exc})") from None
    return found


def _number(raw: str | None) -> float | None:
    return None if raw is None else float(raw)
