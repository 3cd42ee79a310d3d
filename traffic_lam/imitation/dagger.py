"""DAgger (Ross et al., 2011): clone the expert, then let the student drive and the expert label what it sees.

Reads top to bottom in :func:`dagger`:

1. iteration 0: the expert drives ``episodes`` episodes; behaviour cloning on them;
2. iteration i >= 1: the policy of the previous iteration drives (the expert's actions are
   executed at a decision with probability ``beta * beta_decay ** (i - 1)``); the expert,
   called on its own observation (``infos[id]["expert_observation"]``), labels every
   state visited; the rows join the dataset and the policy is retrained on all of it.

Per iteration the report holds the rollout's average delay and the held-out accuracy: at
iteration 0 that of the clone on the last expert episode (when there are two or more), at
iteration i that of the previous policy on the states it visited itself, which it never
trained on. Program experts are refused: a program cannot be asked what it would do in a
state the student caused.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.errors import ConfigError
from traffic_lam.imitation.dataset import DemoDataset
from traffic_lam.imitation.experts import make_expert, refuse_program
from traffic_lam.imitation.policy import ClonePolicy, CloneResult, accuracy, train_clone
from traffic_lam.imitation.rollout import Recorder, Student, env_factory, expert_env, run_episode
from traffic_lam.validation import require_int


@dataclass(frozen=True)
class DaggerIteration:
    """One iteration's report.

    Attributes:
        iteration: 0 for the expert's demonstrations.
        beta: the probability of executing the expert's action at a decision.
        episodes: episodes driven in this iteration.
        rows: rows in the dataset after it.
        delay_s: the rollout's average delay (mean over its episodes; None when unmeasured).
        holdout_accuracy: see the module docstring (None when nothing was held out).
        train_accuracy: the retrained policy's accuracy on the rows it trained on.
    """

    iteration: int
    beta: float
    episodes: int
    rows: int
    delay_s: float | None
    holdout_accuracy: float | None
    train_accuracy: float | None

    def row(self) -> dict[str, Any]:
        """The iteration as a learning-curve row."""
        return dict(self.__dict__)


@dataclass
class DaggerResult:
    """What :func:`dagger` returns: the final policy, the aggregated dataset, one report per iteration."""

    policy: ClonePolicy
    dataset: DemoDataset
    iterations: list[DaggerIteration]
    clone: CloneResult


def student_of(policy: ClonePolicy, agents: list[str]) -> Student:
    """The policy as a student: the argmax allowed green of every signal from its observation."""
    width = int(policy.shape["obs_dim"])
    n_actions = int(policy.shape["n_actions"])

    def act(observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        obs = np.zeros((len(agents), width), dtype=np.float32)
        masks = np.zeros((len(agents), n_actions), dtype=bool)
        for i, agent in enumerate(agents):
            obs[i, : len(observations[agent])] = observations[agent]
            mask = infos[agent]["action_mask"]
            masks[i, : len(mask)] = np.asarray(mask, dtype=bool)
        chosen = policy.act(obs, np.arange(len(agents)), masks)
        return {agent: int(chosen[i]) for i, agent in enumerate(agents) if agent in observations}

    return act


def dagger(
    make_env: Any,
    expert: Any = "greedy",
    *,
    observation: Any = "default",
    expert_args: Mapping[str, Any] | None = None,
    env_options: Mapping[str, Any] | None = None,
    iterations: int = 3,
    episodes: int = 1,
    seed: int = 0,
    beta: float = 0.5,
    beta_decay: float = 0.5,
    demos: DemoDataset | None = None,
    train: Mapping[str, Any] | None = None,
    report: Callable[[DaggerIteration], None] | None = None,
) -> DaggerResult:
    """Train a :class:`ClonePolicy` by DAgger (see the module docstring).

    Args:
        make_env: a network or an :class:`~traffic_lam.env.factory.EnvFactory`.
        expert: the expert (see :func:`~traffic_lam.imitation.experts.make_expert`); not a program.
        observation: the student's observation spec.
        expert_args: the expert's constructor arguments.
        env_options: options of :func:`traffic_lam.make_env`.
        iterations: student rollouts after the expert's demonstrations (0: behaviour cloning only).
        episodes: episodes per iteration; iteration ``i``'s episode ``k`` uses seed ``seed + i * episodes + k``.
        seed: the first SUMO seed.
        beta: probability of executing the expert's action at a decision in iteration 1.
        beta_decay: factor applied to ``beta`` at every later iteration.
        demos: iteration 0's rows instead of recording them (checked against the environment).
        train: keyword arguments of :func:`~traffic_lam.imitation.policy.train_clone`
            (``hidden``, ``epochs``, ``lr``, ``batch_size``, ``seed``, ``device``).
        report: called with each iteration's report as it finishes.

    Raises:
        ControllerError: a program expert, or ``demos`` that do not fit.
        ConfigError: a bad setting.
    """
    _check_settings(beta=beta, beta_decay=beta_decay, iterations=iterations, episodes=episodes)
    chosen = make_expert(expert, expert_args)
    refuse_program(chosen, "dagger")
    settings = dict(train or {})
    rng = np.random.default_rng(seed)
    history: list[DaggerIteration] = []
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="traffic_lam-dagger-")))
        env = expert_env(env_factory(make_env, env_options), chosen, observation, folder)
        stack.callback(env.close)
        agents = sorted(env.possible_agents)

        def rollout(iteration: int, student: Student | None, mix: float) -> tuple[DemoDataset, float | None]:
            recorder = Recorder.for_env(env)
            delays = []
            for k in range(episodes):
                number = iteration * episodes + k
                summary = run_episode(
                    env, chosen, recorder, seed=seed + number, episode=number, student=student, beta=mix, rng=rng,
                    trip_file=folder / "trips.xml", iteration=iteration,
                )  # fmt: skip
                delays.append(summary.avg_delay)
            measured = [d for d in delays if d is not None]
            return recorder.build(env, observation, chosen), float(np.mean(measured)) if measured else None

        # iteration 0: behaviour cloning on the expert's own episodes
        if demos is not None:
            demos.check_fits(env, observation, "dagger")
            dataset, delay = demos, _mean_delay(demos)
        else:
            dataset, delay = rollout(0, None, 1.0)
        clone = train_clone(dataset, **settings)
        history.append(
            DaggerIteration(0, 1.0, episodes, len(dataset), delay, clone.holdout_accuracy, clone.train_accuracy)
        )
        if report is not None:
            report(history[-1])

        # iterations 1..: the student drives, the expert labels, aggregate, retrain on everything
        offset = int(dataset.episodes.max()) + 1 if len(dataset) else 0
        for iteration in range(1, iterations + 1):
            mix = beta * beta_decay ** (iteration - 1)
            fresh, delay = rollout(iteration, student_of(clone.policy, agents), mix)
            fresh = _renumbered(fresh, offset)
            offset += episodes
            on_policy = accuracy(clone.policy, fresh)  # states the policy caused, never trained on
            dataset = dataset.extend(fresh)
            clone = train_clone(dataset, **{**settings, "holdout": 0})
            history.append(
                DaggerIteration(iteration, mix, episodes, len(dataset), delay, on_policy, clone.train_accuracy)
            )
            if report is not None:
                report(history[-1])
    return DaggerResult(clone.policy, dataset, history, clone)


def _check_settings(*, beta: float, beta_decay: float, iterations: Any, episodes: Any) -> None:
    """One-line errors for a DAgger setting out of range."""
    if not 0.0 <= beta <= 1.0 or not 0.0 <= beta_decay <= 1.0:
        raise ConfigError(f"dagger: beta and beta_decay: expected values in [0, 1], got {beta!r} and {beta_decay!r}")
    require_int("dagger: iterations", iterations, 0)
    require_int("dagger: episodes", episodes, 1)


def _renumbered(dataset: DemoDataset, offset: int) -> DemoDataset:
    """``dataset`` with its episodes numbered from ``offset`` on (rows and metadata)."""
    import dataclasses

    first = int(dataset.episodes.min()) if len(dataset) else 0
    shift = offset - first
    metadata = dataclasses.replace(
        dataset.metadata, episodes=tuple({**e, "episode": e["episode"] + shift} for e in dataset.metadata.episodes)
    )
    return dataclasses.replace(dataset, metadata=metadata, episodes=dataset.episodes + shift)


def _mean_delay(dataset: DemoDataset) -> float | None:
    delays = [e["avg_delay"] for e in dataset.metadata.episodes if e.get("avg_delay") is not None]
    return float(np.mean(delays)) if delays else None
