"""PettingZoo ``ParallelEnv``: one agent per controlled traffic light."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from traffic_lam.env.config import EnvConfig
from traffic_lam.env.engine import SimulationEngine
from traffic_lam.env.observations import make_observation
from traffic_lam.env.rewards import make_reward
from traffic_lam.env.sumo_flags import check_sumo_options
from traffic_lam.env.worker import RemoteEngine
from traffic_lam.errors import ConfigError
from traffic_lam.signals import SignalTiming, TrafficSignal, read_signal_layouts
from traffic_lam.sim.connection import libsumo_in_use
from traffic_lam.sim.network import NetworkSpec, resolve_network

MAX_SEED = 2**31 - 1


class TrafficSignalEnv(ParallelEnv):
    """Multi-agent traffic signal control on a SUMO network.

    Every controllable traffic light is an agent (``possible_agents``, sorted by id)
    choosing among its own green phases (``Discrete(n_greens)``); heterogeneous
    signals have their own spaces. Yellow (and optional all-red) transitions, min
    and max green are enforced; the mask of allowed actions is in
    ``infos[agent]["action_mask"]``. Episodes end by truncation at ``end_time``.

    libsumo runs one simulation per process: when this process's libsumo is already
    busy with another environment, this one transparently runs its simulation in a
    worker process (same results, slightly more overhead).

    With the ``expert_observation`` option, ``infos[agent]["expert_observation"]`` carries a
    second observation of every signal (its spaces: ``expert_observation_spaces``).

    Build one with :func:`traffic_lam.make_env`; see it for the options.
    """

    metadata = {"name": "traffic_lam_v0", "render_modes": ["human"], "is_parallelizable": True}

    def __init__(self, config: EnvConfig, render_mode: str | None = None) -> None:
        if render_mode not in (None, "human"):
            raise ConfigError(f"render_mode: expected None or 'human', got {render_mode!r}")
        self.config = config
        self.render_mode = render_mode
        self.layouts = read_signal_layouts(config.network.net_file, config.network.additional_files, config.signals)
        self.possible_agents: list[str] = list(self.layouts)
        self.agents: list[str] = []
        observation = make_observation(config.observation)
        make_reward(config.reward)  # fail now, not at the first reset, on an unknown reward
        self.observation_spaces = {
            sid: observation.space(TrafficSignal(layout, config.timing)) for sid, layout in self.layouts.items()
        }
        self.action_spaces = {sid: spaces.Discrete(layout.num_greens) for sid, layout in self.layouts.items()}
        self.expert_observation_spaces = _spaces_of(config.expert_observation, self.layouts, config.timing)
        self._engine: SimulationEngine | RemoteEngine | None = None
        self._seeds = np.random.default_rng()
        self.last_seed: int | None = None

    def observation_space(self, agent: str) -> spaces.Space:
        """Observation space of ``agent`` (cached)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """Action space of ``agent``: one action per green phase (cached)."""
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start a new episode.

        Args:
            seed: SUMO ``--seed``. The same seed gives the same trajectory under the
                same actions. Without one, the next seed is drawn from the generator
                seeded by the last explicit seed (fresh entropy if none was given).
            options: optional ``{"sumo_options": [...]}``: SUMO flags for this episode
                only, e.g. where SUMO writes this episode's tripinfo (the runner's job;
                the environment itself writes no files), refused as ``sumo_options`` are
                (see :data:`~traffic_lam.env.sumo_flags.REFUSED_FLAGS`). Other keys are ignored.

        Returns:
            Observations and infos for every agent.

        """
        extra = _episode_options(options)
        sumo_seed = self._next_seed(seed)
        self.last_seed = sumo_seed
        engine = self._acquire_engine()
        observations, infos = engine.reset(sumo_seed, extra)
        self.agents = list(self.possible_agents)
        return observations, infos

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]:
        """Apply one action per live agent and simulate ``delta_time`` seconds.

        An action outside the mask is corrected, not refused (see
        :meth:`TrafficSignal.request`); ``infos[agent]["corrected"]`` says so.
        """
        if self._engine is None or not self.agents:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset()")
        unknown = set(actions) - set(self.agents)
        if unknown:
            raise KeyError(f"actions for unknown or finished agents: {sorted(unknown)}")
        result = self._engine.step({a: int(v) for a, v in actions.items()})
        done = result.done
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, done)
        if done:
            self.agents = []
        return result.observations, result.rewards, terminations, truncations, result.infos

    def render(self) -> None:
        """With ``render_mode="human"`` (or ``gui=True``) sumo-gui draws itself; nothing to do."""
        return None

    def close(self) -> None:
        """Close the simulation (and its worker process, if any)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self.agents = []

    @property
    def runs_in_worker(self) -> bool:
        """Whether this environment's simulation runs in a worker process."""
        return isinstance(self._engine, RemoteEngine)

    def _next_seed(self, seed: int | None) -> int:
        if seed is None:
            return int(self._seeds.integers(0, MAX_SEED))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"seed: expected an integer, got {seed!r}")
        if not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"seed: expected 0..{MAX_SEED} (SUMO's range), got {seed}")
        self._seeds = np.random.default_rng(int(seed))
        return int(seed)

    def _acquire_engine(self) -> SimulationEngine | RemoteEngine:
        engine = self._engine
        if self.config.effective_backend != "libsumo":
            if engine is None:
                engine = SimulationEngine(self.config, self.layouts)
        elif isinstance(engine, RemoteEngine) or (engine is not None and engine.running):
            pass  # keep our worker, or the libsumo simulation we already own
        elif libsumo_in_use():
            if engine is not None:
                engine.close()
            engine = RemoteEngine(self.config, self.layouts)
        elif engine is None:
            engine = SimulationEngine(self.config, self.layouts)
        self._engine = engine
        return engine

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: modules may already be gone
            self.close()


def _spaces_of(spec: Any, layouts: dict[str, Any], timing: SignalTiming) -> dict[str, spaces.Space]:
    """Per signal, the space of the observation ``spec`` (empty when ``spec`` is None)."""
    if spec is None:
        return {}
    observation = make_observation(spec)
    return {sid: observation.space(TrafficSignal(layout, timing)) for sid, layout in layouts.items()}


def _episode_options(options: dict[str, Any] | None) -> tuple[str, ...]:
    """Validate ``reset(options=...)``; return the per-episode SUMO flags."""
    if not options:
        return ()
    if not isinstance(options, dict):
        raise ConfigError(f"reset options: expected a dict, got {type(options).__name__}")
    flags = options.get("sumo_options") or ()
    if isinstance(flags, str) or not all(isinstance(f, str) for f in flags):
        raise ConfigError(f"reset options: sumo_options must be a list of strings, got {flags!r}")
    check_sumo_options(flags, where="reset options: sumo_options")
    return tuple(flags)


def build_config(
    network: str | NetworkSpec,
    *,
    route_file: Any = None,
    delta_time: int | None = None,
    yellow_time: int | None = None,
    all_red_time: int | None = None,
    min_green: int | None = None,
    max_green: int | None = None,
    begin_time: float | None = None,
    end_time: float | None = None,
    observation: Any = None,
    reward: Any = None,
    backend: str | None = None,
    sumo_options: list[str] | tuple[str, ...] | str | None = None,
    gui: bool | None = None,
    signals: list[str] | tuple[str, ...] | None = None,
    time_to_teleport: float | None = None,
    collision_check_junctions: bool | None = None,
    control: str | None = None,
    expert_observation: Any = None,
) -> EnvConfig:
    """Resolve the network and validate every option into an :class:`EnvConfig`.

    See :func:`traffic_lam.make_env` for the meaning of each option. An option left
    ``None`` takes its default from :class:`~traffic_lam.signals.SignalTiming` (timing)
    or :class:`EnvConfig` (the rest); begin and end default to the network's own.
    """
    spec = resolve_network(network, route_file)
    begin = begin_time if begin_time is not None else (spec.begin if spec.begin is not None else 0.0)
    end = end_time if end_time is not None else (spec.end if spec.end is not None else begin + 3600.0)
    if spec.begin is None and begin_time is None and spec.end is None and end_time is None:
        warnings.warn(f"network '{spec.name}' names no begin/end time: simulating 0-3600 s", stacklevel=3)
    if isinstance(sumo_options, str):
        sumo_options = sumo_options.split()
    timing = _given(
        delta_time=delta_time, yellow_time=yellow_time, all_red_time=all_red_time, min_green=min_green,
        max_green=max_green,
    )  # fmt: skip
    options = _given(
        observation=observation, reward=reward, backend=backend, gui=gui, time_to_teleport=time_to_teleport,
        collision_check_junctions=collision_check_junctions, control=control, expert_observation=expert_observation,
        sumo_options=tuple(sumo_options) if sumo_options is not None else None,
        signals=tuple(signals) if signals is not None else None,
    )  # fmt: skip
    return EnvConfig(
        network=spec, timing=SignalTiming(**timing), begin_time=float(begin), end_time=float(end), **options
    )


def _given(**options: Any) -> dict[str, Any]:
    """The options that are not None (the others keep their defaults)."""
    return {key: value for key, value in options.items() if value is not None}
