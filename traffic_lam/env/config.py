"""Frozen, validated configuration of one environment (picklable, for worker processes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traffic_lam.env.sumo_flags import check_sumo_options
from traffic_lam.errors import ConfigError
from traffic_lam.signals import SignalTiming
from traffic_lam.sim.connection import BACKENDS
from traffic_lam.sim.network import NetworkSpec

CONTROL_MODES = ("agents", "program")
"""``agents``: the environment sets every controlled light from the actions;
``program``: SUMO runs each light's own program (fixed-time, actuated) and actions are ignored."""

_ADDITIONAL_FLAGS = ("--additional-files", "-a", "--additional")


@dataclass(frozen=True)
class EnvConfig:
    """Everything needed to build a simulation engine.

    Attributes:
        network: resolved network files.
        timing: signal timing rules.
        begin_time: simulation begin (s).
        end_time: simulation end (s); the episode is truncated there.
        observation: observation spec (name, ``module:Class``, class or instance).
        reward: reward spec (name, ``module:name``, class, instance or function).
        backend: ``"libsumo"`` or ``"traci"``.
        sumo_options: extra SUMO command-line flags, appended last; the flags the engine
            sets itself or that would corrupt measurements (``--step-length``, ``--seed`` ...)
            are refused (see :data:`~traffic_lam.env.sumo_flags.REFUSED_FLAGS`).
        gui: run ``sumo-gui`` (forces the TraCI backend).
        signals: ids of the traffic lights to control (None: every controllable one).
        time_to_teleport: SUMO ``--time-to-teleport`` (-1 disables teleporting).
        collision_check_junctions: SUMO ``--collision.check-junctions``.
        control: ``"agents"`` (actions set the lights) or ``"program"`` (SUMO runs the
            lights' own programs; actions are ignored, everything else is measured the same).
        expert_observation: a second observation spec (as ``observation``) or None; when set,
            ``infos[id]["expert_observation"]`` holds it for every signal at reset and every
            step, computed from the same measurements as the main observation (imitation:
            an expert reads its own observation while a learner's is recorded).

    """

    network: NetworkSpec
    timing: SignalTiming = field(default_factory=SignalTiming)
    begin_time: float = 0.0
    end_time: float = 3600.0
    observation: Any = "default"
    reward: Any = "diff-waiting-time"
    backend: str = "libsumo"
    sumo_options: tuple[str, ...] = ()
    gui: bool = False
    signals: tuple[str, ...] | None = None
    time_to_teleport: float = -1
    collision_check_junctions: bool = True
    control: str = "agents"
    expert_observation: Any = None

    def __post_init__(self) -> None:
        if self.control not in CONTROL_MODES:
            raise ConfigError(f"control: expected one of {', '.join(CONTROL_MODES)}, got {self.control!r}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.end_time <= self.begin_time:
            raise ConfigError(f"end_time ({self.end_time}) must be after begin_time ({self.begin_time})")
        if self.end_time - self.begin_time < self.timing.delta_time:
            raise ConfigError("the episode (end_time - begin_time) is shorter than one delta_time")
        if isinstance(self.sumo_options, str) or not all(isinstance(o, str) for o in self.sumo_options):
            raise ConfigError(f"sumo_options: expected a list of strings, got {self.sumo_options!r}")
        check_sumo_options(self.sumo_options)

    @property
    def effective_backend(self) -> str:
        """The backend actually used (``traci`` whenever the GUI is on)."""
        return "traci" if self.gui else self.backend

    def sumo_command(self, binary: str, seed: int, extra_options: tuple[str, ...] = ()) -> list[str]:
        """The SUMO command line for one episode seeded with ``seed``.

        Args:
            binary: the SUMO executable.
            seed: SUMO ``--seed``.
            extra_options: flags for this episode only (output files ...), after ``sumo_options``.

        SUMO refuses an option given twice and takes one list of additional files, so the
        network's additional files and any ``--additional-files`` / ``-a`` in
        ``sumo_options`` or ``extra_options`` are merged into a single flag.
        """
        net = self.network
        options, additional = _split_additional(list(self.sumo_options) + list(extra_options))
        additional = [str(a) for a in net.additional_files] + additional
        command = [
            binary,
            "--net-file",
            str(net.net_file),
            "--route-files",
            ",".join(str(r) for r in net.route_files),
            "--begin",
            _seconds(self.begin_time),
            "--end",
            _seconds(self.end_time),
            "--seed",
            str(seed),
            "--time-to-teleport",
            _seconds(self.time_to_teleport),
            "--no-step-log",
            "true",
            "--no-warnings",
            "true",
            "--duration-log.disable",
            "true",
        ]
        if additional:
            command += ["--additional-files", ",".join(additional)]
        if self.collision_check_junctions:
            command += ["--collision.check-junctions", "true"]
        command += ["--waiting-time-memory", "1000"]  # accumulated waiting time over 1000 s, as sumo-rl
        if self.gui:
            command += ["--start", "true", "--quit-on-end", "true"]
        return command + options


def _split_additional(options: list[str]) -> tuple[list[str], list[str]]:
    """Separate ``--additional-files X`` (and ``-a X``, ``--additional-files=X``) from other flags."""
    rest: list[str] = []
    files: list[str] = []
    i = 0
    while i < len(options):
        flag = options[i]
        name, eq, value = flag.partition("=")
        if name in _ADDITIONAL_FLAGS and eq:
            files += [f for f in value.split(",") if f]
        elif flag in _ADDITIONAL_FLAGS and i + 1 < len(options):
            files += [f for f in options[i + 1].split(",") if f]
            i += 1
        else:
            rest.append(flag)
        i += 1
    return rest, files


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
