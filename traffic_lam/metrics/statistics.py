"""Safety totals from SUMO's ``--statistic-output`` file.

SUMO 1.28 writes ``<safety collisions=".." emergencyStops=".." emergencyBraking=".."/>``
and ``<teleports total=".." .../>``. ``emergencyBraking`` counts the decelerations
beyond a vehicle's comfortable maximum that SUMO would warn about; it is counted even
with ``--no-warnings`` (checked on SUMO 1.28), so no warning text has to be parsed.
``emergencyStops`` and ``collisions`` agree with the per-step counters summed by the
engine (``emergency_stops``, ``colliding_vehicles / 2``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from traffic_lam.errors import SimulationError


def statistics_options(path: str | Path) -> list[str]:
    """SUMO flags that write the statistic output to ``path``."""
    return ["--statistic-output", str(path)]


@dataclass(frozen=True)
class SumoStatistics:
    """Totals from one statistic output (None where this SUMO version writes no value).

    Attributes:
        collisions: collisions.
        emergency_stops: emergency stops.
        emergency_braking: emergency braking events.
        teleports: teleports of every kind.
        loaded: vehicles loaded.
        inserted: vehicles inserted.

    """

    collisions: int | None
    emergency_stops: int | None
    emergency_braking: int | None
    teleports: int | None
    loaded: int | None
    inserted: int | None


def read_statistics(path: str | Path) -> SumoStatistics:
    """Read a ``--statistic-output`` file.

    Raises:
        SimulationError: the file is missing or not valid XML.

    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise SimulationError(f"{path}: cannot read SUMO statistic output ({exc})") from None

    def number(tag: str, key: str) -> int | None:
        node = root.find(tag)
        value = None if node is None else node.get(key)
        return None if value is None else int(float(value))

    return SumoStatistics(
        collisions=number("safety", "collisions"),
        emergency_stops=number("safety", "emergencyStops"),
        emergency_braking=number("safety", "emergencyBraking"),
        teleports=number("teleports", "total"),
        loaded=number("vehicles", "loaded"),
        inserted=number("vehicles", "inserted"),
    )
