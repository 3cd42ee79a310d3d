"""Fixed-time control: the network's own static program, played unchanged by SUMO."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from traffic_lam.controllers.base import ProgramController
from traffic_lam.controllers.programs import read_programs
from traffic_lam.errors import ControllerError
from traffic_lam.signals import SignalLayout
from traffic_lam.sim.network import NetworkSpec


class FixedTime(ProgramController):
    """The network's own fixed-time programs (phases, durations, offsets), run by SUMO.

    The controller sends no actions (``control = "program"``); it only checks that
    every controlled light has a static program to play.
    """

    name: ClassVar[str] = "fixed-time"

    def __init__(self) -> None:
        super().__init__()

    def check_network(self, network: NetworkSpec, layouts: Mapping[str, SignalLayout]) -> None:
        """Every controlled light must have a ``static`` program.

        Raises:
            ControllerError: a light has no program, or a non-static (e.g. actuated) one.

        """
        programs = read_programs(network)
        for sid in layouts:
            program = programs.get(sid)
            if program is None:
                raise ControllerError(f"fixed-time: traffic light '{sid}' has no signal program in {network.net_file}")
            if program.type != "static":
                raise ControllerError(
                    f"fixed-time: traffic light '{sid}' runs a '{program.type}' program (programID "
                    f"'{program.program_id}' in {program.source.name}), not a fixed-time one; use controller "
                    "'actuated' or give the light a static program"
                )
