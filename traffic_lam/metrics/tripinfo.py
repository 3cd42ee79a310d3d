"""Trip statistics from SUMO's tripinfo XML, by the RESCO definitions (``docs/definitions.md``).

What SUMO 1.28 writes (checked on RESCO arterial4x4, which leaves vehicles waiting to be
inserted at the end):

* ``--tripinfo-output.write-unfinished`` adds vehicles still running at the end
  (``arrival="-1"``; ``vaporized="end"``, though not for every one of them: a vehicle
  inside a junction at the end has ``vaporized=""``), but **not** vehicles that were never
  inserted.
* ``--tripinfo-output.write-undeparted`` adds those never inserted: ``depart="-1"``,
  ``timeLoss="0"``, ``duration="0"`` and ``departDelay`` = simulation end − scheduled
  depart. So the RESCO rule "never-inserted vehicles count ``end − scheduled depart``"
  is exactly ``timeLoss + departDelay`` for them too, and no route file has to be read.

Both flags are set by :func:`tripinfo_options`. Per vehicle, over every vehicle SUMO
loaded (arrived, running and never inserted):

* delay = ``timeLoss + departDelay``;
* travel time = ``duration + departDelay``.

Waiting time (``waitingTime``, time at <= 0.1 m/s) is averaged over the vehicles that
departed (arrived or running): a vehicle never inserted has no trip to wait on.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from traffic_lam.errors import SimulationError

_VERSION = re.compile(rb"Eclipse SUMO [a-z-]+ ([0-9][^\s]*)")


def tripinfo_options(path: str | Path) -> list[str]:
    """SUMO flags that write every loaded vehicle's tripinfo to ``path``."""
    return [
        "--tripinfo-output",
        str(path),
        "--tripinfo-output.write-unfinished",
        "true",
        "--tripinfo-output.write-undeparted",
        "true",
    ]


@dataclass(frozen=True)
class TripSummary:
    """Averages and counts over one tripinfo file.

    Attributes:
        vehicles: vehicles in the file (every vehicle loaded by the end).
        arrived: vehicles that completed their trip.
        running: vehicles inserted but not arrived at the end.
        not_inserted: vehicles never inserted (still waiting at the end).
        avg_delay: mean ``timeLoss + departDelay`` (s); None without vehicles.
        avg_travel_time: mean ``duration + departDelay`` (s); None without vehicles.
        avg_waiting_time: mean ``waitingTime`` of departed vehicles (s); None if none departed.
        sumo_version: version in the file's header (e.g. ``"1.28.0"``), "" if absent.

    """

    vehicles: int
    arrived: int
    running: int
    not_inserted: int
    avg_delay: float | None
    avg_travel_time: float | None
    avg_waiting_time: float | None
    sumo_version: str = ""

    @property
    def inserted(self) -> int:
        """Vehicles that entered the network (arrived + running)."""
        return self.arrived + self.running


def read_tripinfo(path: str | Path) -> TripSummary:
    """Summarise a tripinfo file written with :func:`tripinfo_options`.

    Raises:
        SimulationError: the file is missing or not valid tripinfo XML.

    """
    path = Path(path)
    arrived = running = not_inserted = 0
    delay = travel = waiting = 0.0
    try:
        with path.open("rb") as handle:
            match = _VERSION.search(handle.read(4096))
        for _, element in ET.iterparse(path):
            if element.tag != "tripinfo":
                continue
            a = element.attrib
            depart_delay = float(a["departDelay"])
            delay += float(a["timeLoss"]) + depart_delay
            travel += float(a["duration"]) + depart_delay
            if float(a["depart"]) < 0:
                not_inserted += 1
            else:
                waiting += float(a["waitingTime"])
                if float(a["arrival"]) < 0:
                    running += 1
                else:
                    arrived += 1
            element.clear()
    except (OSError, ET.ParseError, KeyError, ValueError) as exc:
        raise SimulationError(f"{path}: cannot read SUMO tripinfo output ({exc})") from None
    vehicles = arrived + running + not_inserted
    departed = arrived + running
    return TripSummary(
        vehicles=vehicles,
        arrived=arrived,
        running=running,
        not_inserted=not_inserted,
        avg_delay=delay / vehicles if vehicles else None,
        avg_travel_time=travel / vehicles if vehicles else None,
        avg_waiting_time=waiting / departed if departed else None,
        sumo_version=match.group(1).decode() if match else "",
    )
