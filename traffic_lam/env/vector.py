"""N SUMO simulations in N worker processes, stepped concurrently.

The learners feed from this: every simulation runs the same network and options in
its own process (libsumo: one simulation per process), and a step sends every
worker its actions before waiting for any answer. Finished episodes reset
automatically; the last observation and infos of the finished episode are kept in
``infos[i][agent]["final_observation"]`` / ``["final_info"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.env.config import EnvConfig
from traffic_lam.env.engine import StepResult
from traffic_lam.env.parallel_env import MAX_SEED
from traffic_lam.env.worker import RemoteEngine
from traffic_lam.errors import ConfigError
from traffic_lam.validation import require_int


class VectorSignalEnv:
    """``num_envs`` copies of one multi-agent environment in worker processes.

    Args:
        config: the environment configuration (see :func:`traffic_lam.make_env`).
        num_envs: number of simulations (processes).
        trip_dir: when given, every episode writes SUMO's tripinfo there, and the
            infos that close an episode carry ``infos[i][agent]["episode"]``: its average
            delay and travel time, arrivals, vehicles never inserted and throughput, by the
            definitions evaluation scores with (``docs/definitions.md``). Used for learning
            curves (:func:`score_columns`); files are deleted once read (those of episodes
            still running when the simulations close stay).

    Attributes:
        possible_agents: the agents, identical in every copy.
        num_envs: number of simulations.

    """

    def __init__(self, config: EnvConfig, num_envs: int, trip_dir: str | Path | None = None) -> None:
        require_int("num_envs", num_envs, 1)
        from traffic_lam.env.parallel_env import TrafficSignalEnv

        self.config = config
        self.num_envs = num_envs
        template = TrafficSignalEnv(config)
        self.layouts = template.layouts
        self.possible_agents = list(template.possible_agents)
        self.observation_spaces = template.observation_spaces
        self.action_spaces = template.action_spaces
        self._workers: list[RemoteEngine] = []
        try:
            for _ in range(num_envs):
                self._workers.append(RemoteEngine(config, self.layouts))
        except BaseException:
            self.close()
            raise
        self._seeds = np.random.default_rng()
        self.trip_dir = Path(trip_dir) if trip_dir is not None else None
        self._episodes_started = 0
        self._trip_files: list[Path | None] = [None] * num_envs
        if self.trip_dir is not None:
            self.trip_dir.mkdir(parents=True, exist_ok=True)

    def _start_episode(self, i: int) -> tuple[str, ...]:
        """Per-episode SUMO flags for simulation ``i``'s next episode (its tripinfo file)."""
        from traffic_lam.metrics.tripinfo import tripinfo_options

        if self.trip_dir is None:
            return ()
        self._episodes_started += 1
        self._trip_files[i] = self.trip_dir / f"env{i}-episode{self._episodes_started}.xml"
        return tuple(tripinfo_options(self._trip_files[i]))

    def _summarise(self, trip_file: Path | None, system: dict[str, Any]) -> dict[str, Any] | None:
        """The score of a finished episode (SUMO wrote its tripinfo on close); deletes the file.

        ``system``: the system counters of the episode's last step (summed every SUMO step).
        Delay, travel time and the vehicle counts come from the tripinfo, throughput from the
        summed arrivals per simulated hour: what evaluation computes.
        """
        from traffic_lam.metrics.tripinfo import read_tripinfo

        if trip_file is None or not trip_file.is_file():
            return None
        trips = read_tripinfo(trip_file)
        trip_file.unlink()
        hours = (self.config.end_time - self.config.begin_time) / 3600.0
        return {"avg_delay": trips.avg_delay, "avg_travel_time": trips.avg_travel_time, "arrived": trips.arrived,
                "vehicles": trips.vehicles, "not_inserted": trips.not_inserted,
                "throughput_per_h": float(system["arrived"]) / hours if hours > 0 else None}  # fmt: skip

    def reset(self, seed: int | None = None) -> tuple[list[dict[str, np.ndarray]], list[dict[str, Any]]]:
        """Reset every simulation; copy ``i`` gets SUMO seed ``seed + i``."""
        if seed is not None:
            top = MAX_SEED - self.num_envs
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= top:
                raise ConfigError(f"seed: expected an integer in 0..{MAX_SEED - self.num_envs}, got {seed!r}")
            self._seeds = np.random.default_rng(int(seed) + self.num_envs)
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = [self._draw_seed() for _ in range(self.num_envs)]
        for i, (worker, s) in enumerate(zip(self._workers, seeds, strict=True)):
            worker.reset_async(s, self._start_episode(i))
        answers = [worker.wait() for worker in self._workers]
        return [a[0] for a in answers], [a[1] for a in answers]

    def step_async(self, actions: list[dict[str, int]]) -> None:
        """Send every simulation its actions without waiting."""
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} action dicts, got {len(actions)}")
        for worker, act in zip(self._workers, actions, strict=True):
            worker.step_async({a: int(v) for a, v in act.items()})

    def step_wait(self) -> tuple[list[dict[str, np.ndarray]], list[dict[str, float]], list[bool], list[dict[str, Any]]]:
        """Collect the step answers; finished simulations reset automatically.

        Returns:
            Per simulation: observations, rewards, done flag (episode truncated at its
            end time, the returned observations already belong to the next episode)
            and infos.

        """
        results: list[StepResult] = [worker.wait() for worker in self._workers]
        observations, infos = [r.observations for r in results], [r.infos for r in results]
        finished = [i for i, r in enumerate(results) if r.done]
        closing = {i: self._trip_files[i] for i in finished}
        for i in finished:
            self._workers[i].reset_async(self._draw_seed(), self._start_episode(i))
        for i in finished:
            first_obs, first_infos = self._workers[i].wait()
            first = self.possible_agents[0]
            episode = self._summarise(closing[i], results[i].infos[first]["system"])
            for agent in first_infos:
                first_infos[agent]["final_observation"] = results[i].observations[agent]
                first_infos[agent]["final_info"] = results[i].infos[agent]
                if episode is not None:
                    first_infos[agent]["episode"] = episode
            observations[i], infos[i] = first_obs, first_infos
        return observations, [r.rewards for r in results], [r.done for r in results], infos

    def step(
        self, actions: list[dict[str, int]]
    ) -> tuple[list[dict[str, np.ndarray]], list[dict[str, float]], list[bool], list[dict[str, Any]]]:
        """:meth:`step_async` then :meth:`step_wait`."""
        self.step_async(actions)
        return self.step_wait()

    def close(self) -> None:
        """Stop every worker process."""
        for worker in self._workers:
            worker.close()
        self._workers = []

    def _draw_seed(self) -> int:
        return int(self._seeds.integers(0, MAX_SEED))

    def __enter__(self) -> VectorSignalEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SCORE_COLUMNS = ("delay_s", "throughput_per_h", "vehicles_not_inserted")
"""The learning-curve columns of an episode's score (:func:`score_columns`)."""


def score_columns(episode: dict[str, Any] | None) -> dict[str, Any]:
    """The learning-curve columns of a finished episode's ``infos[i][agent]["episode"]`` (None: all None).

    ``delay_s`` is the episode's average delay, ``throughput_per_h`` its arrivals per simulated
    hour and ``vehicles_not_inserted`` the vehicles still waiting to enter at its end: the
    ``avg_delay``, ``throughput_per_h`` and ``vehicles_not_inserted`` of evaluation.
    """
    if episode is None:
        return dict.fromkeys(SCORE_COLUMNS)
    return {
        "delay_s": episode.get("avg_delay"),
        "throughput_per_h": episode.get("throughput_per_h"),
        "vehicles_not_inserted": episode.get("not_inserted"),
    }


def make_vector_env(network: Any, num_envs: int, trip_dir: str | Path | None = None, **options: Any) -> VectorSignalEnv:
    """``num_envs`` simulations of ``network`` in worker processes (options as :func:`make_env`).

    Scripts that use it must guard their entry point with ``if __name__ == "__main__":``
    (worker processes are spawned).
    """
    from traffic_lam.env.parallel_env import build_config

    return VectorSignalEnv(build_config(network, **options), num_envs, trip_dir=trip_dir)


__all__ = ["SCORE_COLUMNS", "VectorSignalEnv", "make_vector_env", "score_columns"]
