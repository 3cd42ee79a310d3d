"""The jam warning: a rule, stated once, for an episode whose network jammed or locked.

A jammed episode looks like any other in a table of averages (its delay is high, but so is
a slow controller's); this rule flags it. An episode is **jammed** when any of these holds:

* more than :data:`NOT_INSERTED_SHARE` (1 %) of the loaded vehicles were never inserted: the
  entry lanes were blocked (a handful waiting to enter in the last seconds is normal);
* more than :data:`TELEPORT_SHARE` (1 %) of the inserted vehicles were teleported: SUMO moves
  a vehicle stuck for its time-to-teleport (a collision also teleports one or two);
* more than :data:`RUNNING_SHARE` (25 %) of the inserted vehicles were still running at the
  end: the network holds a quarter of all that ever entered (an episode only a few travel
  times long holds many of its vehicles anyway; this part is meant for full-length episodes).

A controller is flagged when one of its episodes is jammed. The counts are the
``vehicles_*`` and ``teleports`` columns of the results (``docs/definitions.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from traffic_lam.report.summary import controllers_in, plural

NOT_INSERTED_SHARE = 0.01
"""Never-inserted vehicles, as a share of the loaded ones, above which an episode is jammed."""

TELEPORT_SHARE = 0.01
"""Teleports, as a share of the inserted vehicles, above which an episode is jammed."""

RUNNING_SHARE = 0.25
"""Vehicles still running at the end, as a share of the inserted ones, above which an episode is jammed."""

RULE = (
    "jam: in some episode more than 1 % of the vehicles were never inserted, more than 1 % were teleported, "
    "or more than 25 % of the inserted vehicles were still in the network at the end"
)
"""The rule in one line, for the notes under a table."""


@dataclass(frozen=True)
class Jam:
    """Why a controller is flagged.

    Attributes:
        jammed: episodes that were jammed.
        episodes: episodes of the controller with the vehicle counts.
        worst: the worst jammed episode's reason, in words.
    """

    jammed: int
    episodes: int
    worst: str

    def __str__(self) -> str:
        return f"jammed in {self.jammed} of {plural(self.episodes, 'episode')} ({self.worst})"


def _count(row: Mapping[str, Any], column: str) -> float:
    value = row.get(column)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def episode_jam(row: Mapping[str, Any]) -> str | None:
    """Why the episode of ``row`` is jammed, in words; None when it is not (or has no vehicle counts)."""
    inserted, never = _count(row, "vehicles_inserted"), _count(row, "vehicles_not_inserted")
    running, teleports = _count(row, "vehicles_running"), _count(row, "teleports")
    loaded = inserted + never
    if loaded <= 0:
        return None
    if never > NOT_INSERTED_SHARE * loaded:
        return f"{never:.0f} of {loaded:.0f} vehicles never inserted"
    if teleports > TELEPORT_SHARE * inserted:
        return f"{plural(int(teleports), 'teleport')} of {inserted:.0f} vehicles"
    if running > RUNNING_SHARE * inserted:
        return f"{running:.0f} of {inserted:.0f} vehicles still running at the end"
    return None


def jams(rows: Sequence[Mapping[str, Any]]) -> dict[str, Jam]:
    """The flagged controllers of ``rows`` (those with a jammed episode) and why, in first-seen order."""
    out = {}
    for controller in controllers_in(rows):  # type: ignore[arg-type]
        mine = [r for r in rows if r["controller"] == controller and r.get("vehicles_inserted") is not None]
        reasons = [(episode_jam(r), _count(r, "vehicles_not_inserted") + _count(r, "vehicles_running")) for r in mine]
        jammed = [(why, stuck) for why, stuck in reasons if why]
        if jammed:
            out[controller] = Jam(len(jammed), len(mine), max(jammed, key=lambda j: j[1])[0])
    return out
