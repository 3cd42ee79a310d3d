"""The SUMO flags a user may not pass: those the engine sets itself, and those that would corrupt measurements.

:data:`REFUSED_FLAGS` is the one table. Each entry names SUMO's option, its synonyms
(as SUMO spells them: ``-n`` / ``--net``), and what to use instead; a flag in
``sumo_options`` (or in ``reset(options={"sumo_options": ...})``) that matches one is
refused with one line before SUMO starts.

Everything else passes through to SUMO, appended after the engine's own flags. Flags
users need and that change no measurement definition stay allowed, for example:

* ``--additional-files`` / ``-a``: merged with the network's own additional files;
* ``--scale``, ``--ignore-route-errors``, ``--random-depart-offset`` (drawn from the
  seeded generator: reproducible), ``--step-method.ballistic``,
  ``--default.action-step-length``, ``--collision.action``, ``--threads``;
* outputs (``--tripinfo-output``, ``--fcd-output``, ``--statistic-output`` ...), though
  :func:`traffic_lam.evaluate` refuses the ones it writes itself;
* sumo-gui settings (``--gui-settings-file``, ``--delay``, ``--window-size``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from traffic_lam.errors import ConfigError


@dataclass(frozen=True)
class RefusedFlag:
    """Why a SUMO flag is refused.

    Attributes:
        synonyms: SUMO's other spellings of the same option, dashes included.
        instead: what to do instead (the environment option that sets it, or why it cannot be set).

    """

    synonyms: tuple[str, ...]
    instead: str


_ENGINE = "the engine sets it"

REFUSED_FLAGS: Mapping[str, RefusedFlag] = MappingProxyType(
    {
        "--net-file": RefusedFlag(("-n", "--net"), "use the network option"),
        "--route-files": RefusedFlag(("-r", "--routes"), "use route_file"),
        "--configuration-file": RefusedFlag(
            ("-c", "--configuration"), "pass the .sumocfg as the network (its files and times are read from it)"
        ),
        "--begin": RefusedFlag(("-b",), "use begin_time (scenario: timing.begin)"),
        "--end": RefusedFlag(("-e",), "use end_time (scenario: timing.end)"),
        "--seed": RefusedFlag(("--srand",), "use reset(seed=...) (scenario: evaluation.seeds)"),
        "--random": RefusedFlag(("--abs-rand",), "it would ignore the seed; use reset(seed=...)"),
        "--step-length": RefusedFlag((), "the engine counts 1 s per SUMO step (decision length, yellow, counters)"),
        "--time-to-teleport": RefusedFlag((), "use time_to_teleport"),
        "--collision.check-junctions": RefusedFlag((), "use collision_check_junctions"),
        "--waiting-time-memory": RefusedFlag(
            (), "fixed at 1000 s: accumulated waiting time (the diff-waiting-time reward) is defined over it"
        ),
        "--no-step-log": RefusedFlag((), _ENGINE),
        "--no-warnings": RefusedFlag(("-W", "--suppress-warnings"), _ENGINE),
        "--duration-log.disable": RefusedFlag(("--no-duration-log",), _ENGINE),
        "--start": RefusedFlag(("-S",), "set with gui"),
        "--quit-on-end": RefusedFlag(("-Q",), "set with gui"),
        "--remote-port": RefusedFlag((), "the traci backend sets it"),
        "--num-clients": RefusedFlag((), "traffic_lam is SUMO's only TraCI client"),
    }
)
"""SUMO options refused in ``sumo_options``: option -> synonyms and what to use instead."""


def _lookup() -> dict[str, str]:
    """Every spelling of a refused option -> its name in :data:`REFUSED_FLAGS`."""
    spellings = {}
    for name, rule in REFUSED_FLAGS.items():
        spellings[name] = name
        spellings.update(dict.fromkeys(rule.synonyms, name))
    return spellings


def check_sumo_options(flags: Iterable[str], where: str = "sumo_options") -> None:
    """Refuse the first flag that :data:`REFUSED_FLAGS` lists (any spelling, ``--flag=value`` too).

    Args:
        flags: SUMO command-line words (flags and their values).
        where: how the option is called in the message.

    Raises:
        ConfigError: ``sumo_options: --end is refused: use end_time (scenario: timing.end)``.

    """
    spellings = _lookup()
    for flag in flags:
        name = spellings.get(flag.partition("=")[0]) if flag.startswith("-") else None
        if name is not None:
            shown = flag.partition("=")[0] + ("" if flag.partition("=")[0] == name else f" ({name})")
            raise ConfigError(f"{where}: {shown} is refused: {REFUSED_FLAGS[name].instead}")
