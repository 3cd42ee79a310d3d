"""Demand for an imported map: random trips routed with ``duarouter``, calibrated on the map itself.

The named intensities are fractions of what the map carries under its own signal programs:
candidate demands, from light to heavy, are simulated once each with plain SUMO, and
``medium`` is the heaviest that does not jam (see :func:`jammed`); ``light`` is half of it
and ``heavy`` one and a half times it (which may jam: the report says so).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traffic_lam.errors import NetworkError
from traffic_lam.osm.tools import run_binary, run_tool

CANDIDATES = (100, 200, 300, 450, 650, 900, 1250, 1700, 2300, 3100, 4200, 5600)
"""Demands tried, in vehicles per hour, lightest first."""
FRACTIONS = {"light": 0.5, "medium": 1.0, "heavy": 1.5}
"""Each named intensity as a fraction of the heaviest candidate that does not jam."""


@dataclass(frozen=True)
class Outcome:
    """What one plain-SUMO run of a demand under the map's own programs gave.

    Attributes:
        veh_per_h: the demand.
        loaded: vehicles SUMO loaded.
        never_inserted: vehicles loaded but never inserted by the end (waiting at the map's edge).
        teleports: vehicles SUMO teleported (stuck for 300 s: a jam or a lock).
        running_at_end: vehicles still on the map at the end.
    """

    veh_per_h: float
    loaded: int
    never_inserted: int
    teleports: int
    running_at_end: int

    @property
    def jammed(self) -> bool:
        """True if the demand jams: any teleport, over 1 % never inserted, or over 10 % still running at the end."""
        inserted = self.loaded - self.never_inserted
        return self.teleports > 0 or self.never_inserted > 0.01 * self.loaded or self.running_at_end > 0.1 * inserted

    def describe(self) -> str:
        """One line: the demand, vehicles never inserted, teleports, running at the end, jammed or not."""
        verdict = "JAMS" if self.jammed else "does not jam"
        return (
            f"{self.veh_per_h:g} veh/h: {self.loaded} vehicles, {self.never_inserted} never inserted, "
            f"{self.teleports} teleport{'' if self.teleports == 1 else 's'}, {self.running_at_end} running at the end: "
            f"{verdict}"
        )


def random_routes(net: Path, out: Path, veh_per_h: float, seed: int, end: float, prefix: str = "") -> Path:
    """Write to ``out`` routes of random trips (mostly fringe to fringe) at ``veh_per_h``, routed by duarouter.

    Args:
        net: the SUMO network.
        out: the ``.rou.xml`` to write; the trips file beside it is removed.
        veh_per_h: vehicles per hour departing between 0 and ``end``.
        seed: random seed of randomTrips and duarouter.
        end: last departure time, s.
        prefix: vehicle id prefix.
    """
    trips = out.with_name(out.name.replace(".rou.xml", "") + ".trips.xml")
    period = 3600.0 / veh_per_h
    run_tool(
        "randomTrips.py",
        ["-n", str(net), "-o", str(trips), "-b", "0", "-e", f"{end:g}", "-p", f"{period:.6f}", "--seed", str(seed),
         "--fringe-factor", "10", "--min-distance", "100", "--prefix", prefix],
        "randomTrips.py",
        out.parent,
    )  # fmt: skip
    run_binary(
        "duarouter",
        ["-n", str(net), "--route-files", str(trips), "-o", str(out), "--ignore-errors", "--no-warnings",
         "--no-step-log", "--seed", str(seed), "--begin", "0", "--end", f"{end:g}"],
        "duarouter",
    )  # fmt: skip
    trips.unlink(missing_ok=True)
    side = out.parent / "routes.rou.xml"  # randomTrips' own routing output, unused
    if side != out:
        side.unlink(missing_ok=True)
    out.with_name(out.name.replace(".rou.xml", ".rou.alt.xml")).unlink(missing_ok=True)
    return out


def simulate(net: Path, routes: Path, end: float, veh_per_h: float) -> Outcome:
    """Run plain SUMO on ``net`` with ``routes`` from 0 to ``end`` under the map's own programs."""
    stats = routes.with_name(routes.name + ".stats.xml")
    run_binary(
        "sumo",
        ["-n", str(net), "-r", str(routes), "-b", "0", "-e", f"{end:g}", "--time-to-teleport", "300",
         "--no-step-log", "--no-warnings", "--statistic-output", str(stats)],
        f"SUMO run of {routes.name}",
    )  # fmt: skip
    root = ET.parse(stats).getroot()
    stats.unlink()
    vehicles, teleports = root.find("vehicles"), root.find("teleports")
    loaded = int(vehicles.get("loaded", 0))
    return Outcome(
        veh_per_h=veh_per_h,
        loaded=loaded,
        never_inserted=loaded - int(vehicles.get("inserted", 0)),
        teleports=int(teleports.get("total", 0)) if teleports is not None else 0,
        running_at_end=int(vehicles.get("running", 0)),
    )


def calibrate(net: Path, workdir: Path, seed: int, end: float, say: Callable[[str], None] = print) -> Outcome:
    """Simulate the candidate demands, lightest first, until one jams; return the heaviest that did not.

    Raises:
        NetworkError: if even the lightest candidate jams (the map or its programs are broken).
    """
    best: Outcome | None = None
    for veh_per_h in CANDIDATES:
        routes = random_routes(net, workdir / f"calibrate{veh_per_h}.rou.xml", veh_per_h, seed, end)
        outcome = simulate(net, routes, end, veh_per_h)
        routes.unlink()
        say(f"  calibration: {outcome.describe()}")
        if outcome.jammed:
            break
        best = outcome
    if best is None:
        raise NetworkError(f"{net.name}: jams even at {CANDIDATES[0]} veh/h under its own programs")
    return best
