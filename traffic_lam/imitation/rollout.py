"""Run episodes where an expert labels every decision: demonstrations, and DAgger's student rollouts.

:func:`expert_env` builds the environment: the learner's observation, the expert's own in
the infos (``expert_observation``), the expert's control mode and SUMO programs.
:func:`run_episode` plays one episode, driven by the expert or, with a student policy, by a
mixture of both, and adds one row per signal per decision to a :class:`Recorder`: the
learner's observation, the mask, the *expert's* action, reward, next observation.
:func:`record_demos` records expert episodes on chosen seeds into a :class:`DemoDataset`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.env.factory import EnvFactory
from traffic_lam.files import atomic_write_text
from traffic_lam.imitation.dataset import DemoDataset, build_metadata
from traffic_lam.imitation.experts import Expert, make_expert

Student = Callable[[Mapping[str, np.ndarray], Mapping[str, Mapping[str, Any]]], dict[str, int]]
"""A policy acting on the learner's observations and infos: one green per signal."""


def env_factory(make_env: Any, env_options: Mapping[str, Any] | None = None) -> EnvFactory:
    """``make_env`` as an :class:`EnvFactory` (a network name or path gets ``env_options``)."""
    if isinstance(make_env, EnvFactory):
        return EnvFactory(make_env.network, {**make_env.options, **dict(env_options or {})})
    return EnvFactory(make_env, dict(env_options or {}))


def expert_env(make_env: EnvFactory, expert: Expert, observation: Any, folder: Path) -> Any:
    """An environment where ``expert`` drives and the learner's ``observation`` is observed.

    The expert's observation goes to ``infos[id]["expert_observation"]``; a program expert
    runs with ``control="program"`` and the SUMO programs it needs (written into ``folder``).
    The expert is checked against the network and set up on the environment.

    Raises:
        TrafficLamError: one line for bad options or an expert that cannot run the network.
    """
    from traffic_lam.env.parallel_env import TrafficSignalEnv, build_config
    from traffic_lam.signals import read_signal_layouts

    options = {**make_env.options, "observation": observation, "control": expert.controller.control}
    options["expert_observation"] = expert.observation_spec()
    config = build_config(make_env.network, **options)
    layouts = read_signal_layouts(config.network.net_file, config.network.additional_files, config.signals)
    expert.controller.check_network(config.network, layouts)
    programs = expert.controller.additional_xml(config.network, layouts)
    if programs is not None:
        extra = folder / f"{expert.name}.add.xml"
        atomic_write_text(extra, programs)
        spec = config.network
        config = dataclasses.replace(
            config, network=dataclasses.replace(spec, additional_files=(*spec.additional_files, extra))
        )
    env = TrafficSignalEnv(config)
    expert.setup(env)
    return env


@dataclass
class Recorder:
    """Collects rows (one per signal per decision) and builds a :class:`DemoDataset` of them.

    Args:
        agents: signal ids, sorted (a row's signal index points here).
        obs_dim: padded observation size.
        num_actions: padded action count.
    """

    agents: list[str]
    obs_dim: int
    num_actions: int
    columns: dict[str, list[Any]] = field(default_factory=dict)
    episodes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_env(cls, env: Any) -> Recorder:
        """A recorder sized for ``env``'s signals."""
        agents = sorted(env.possible_agents)
        obs_dim = max(int(env.observation_spaces[a].shape[0]) for a in agents)
        return cls(agents, obs_dim, max(int(env.action_spaces[a].n) for a in agents))

    def add(self, **values: Any) -> None:
        """Append one row (keys: the :class:`DemoDataset` columns, ``signal`` for the signal id)."""
        for key, value in values.items():
            self.columns.setdefault(key, []).append(value)

    def build(self, env: Any, observation: Any, expert: Expert) -> DemoDataset:
        """The rows so far as a dataset recorded on ``env`` with ``observation``, labelled by ``expert``."""
        c = self.columns
        expert_rows = c.get("expert_obs", [])
        has_expert = bool(expert_rows) and expert_rows[0] is not None
        return DemoDataset(
            metadata=build_metadata(env, observation, expert.describe(), self.episodes),
            obs=_stack(c.get("obs", []), self.obs_dim, np.float32),
            masks=_stack(c.get("mask", []), self.num_actions, np.int8).astype(bool),
            actions=np.asarray(c.get("action", []), dtype=np.int64),
            rewards=np.asarray(c.get("reward", []), dtype=np.float32),
            next_obs=_stack(c.get("next_obs", []), self.obs_dim, np.float32),
            dones=np.asarray(c.get("done", []), dtype=bool),
            signal_index=np.asarray([self.agents.index(s) for s in c.get("signal", [])], dtype=np.int64),
            episodes=np.asarray(c.get("episode", []), dtype=np.int64),
            seeds=np.asarray(c.get("seed", []), dtype=np.int64),
            times=np.asarray(c.get("time", []), dtype=np.float64),
            expert_obs=_stack(expert_rows, max(map(len, expert_rows)), np.float32) if has_expert else None,
        )


def _stack(rows: list[np.ndarray], width: int, dtype: type) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@dataclass(frozen=True)
class EpisodeSummary:
    """One labelled episode.

    Attributes:
        rows: rows added (signals x decisions).
        avg_delay: the episode's average delay (s; None when not measured).
        expert_share: fraction of decisions the expert's actions were executed.
    """

    rows: int
    avg_delay: float | None
    expert_share: float


def run_episode(
    env: Any,
    expert: Expert,
    recorder: Recorder,
    *,
    seed: int,
    episode: int,
    student: Student | None = None,
    beta: float = 1.0,
    rng: np.random.Generator | None = None,
    trip_file: Path | None = None,
    iteration: int = 0,
) -> EpisodeSummary:
    """Play one episode on ``env`` with SUMO seed ``seed``; every decision is labelled by ``expert``.

    At each decision the expert is asked (on its own observation) and its answer is the
    row's action; the executed actions are the expert's with probability ``beta``, else the
    ``student``'s (without a student: always the expert's). A program expert's action is the
    green its program shows at the next decision.

    Args:
        env: from :func:`expert_env`.
        expert: the labelling expert.
        recorder: where the rows go.
        seed: SUMO seed.
        episode: the episode's number in the dataset.
        student: the policy being trained (DAgger), or None.
        beta: probability of executing the expert's actions at a decision (with a student).
        rng: draws the mixture (required with a student and 0 < beta < 1).
        trip_file: when given, SUMO writes the episode's tripinfo there and its average delay is returned.
        iteration: DAgger iteration, recorded in the metadata's episode list.
    """
    from traffic_lam.metrics.tripinfo import read_tripinfo, tripinfo_options

    flags = {"sumo_options": tripinfo_options(trip_file)} if trip_file is not None else None
    observations, infos = env.reset(seed=seed, options=flags)
    expert.controller.reset()
    rows, decisions, by_expert = 0, 0, 0
    while env.agents:
        labels = expert.actions(observations, infos)
        use_expert = student is None or beta >= 1.0 or (beta > 0.0 and rng is not None and rng.random() < beta)
        executed = labels if use_expert else student(observations, infos)  # type: ignore[misc]
        next_obs, rewards, _, truncations, next_infos = env.step(executed)
        if expert.program:
            labels = {a: int(next_infos[a]["phase"]) for a in observations}
        for agent in sorted(observations):
            info = infos[agent]
            recorder.add(
                episode=episode, seed=seed, time=float(info["system"]["time"]), signal=agent,
                obs=observations[agent], mask=info["action_mask"], action=int(labels[agent]),
                reward=float(rewards[agent]), next_obs=next_obs[agent], done=bool(truncations[agent]),
                expert_obs=info.get("expert_observation"),
            )  # fmt: skip
            rows += 1
        decisions += 1
        by_expert += bool(use_expert)
        observations, infos = next_obs, next_infos
    delay = None
    if trip_file is not None:
        env.close()  # SUMO writes its outputs when it closes
        delay = read_tripinfo(trip_file).avg_delay
    share = by_expert / max(1, decisions)
    recorder.episodes.append(
        {"episode": episode, "seed": seed, "avg_delay": delay, "iteration": iteration, "expert_share": share}
    )
    return EpisodeSummary(rows, delay, share)


def record_demos(
    make_env: Any,
    expert: Any = "greedy",
    *,
    seeds: Iterable[int] = (0,),
    observation: Any = "default",
    expert_args: Mapping[str, Any] | None = None,
    env_options: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    progress: Callable[[int, EpisodeSummary], None] | None = None,
) -> DemoDataset:
    """Record ``expert`` driving one episode per seed; the rows hold the learner's ``observation``.

    Args:
        make_env: a network (name, folder, file) or an :class:`~traffic_lam.env.factory.EnvFactory`.
        expert: the expert (see :func:`~traffic_lam.imitation.experts.make_expert`).
        seeds: SUMO seed of each episode (episode ``k`` uses the ``k``-th).
        observation: the learner's observation spec, recorded in every row.
        expert_args: the expert's constructor arguments.
        env_options: options of :func:`traffic_lam.make_env` (timing, end time, reward ...).
        out: when given, the dataset is also saved there (Parquet, atomically).
        progress: called after each episode with its number and summary.

    Returns:
        The dataset; each episode's average delay is in ``metadata.episodes``.

    Raises:
        TrafficLamError: one line for a bad expert, option or seed, before any file is written.
    """
    chosen = make_expert(expert, expert_args)
    factory = env_factory(make_env, env_options)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="traffic_lam-demos-")))
        env = expert_env(factory, chosen, observation, folder)
        stack.callback(env.close)
        recorder = Recorder.for_env(env)
        for episode, seed in enumerate(seeds):
            summary = run_episode(env, chosen, recorder, seed=seed, episode=episode, trip_file=folder / "trips.xml")
            if progress is not None:
                progress(episode, summary)
        dataset = recorder.build(env, observation, chosen)
    if out is not None:
        dataset.save(out)
    return dataset
