"""SUMO's own actuated control on each light's own phases (what a traffic engineer would deploy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from xml.sax.saxutils import quoteattr

from traffic_lam.controllers.base import ProgramController
from traffic_lam.controllers.programs import Program, read_programs
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.signals import SignalLayout
from traffic_lam.signals.phases import is_green_phase
from traffic_lam.sim.network import NetworkSpec

PROGRAM_ID = "traffic_lam_actuated"
"""``programID`` of the generated actuated programs."""


class Actuated(ProgramController):
    """Gap-based actuated control (SUMO ``type="actuated"``) built from each light's own program.

    Every phase of the light's program is kept in order; green phases get ``minDur`` /
    ``maxDur`` (the program's own when it has them, else ``min_green`` / ``max_green``),
    yellow and all-red phases keep their durations. SUMO places its induction loops on
    the incoming lanes and extends a green while vehicles keep arriving within ``max_gap``.

    Args:
        min_green: minimum green (s) for phases without their own ``minDur``.
        max_green: maximum green (s) for phases without their own ``maxDur``.
        max_gap: SUMO ``max-gap``: the largest time gap (s) between vehicles that extends a green.
        detector_gap: SUMO ``detector-gap``: detector distance from the stop line, in seconds of travel.
        passing_time: SUMO ``passing-time``: seconds a vehicle needs from detector to stop line.
        use_program_limits: keep ``minDur`` / ``maxDur`` written in the program (True) or
            always use ``min_green`` / ``max_green``.

    """

    name: ClassVar[str] = "actuated"

    def __init__(
        self,
        *,
        min_green: float = 5.0,
        max_green: float = 50.0,
        max_gap: float = 3.0,
        detector_gap: float = 2.0,
        passing_time: float = 1.9,
        use_program_limits: bool = True,
    ) -> None:
        for key, value in (("min_green", min_green), ("max_green", max_green), ("max_gap", max_gap)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"actuated {key}: expected a positive number of seconds, got {value!r}")
        if max_green < min_green:
            raise ConfigError(f"actuated: max_green ({max_green}) must be >= min_green ({min_green})")
        super().__init__(
            min_green=min_green,
            max_green=max_green,
            max_gap=max_gap,
            detector_gap=detector_gap,
            passing_time=passing_time,
            use_program_limits=use_program_limits,
        )
        self._read: tuple[NetworkSpec, dict[str, Program]] | None = None  # (network, its programs)

    def _programs(self, network: NetworkSpec) -> dict[str, Program]:
        """The network's programs, read once per network (check_network, then additional_xml)."""
        if self._read is None or self._read[0] != network:
            self._read = (network, read_programs(network))
        return self._read[1]

    def check_network(self, network: NetworkSpec, layouts: Mapping[str, SignalLayout]) -> None:
        """Every controlled light needs a program to build on.

        Raises:
            ControllerError: a light has no program.

        """
        programs = self._programs(network)
        missing = [sid for sid in layouts if sid not in programs]
        if missing:
            raise ControllerError(f"actuated: traffic light '{missing[0]}' has no signal program to actuate")

    def additional_xml(self, network: NetworkSpec, layouts: Mapping[str, SignalLayout]) -> str:
        """An additional file with one ``type="actuated"`` program per controlled light."""
        programs = self._programs(network)
        p = self.params
        lines = ["<additional>"]
        for sid in layouts:
            program = programs[sid]
            lines.append(
                f'    <tlLogic id={quoteattr(sid)} type="actuated" programID="{PROGRAM_ID}" '
                f'offset="{program.offset:g}">'
            )
            for key, value in (
                ("max-gap", p["max_gap"]),
                ("detector-gap", p["detector_gap"]),
                ("passing-time", p["passing_time"]),
            ):
                lines.append(f'        <param key="{key}" value="{value:g}"/>')
            for phase in program.phases:
                if is_green_phase(phase.state):
                    low = phase.min_dur if p["use_program_limits"] and phase.min_dur is not None else p["min_green"]
                    high = phase.max_dur if p["use_program_limits"] and phase.max_dur is not None else p["max_green"]
                    high = max(high, low)
                    duration = min(max(phase.duration, low), high)
                    lines.append(
                        f'        <phase duration="{duration:g}" state="{phase.state}" '
                        f'minDur="{low:g}" maxDur="{high:g}"/>'
                    )
                else:
                    lines.append(f'        <phase duration="{phase.duration:g}" state="{phase.state}"/>')
            lines.append("    </tlLogic>")
        lines.append("</additional>")
        return "\n".join(lines) + "\n"
