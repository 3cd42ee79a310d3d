"""Environments: PettingZoo parallel env, single-agent gymnasium view, vectorised form."""

from __future__ import annotations

from typing import Any

from traffic_lam.env.config import EnvConfig
from traffic_lam.env.observations import OBSERVATIONS, Observation
from traffic_lam.env.parallel_env import TrafficSignalEnv, build_config
from traffic_lam.env.rewards import REWARDS
from traffic_lam.env.single_agent import SingleSignalEnv
from traffic_lam.env.vector import VectorSignalEnv, make_vector_env


def make_env(network: Any, *, render_mode: str | None = None, **options: Any) -> TrafficSignalEnv:
    """Build a PettingZoo ``ParallelEnv`` with one agent per controlled traffic light.

    Args:
        network: a bundled network name (``"single-intersection"``, ``"grid2x2"``,
            ``"grid4x4"``, ``"arterial4x4"``), ``"resco:<map>"`` (grid4x4,
            arterial4x4, cologne1/3/8, ingolstadt1/7/21 from the sumo-rl wheel), a
            folder, a ``.sumocfg``, or a ``.net.xml`` (then pass ``route_file``).
        render_mode: ``"human"`` opens sumo-gui (same as ``gui=True``).
        **options: keyword options; one left out (or None) takes its default: the
            timing options from :class:`~traffic_lam.signals.SignalTiming`'s fields,
            the others from :class:`~traffic_lam.env.EnvConfig` (shown in brackets):

            * ``route_file``: route file(s), replacing the network's own.
            * ``delta_time``: seconds between decisions.
            * ``yellow_time``: yellow on links losing their green (inside delta).
            * ``all_red_time``: all-red clearance after the yellow (inside delta).
            * ``min_green`` / ``max_green``: green duration limits, seconds.
            * ``begin_time`` / ``end_time``: default from the ``.sumocfg`` or
              ``network.yaml``, else 0 / 3600.
            * ``observation`` ("default"): a name from ``OBSERVATIONS`` ("default",
              "detector", "pressure", "queue-pressure", "wave"), ``"module:Class"``, a class, an
              instance, or ``{"name": ..., "args": {...}}`` (args for the class, e.g.
              ``{"name": "wave", "args": {"detection_range": 100}}``).
            * ``reward`` ("diff-waiting-time"): a name from ``REWARDS``
              ("diff-waiting-time", "queue", "pressure", "delay", "average-speed"),
              ``"module:name"``, a class, an instance, a function ``f(signal)``, or
              ``{"name": ..., "args": {...}}`` as for ``observation``.
            * ``expert_observation`` (None): a second observation spec; when set,
              ``infos[agent]["expert_observation"]`` holds it every step (what an
              expert controller reads, beside the learner's observation: imitation).
            * ``backend`` ("libsumo"): or "traci" (sockets, slower, several per process).
            * ``sumo_options`` (()): extra SUMO flags, e.g. ``["--tripinfo-output", "t.xml"]``;
              flags the engine sets itself or that would corrupt measurements
              (``--step-length``, ``--seed``, ``--end`` ...) are refused, see
              :data:`traffic_lam.env.sumo_flags.REFUSED_FLAGS`.
            * ``gui`` (False): run sumo-gui (uses TraCI; on Linux it needs a display:
              ``DISPLAY`` or ``WAYLAND_DISPLAY``, e.g. under ``xvfb-run``).
            * ``signals`` (None): ids to control; None controls every controllable
              light and leaves the others (with a warning) to their own program.
            * ``time_to_teleport`` (-1): SUMO ``--time-to-teleport``; -1 never teleports.
            * ``collision_check_junctions`` (True): detect collisions inside junctions.
            * ``control`` ("agents"): or "program": SUMO runs every light's own
              program (fixed-time, actuated) and actions are ignored; measuring and
              counting are unchanged.

    Returns:
        The environment. Call ``reset(seed=...)`` before ``step``; ``close()`` when done.

    Raises:
        traffic_lam.errors.TrafficLamError: with a one-line message on bad input.

    """
    gui = bool(options.pop("gui", False)) or render_mode == "human"
    return TrafficSignalEnv(build_config(network, gui=gui, **options), render_mode=render_mode)


def make_gym_env(network: Any, **options: Any) -> SingleSignalEnv:
    """A single-signal network as a ``gymnasium.Env`` (options as :func:`make_env`).

    Pass ``signals=[id]`` to control one light of a larger network (the others run
    their own program).
    """
    return SingleSignalEnv(make_env(network, **options))


__all__ = [
    "OBSERVATIONS",
    "REWARDS",
    "EnvConfig",
    "Observation",
    "SingleSignalEnv",
    "TrafficSignalEnv",
    "VectorSignalEnv",
    "make_env",
    "make_gym_env",
    "make_vector_env",
]
