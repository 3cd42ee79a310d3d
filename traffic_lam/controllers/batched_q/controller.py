"""The batched Q-learner as a controller: tabular (hashed) or neural (batched networks).

Training reads top to bottom in :meth:`BatchedQ._learn`: N simulations run in N worker
processes (:class:`~traffic_lam.env.VectorSignalEnv`); every decision step, all signals
of all simulations choose their actions in one tensor operation, the simulations are
sent their actions, and while they step the learner takes its gradient steps (neural
mode); then the transitions of all signals of all simulations are applied in one
batched update (tabular) or stored in the device replay buffer (neural).

The hot path has no Python loop over signals: observations and masks of every
simulation are stacked with one ``np.concatenate`` each into preallocated positions,
a tabular state is hashed once (its row serves the action choice of this step and
the update of the previous one), and a finished episode's last observation is
stacked only on the step it ends.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from traffic_lam.controllers.base import Controller
from traffic_lam.controllers.batched_q.neural import (
    BatchedMLP,
    NeuralConfig,
    NStepAccumulator,
    ReplayBuffer,
    RunningStd,
)
from traffic_lam.controllers.batched_q.tabular import TabularConfig, TabularQ
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.files import atomic_open, read_csv, write_csv

MODES = ("tabular", "neural")


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when present, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run torch's CPU operations on ``threads`` intra-op threads (restored afterwards; <= 0: unchanged).

    The learner's tensors are small (hundreds of elements): a second thread buys
    nothing, and while the simulations keep the other cores busy, an operation that
    waits for a descheduled OpenMP thread stalls for milliseconds (measured: 2.5 ms
    instead of 50 µs to hash 128 observations on a busy 2-core machine).
    """
    if threads <= 0:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class BatchedQ(Controller):
    """Q-learning for every signal of every parallel simulation at once.

    Defaults were chosen by measurement (numbers in ``scripts/train_batched_q_resco.py``
    and ``scripts/compare_ql_sumo_rl.py`` runs): see the notes per argument.

    Args:
        mode: ``"tabular"`` (hashed Q-table) or ``"neural"`` (batched Q-networks).
        shared: one table / network for all signals (parameter sharing; a network then
            gets the signal's one-hot id with its observation) instead of one each.
            None: neural shares (RESCO grid4x4, 40 episodes: 44 s delay shared, 76 s
            independent), tabular does not (sumo-rl's setting; no duplicate updates).
        observation: the observation the learner reads (a name of
            :data:`traffic_lam.env.observations.OBSERVATIONS`); training and evaluation
            environments get it from :meth:`observation_spec`. None: tabular ``"wave"``
            (one vehicle count per green: few states that recur; the per-lane
            ``"default"`` at 10 bins gives 10^16 states on a 4-arm intersection, and
            evaluation then meets mostly unknown states), neural ``"default"``.
        bins: tabular: bins per observation feature: equal bins over the feature's bounds,
            unbounded features (vehicle counts) on a log2 scale: with 6 bins 0 | 1-2 | 3-6 |
            7-14 | 15-30 | 31+ vehicles (see
            :class:`~traffic_lam.controllers.batched_q.tabular.Discretiser`). sumo-rl's
            discretisation is ``observation="default", bins=10``.
        table_size: tabular: hashed state buckets per table.
        alpha: tabular: learning rate.
        gamma: discount factor (per decision step).
        epsilon_start: exploration at the start of training.
        epsilon_end: exploration at the end of the decay (and after it).
        epsilon_fraction: fraction of the training decision steps over which epsilon
            decays linearly from ``epsilon_start`` to ``epsilon_end``.
        hidden: neural: width of the two hidden layers.
        learning_rate: neural: Adam step size.
        buffer_size: neural: replay capacity (simulation steps, each with every signal).
        batch_size: neural: sampled simulation steps per gradient step (x signals samples).
        learning_starts: neural: simulation steps collected before learning.
        gradient_steps: neural: gradient steps per decision step (taken while the simulations step).
        target_update: neural: gradient steps between target-network copies.
        n_step: neural: n-step returns (truncated at the end of an episode, bootstrapped there).
        double_q: neural: double Q-learning targets.
        scale_rewards: neural: rewards divided by their running standard deviation in the targets.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        torch_threads: CPU threads for the learner's tensor operations while it trains
            or acts (see :func:`torch_threads`; 0: leave torch's setting alone).
        kernels: tabular: ``"numba"`` (compiled loops, CPU), ``"torch"`` (tensor operations)
            or ``"auto"`` (numba on a CPU, torch on a GPU); same results up to floating point.
        seed: seeds exploration, hashing and network initialisation.

    Rewards are the environment's (its ``reward`` option). Measured on RESCO grid4x4 and
    the bundled single intersection: ``queue`` learns; ``pressure`` led to gridlocking
    policies (and so did ``diff-waiting-time`` when it still summed the lanes' current
    waiting time; it now follows sumo-rl's accumulated waiting time).
    """

    name: ClassVar[str] = "batched-q"
    observation: ClassVar[str | None] = "default"  # per instance: its ``observation`` option (observation_spec)
    needs_training: ClassVar[bool] = True

    def __init__(
        self,
        mode: str = "tabular",
        shared: bool | None = None,
        observation: str | None = None,
        bins: int = 6,
        table_size: int = 1 << 16,
        alpha: float = 0.1,
        gamma: float = 0.99,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.05,
        epsilon_fraction: float = 0.5,
        hidden: int = 64,
        learning_rate: float = 1e-3,
        buffer_size: int = 50_000,
        batch_size: int = 64,
        learning_starts: int = 200,
        gradient_steps: int = 1,
        target_update: int = 250,
        n_step: int = 3,
        double_q: bool = True,
        scale_rewards: bool = True,
        device: str = "auto",
        torch_threads: int = 1,
        kernels: str = "auto",
        seed: int = 0,
    ) -> None:
        params = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__(**params)
        if mode not in MODES:
            raise ConfigError(f"batched-q: mode: expected one of {', '.join(MODES)}, got {mode!r}")
        if not 0.0 <= epsilon_end <= epsilon_start <= 1.0:
            raise ConfigError("batched-q: expected 0 <= epsilon_end <= epsilon_start <= 1")
        if kernels not in ("auto", "numba", "torch") or (kernels == "numba" and resolve_device(device).type != "cpu"):
            raise ConfigError(f"batched-q: kernels: expected auto, torch, or numba on a CPU device, got {kernels!r}")
        if not isinstance(bins, int) or bins < 1:
            raise ConfigError(f"batched-q: bins: expected an integer >= 1, got {bins!r}")
        self.mode = mode
        if shared is None:
            shared = mode == "neural"
        self.observation_name = observation or ("wave" if mode == "tabular" else "default")
        self.device = resolve_device(device)
        self.threads = int(torch_threads) if self.device.type == "cpu" else 0
        self.tabular_config = TabularConfig(bins=bins, table_size=table_size, alpha=alpha, gamma=gamma, shared=shared)
        self.neural_config = NeuralConfig(
            hidden=hidden,
            learning_rate=learning_rate,
            gamma=gamma,
            buffer_size=buffer_size,
            batch_size=batch_size,
            learning_starts=learning_starts,
            gradient_steps=gradient_steps,
            target_update=target_update,
            n_step=n_step,
            double_q=double_q,
            shared=shared,
            scale_rewards=scale_rewards,
        )
        self.agents: list[str] = []
        self.obs_dim = 0
        self.num_actions = 0
        self.table: TabularQ | None = None
        self._numpy = False  # see build(): arrays instead of tensors on the hot path
        self.online: BatchedMLP | None = None
        self.target: BatchedMLP | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.reward_std = RunningStd()
        self.decision_steps = 0
        self.gradient_updates = 0
        self.training_episodes = 0
        self.timing = {"wall_s": 0.0, "learner_s": 0.0, "learner_cpu_s": 0.0, "waiting_s": 0.0, "simulated_s": 0.0}

    def observation_spec(self) -> Any:
        """The observation this learner was configured with."""
        return self.observation_name

    # ------------------------------------------------------------------ shapes and models
    def build(
        self,
        agents: Sequence[str],
        observation_spaces: Sequence[spaces.Box | int],
        action_sizes: Sequence[int],
    ) -> None:
        """Allocate the table or networks for these agents (padded to the largest spaces).

        Args:
            agents: signal ids, in the order of the stacked tensors.
            observation_spaces: per agent, its observation ``Box`` (an int ``n`` stands for
                ``Box(0, 1, (n,))``); tabular mode discretises over the bounds.
            action_sizes: per agent, its number of actions (greens).
        """
        boxes = [s if isinstance(s, spaces.Box) else spaces.Box(0.0, 1.0, (int(s),)) for s in observation_spaces]
        self.agents = list(agents)
        self.obs_sizes = [int(b.shape[0]) for b in boxes]
        self.action_sizes = [int(n) for n in action_sizes]
        self.obs_dim, self.num_actions = max(self.obs_sizes), max(self.action_sizes)
        n, d, a = len(self.agents), self.obs_dim, self.num_actions
        # padding features are constant 0 in [0, 1]; padding actions are never allowed
        self.obs_low = np.zeros((n, d), dtype=np.float32)
        self.obs_high = np.ones((n, d), dtype=np.float32)
        for i, box in enumerate(boxes):
            self.obs_low[i, : box.shape[0]] = box.low
            self.obs_high[i, : box.shape[0]] = box.high
        # where each agent's values go in the flattened padded [N * D] / [N * A] arrays (see _stack)
        self._obs_index = np.concatenate([i * d + np.arange(k) for i, k in enumerate(self.obs_sizes)])
        self._mask_index = np.concatenate([i * a + np.arange(k) for i, k in enumerate(self.action_sizes)])
        self._padded = len(set(self.obs_sizes)) > 1 or len(set(self.action_sizes)) > 1
        # tie order: row c ranks the actions after current green c: c + 1 first, c itself last
        self._tie_order = (torch.arange(a) - torch.arange(a).unsqueeze(-1) - 1).remainder(a).to(self.device)
        blank_obs = [np.zeros(k, dtype=np.float32) for k in self.obs_sizes]  # for a signal missing from a dict
        blank_mask = [np.ones(k, dtype=np.int8) for k in self.action_sizes]
        self._pairs = list(zip(self.agents, blank_obs, blank_mask, strict=True))
        seed = int(self.params["seed"])
        if self.mode == "tabular":
            kernels = str(self.params["kernels"])
            self.table = TabularQ(self.tabular_config, self.obs_low, self.obs_high, a, self.device, seed, kernels)
            self._numpy = self.table.compiled  # the compiled kernels take numpy arrays as they are
            return
        torch.manual_seed(seed)
        nets = 1 if self.neural_config.shared else n
        in_dim = d + (n if self.neural_config.shared else 0)
        self.online = BatchedMLP(nets, in_dim, self.neural_config.hidden, a).to(self.device)
        self.target = BatchedMLP(nets, in_dim, self.neural_config.hidden, a).to(self.device)
        self.target.load_state_dict(self.online.state_dict())
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=self.neural_config.learning_rate)
        self.agent_ids = torch.eye(n, device=self.device)

    def _build_for(self, agents: list[str], observation_space: Any, action_space: Any) -> None:
        """Build for these agents (spaces looked up by id), or check them against the trained ones."""
        if self.agents and self.agents != agents:
            raise ControllerError(
                f"batched-q: trained on signals {self.agents[:3]}..., this network has {agents[:3]}..."
            )
        sizes = [int(observation_space(a).shape[0]) for a in agents]
        if self.agents and any(s > self.obs_dim for s in sizes):
            raise ControllerError(
                f"batched-q: observations of {max(sizes)} features, trained on {self.obs_dim}: "
                f"evaluate with the observation it was trained on ({self.observation_name!r})"
            )
        if not self.agents:
            self.build(agents, [observation_space(a) for a in agents], [int(action_space(a).n) for a in agents])

    def _setup(self, env: Any) -> None:
        agents = list(env.possible_agents)
        self._build_for(agents, env.observation_space, env.action_space)

    # ------------------------------------------------------------------ values and actions
    def state_of(self, obs: torch.Tensor) -> torch.Tensor:
        """What the values are computed from: table rows ``[B, N]`` (tabular) or the observations."""
        return self.table.rows(obs) if self.table is not None else obs

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values ``[B, N, A]`` for padded observations ``[B, N, D]`` of every agent."""
        return self._values(self.state_of(obs))

    def _values(self, state: torch.Tensor) -> torch.Tensor:
        if self.table is not None:
            return self.table.values(state)
        return self._forward(self.online, state)

    def _forward(self, net: BatchedMLP | None, obs: torch.Tensor) -> torch.Tensor:
        assert net is not None
        b, n, _ = obs.shape
        if self.neural_config.shared:
            x = torch.cat([obs, self.agent_ids.expand(b, n, n)], dim=-1).reshape(1, b * n, -1)
            return net(x).reshape(b, n, -1)
        return net(obs.transpose(0, 1)).transpose(0, 1)

    def select(
        self, obs: torch.Tensor, masks: torch.Tensor, epsilon: float, current: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Epsilon-greedy actions ``[B, N]`` among the allowed ones.

        Args:
            obs: padded observations ``[B, N, D]``.
            masks: allowed actions ``[B, N, A]`` (bool).
            epsilon: probability of a uniformly random allowed action, per signal.
            current: the green each signal shows ``[B, N]`` (int64; None: green 0), for ties.
        """
        if current is None:
            current = torch.zeros(masks.shape[:-1], dtype=torch.int64, device=self.device)
        return self._select(self.state_of(obs), masks, current, epsilon)

    def _select(self, state: torch.Tensor, masks: torch.Tensor, current: torch.Tensor, epsilon: float) -> torch.Tensor:
        """Epsilon-greedy; the greedy action is the allowed one of largest value.

        Among equal values (a tabular state never updated: all zero) the next green after
        the current one in program order wins, the current one last: an unknown state
        then moves the cycle on. Always the first index (sumo-rl's ``np.argmax``) would
        starve the other greens whenever unknown states follow one another, and keeping
        the current green would hold it for ever without a max green (RESCO protocol).
        """
        draws = None  # uniforms: A to pick a random allowed action, 1 to decide to explore
        if epsilon > 0.0:
            shape = (*masks.shape[:-1], self.num_actions + 1)
            draws = torch.rand(shape, generator=self.generator, device=self.device)
        if self.table is not None and self.table.compiled:  # one compiled loop on the CPU
            return self.table.select(state, masks, current, self._tie_order, epsilon, draws)
        blocked = ~masks
        with torch.no_grad():  # (a no-op under the inference mode of training and acting)
            q = self._values(state).masked_fill_(blocked, float("-inf"))
        best = (q == q.amax(-1, keepdim=True)) & masks
        greedy = torch.where(best, self._tie_order[current], self.num_actions).argmin(-1)
        greedy = torch.where(masks.any(-1), greedy, current)  # nothing allowed: keep the green
        if draws is None:
            return greedy
        random = draws[..., :-1].masked_fill(blocked, -1.0).argmax(-1)  # uniform among allowed actions
        return torch.where(draws[..., -1] < epsilon, random, greedy)

    def _act(self, observations: Any, infos: Any) -> dict[str, int]:
        with torch_threads(self.threads), torch.inference_mode():
            obs, masks, current = self._stack([observations], [infos])
            actions = self._select(self.state_of(obs), masks, current, epsilon=0.0)[0].tolist()
        return {agent: actions[i] for i, agent in enumerate(self.agents) if agent in observations}

    def _stack(
        self, observations: Sequence[dict], infos: Sequence[dict]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Observations ``[B, N, D]``, masks ``[B, N, A]`` (bool) and current greens ``[B, N]`` of ``B`` simulations.

        Tensors on the learner's device; numpy arrays for a tabular learner on compiled CPU kernels.

        One concatenation per quantity for all simulations and signals, written into
        precomputed zero-padded positions; a signal missing from a dict gets zeros, a
        full mask and green 0.
        """
        b, n, pairs = len(observations), len(self.agents), self._pairs
        flat_obs = np.concatenate([o.get(a, blank) for o in observations for a, blank, _ in pairs])
        flat_masks = np.concatenate([i[a]["action_mask"] if a in i else blank for i in infos for a, _, blank in pairs])
        current = np.fromiter((i[a]["phase"] if a in i else 0 for i in infos for a in self.agents), np.int64, b * n)
        if self._padded:  # signals of different sizes: scatter into zero-padded positions
            obs = np.zeros((b, n * self.obs_dim), dtype=np.float32)
            obs[:, self._obs_index] = flat_obs.reshape(b, -1)
            masks = np.zeros((b, n * self.num_actions), dtype=bool)
            masks[:, self._mask_index] = flat_masks.reshape(b, -1)
        else:
            obs, masks = flat_obs.astype(np.float32, copy=False), flat_masks.astype(bool)
        if self._numpy:  # compiled tabular learner on the CPU: arrays, no tensors needed
            return obs.reshape(b, n, self.obs_dim), masks.reshape(b, n, self.num_actions), current.reshape(b, n)
        obs_t = torch.from_numpy(obs.reshape(b, n, self.obs_dim))
        masks_t = torch.from_numpy(masks.reshape(b, n, self.num_actions))
        current_t = torch.from_numpy(current.reshape(b, n))
        if self.device.type == "cpu":
            return obs_t, masks_t, current_t
        return obs_t.to(self.device), masks_t.to(self.device), current_t.to(self.device)

    # ------------------------------------------------------------------ learning
    def _learn(self, make_env: Any, budget: Any) -> None:
        """Train for ``budget`` episodes on simulations built by ``make_env``.

        ``budget`` is an int (episodes) or an object with ``episodes``, ``num_envs``,
        ``seed``, ``checkpoint_every``, ``checkpoint_dir`` and ``curve_file``;
        ``make_env`` an :class:`~traffic_lam.env.factory.EnvFactory` (the learner sets its
        own observation). The episodes of all simulations count: with ``num_envs``
        simulations finishing together the total is rounded up to a multiple of ``num_envs``.

        ``timing`` accumulates the loop's wall time, the learner's own work in it (action
        choice, stacking, updates, gradient steps, bookkeeping; not file writes) in wall
        and in CPU seconds (the latter does not grow when a busy machine deschedules it), the time
        spent waiting for the simulations (what is left is the time they wait for this
        process) and the simulated seconds.
        """
        episodes = int(getattr(budget, "episodes", budget))
        num_envs = int(getattr(budget, "num_envs", 1))
        seed = int(getattr(budget, "seed", 10_000))
        checkpoint_every = int(getattr(budget, "checkpoint_every", 0) or 0)
        checkpoint_dir = getattr(budget, "checkpoint_dir", None)
        curve_file = getattr(budget, "curve_file", None)
        checkpoint = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
        given = dict(getattr(make_env, "options", {}) or {})
        if given.get("observation", self.observation_name) != self.observation_name:
            raise ConfigError(
                f"observation: batched-q reads {self.observation_name!r} (its 'observation' option); "
                f"the environment options ask for {given['observation']!r}"
            )

        with torch_threads(self.threads), make_env.vector(num_envs, **self.env_options()) as venv:
            agents = list(venv.possible_agents)
            self._build_for(agents, venv.observation_spaces.__getitem__, venv.action_spaces.__getitem__)
            curve: list[dict[str, Any]] = []
            if checkpoint is not None and checkpoint.is_file():
                curve = self._restore_checkpoint(checkpoint)
            config = venv.config
            steps_per_episode = math.ceil((config.end_time - config.begin_time) / config.timing.delta_time)
            decay_steps = max(1, int(self.params["epsilon_fraction"] * episodes * steps_per_episode / num_envs))
            n = len(self.agents)
            discounts: Any = torch.full((num_envs, n), self.tabular_config.gamma, device=self.device)
            if self._numpy:
                discounts = np.full((num_envs, n), self.tabular_config.gamma, dtype=np.float32)
            distinct = num_envs == 1 and not self.tabular_config.shared  # one table per transition of a step
            accumulator = NStepAccumulator(self.neural_config.n_step, self.neural_config.gamma)
            buffer = None
            if self.mode == "neural":
                buffer = ReplayBuffer(self.neural_config.buffer_size, n, self.obs_dim, self.num_actions, self.device)
                importlib.import_module("torch._dynamo")  # the optimizer's first step imports it (~3 s): not timed
            episode_return = np.zeros(num_envs)
            episode_halting = np.zeros(num_envs)
            episode_steps = np.zeros(num_envs)

            observations, infos = venv.reset(seed=seed + self.training_episodes)
            obs, masks, current = self._stack(observations, infos)
            state = self.state_of(obs)
            started = time.perf_counter()
            with torch.inference_mode():  # no autograd bookkeeping on the hot path (~25% of its cost)
                while self.training_episodes < episodes:
                    # 1. every signal of every simulation chooses; the simulations start stepping
                    tick, cpu_tick = time.perf_counter(), time.process_time()
                    epsilon = self._epsilon(decay_steps)
                    actions = self._select(state, masks, current, epsilon)
                    venv.step_async([dict(zip(agents, row, strict=True)) for row in actions.tolist()])
                    if buffer is not None:  # learn while the simulations step
                        self._gradient_steps(buffer)
                    learner_s, learner_cpu_s = time.perf_counter() - tick, time.process_time() - cpu_tick
                    waiting = time.perf_counter()
                    next_observations, rewards, dones, next_infos = venv.step_wait()
                    self.timing["waiting_s"] += time.perf_counter() - waiting

                    # 2. stack what came back; a finished simulation has already reset: its
                    #    transition ends in the last observation of the finished episode
                    tick, cpu_tick = time.perf_counter(), time.process_time()
                    next_obs, next_masks, next_current = self._stack(next_observations, next_infos)
                    reward_np = np.fromiter((r[a] for r in rewards for a in agents), np.float32, num_envs * n)
                    reward: Any = reward_np.reshape(num_envs, n)
                    if not self._numpy:
                        reward = torch.from_numpy(reward).to(self.device)
                    end_infos = [i[agents[0]].get("final_info", i[agents[0]]) for i in next_infos]
                    end_obs, end_masks = next_obs, next_masks
                    if any(dones):
                        end_obs, end_masks = self._final_observations(next_obs, next_masks, next_infos, dones)

                    # 3. learn from the transitions of all signals of all simulations at once
                    if self.table is not None:  # hashes the observations the transitions end in, too
                        end_state = self.table.learn(
                            state, actions, reward, end_obs, end_masks, discounts, distinct=distinct
                        )  # discounts: time-limit truncation only, always bootstrap
                        next_state = self.state_of(next_obs) if any(dones) else end_state
                    else:
                        assert buffer is not None
                        next_state = next_obs
                        self.reward_std.update(reward_np)
                        truncated_only = [False] * num_envs  # no terminal states: episodes end at a time limit
                        completed = accumulator.push(obs, actions, reward, end_obs, end_masks, dones, truncated_only)
                        if completed is not None:
                            buffer.add(*completed)
                    self.decision_steps += 1
                    episode_return += reward_np.reshape(num_envs, n).sum(1) / n
                    episode_halting += [info["system"]["halting"] / n for info in end_infos]
                    episode_steps += 1
                    self.timing["learner_s"] += learner_s + time.perf_counter() - tick
                    self.timing["learner_cpu_s"] += learner_cpu_s + time.process_time() - cpu_tick
                    self.timing["simulated_s"] += config.timing.delta_time * num_envs

                    # 4. learning curve: one row per finished episode
                    for e in np.flatnonzero(dones):
                        self.training_episodes += 1
                        curve.append(
                            {
                                "episode": self.training_episodes,
                                "return": float(episode_return[e]),
                                "avg_queue": float(episode_halting[e] / episode_steps[e]),
                                "arrived": end_infos[e]["system"]["arrived"],
                                "epsilon": epsilon,
                                "wall_s": time.perf_counter() - started,
                            }
                        )
                        episode_return[e] = episode_halting[e] = episode_steps[e] = 0.0
                        due = checkpoint_every and self.training_episodes % checkpoint_every == 0
                        if checkpoint is not None and due:
                            self._save_checkpoint(checkpoint, curve)
                    if curve_file is not None and any(dones):  # once, however many simulations finished
                        write_csv(Path(curve_file), curve)
                    obs, masks, current, state = next_obs, next_masks, next_current, next_state
            self.timing["wall_s"] += time.perf_counter() - started
        if checkpoint is not None:
            self._save_checkpoint(checkpoint, curve)

    def _final_observations(
        self, next_obs: torch.Tensor, next_masks: torch.Tensor, infos: list[dict], dones: list[bool]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``next_obs`` / ``next_masks`` with the rows of finished simulations replaced by their final ones."""
        end_obs, end_masks = (x.copy() if isinstance(x, np.ndarray) else x.clone() for x in (next_obs, next_masks))
        for e in np.flatnonzero(dones):
            info = infos[e]
            final_obs = {a: info[a]["final_observation"] for a in info}
            final_info = {a: info[a]["final_info"] for a in info}
            final = self._stack([final_obs], [final_info])
            end_obs[e], end_masks[e] = (_like(end_obs, x[0]) for x in final[:2])
        return end_obs, end_masks

    def _epsilon(self, decay_steps: int) -> float:
        start, end = float(self.params["epsilon_start"]), float(self.params["epsilon_end"])
        return end + (start - end) * max(0.0, 1.0 - self.decision_steps / decay_steps)

    def _gradient_steps(self, buffer: ReplayBuffer) -> None:
        config = self.neural_config
        if buffer.size < config.learning_starts:
            return
        assert self.online is not None and self.target is not None and self.optimizer is not None
        with torch.inference_mode(False):  # the training loop runs in inference mode
            self._gradient_steps_now(buffer)

    def _gradient_steps_now(self, buffer: ReplayBuffer) -> None:
        config = self.neural_config
        assert self.online is not None and self.target is not None and self.optimizer is not None
        for _ in range(config.gradient_steps):
            obs, actions, returns, next_obs, next_masks, discounts = buffer.sample(config.batch_size, self.generator)
            with torch.no_grad():
                target_q = self._forward(self.target, next_obs).masked_fill_(~next_masks, float("-inf"))
                if config.double_q:
                    online_next = self._forward(self.online, next_obs).masked_fill_(~next_masks, float("-inf"))
                    next_value = target_q.gather(-1, online_next.argmax(-1, keepdim=True)).squeeze(-1)
                else:
                    next_value = target_q.amax(-1)
                next_value = torch.nan_to_num(next_value, neginf=0.0)
                scale = 1.0 / max(self.reward_std.std, 1e-6) if config.scale_rewards else 1.0
                targets = returns * scale + discounts.unsqueeze(-1) * next_value
            q = self._forward(self.online, obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
            loss = torch.nn.functional.smooth_l1_loss(q, targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.online.parameters(), config.max_grad_norm)
            self.optimizer.step()
            self.gradient_updates += 1
            if self.gradient_updates % config.target_update == 0:
                self.target.load_state_dict(self.online.state_dict())

    # ------------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, Any]:
        """Everything needed to act and resume, as tensors and plain values (``weights_only`` loadable)."""
        state: dict[str, Any] = {
            "controller": self.name,
            "params": dict(self.params),
            "agents": list(self.agents),
            "obs_dim": self.obs_dim,
            "num_actions": self.num_actions,
            "obs_sizes": list(self.obs_sizes) if self.agents else [],
            "action_sizes": list(self.action_sizes) if self.agents else [],
            "obs_low": torch.from_numpy(self.obs_low) if self.agents else None,
            "obs_high": torch.from_numpy(self.obs_high) if self.agents else None,
            "reward_stats": [float(self.reward_std.count), self.reward_std.mean, self.reward_std.m2],
            "decision_steps": self.decision_steps,
            "gradient_updates": self.gradient_updates,
            "training_episodes": self.training_episodes,
            "timing": dict(self.timing),
        }
        if self.table is not None:
            state["q_table"] = self.table.q.cpu()
        if self.online is not None and self.target is not None and self.optimizer is not None:
            state["online"] = {k: v.cpu() for k, v in self.online.state_dict().items()}
            state["target"] = {k: v.cpu() for k, v in self.target.state_dict().items()}
        return state

    def save(self, path: str | Path) -> Path:
        """Write weights and bookkeeping with ``torch.save`` (atomically); see :meth:`load`."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(target, "wb", encoding=None) as handle:
            torch.save(self.state_tensors(), handle)
        return target

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> BatchedQ:
        """Rebuild a learner saved by :meth:`save` (``torch.load(..., weights_only=True)``)."""
        try:
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as exc:
            raise ControllerError(f"{path}: not a saved batched-q learner ({exc})") from None
        if not isinstance(state, dict) or state.get("controller") != cls.name:
            raise ControllerError(f"{path}: not a saved batched-q learner")
        params = dict(state["params"])
        if device is not None:
            params["device"] = device
            params["kernels"] = "auto"  # the kernels that suit the device it is loaded on
        learner = cls(**params)
        learner._restore_state(state)
        return learner

    def _restore_state(self, state: dict[str, Any]) -> None:
        if state["agents"]:
            boxes = [
                spaces.Box(low[:k].numpy(), high[:k].numpy())
                for low, high, k in zip(state["obs_low"], state["obs_high"], state["obs_sizes"], strict=True)
            ]
            self.build(state["agents"], boxes, state["action_sizes"])
        if "q_table" in state and self.table is not None:
            self.table.q.copy_(state["q_table"].to(self.device))
        if "online" in state and self.online is not None and self.target is not None:
            self.online.load_state_dict(state["online"])
            self.target.load_state_dict(state["target"])
        count, mean, m2 = state.get("reward_stats", (0.0, 0.0, 0.0))
        self.reward_std.count, self.reward_std.mean, self.reward_std.m2 = int(count), float(mean), float(m2)
        self.decision_steps = int(state["decision_steps"])
        self.gradient_updates = int(state["gradient_updates"])
        self.training_episodes = int(state["training_episodes"])
        self.timing.update(state["timing"])

    def _save_checkpoint(self, path: Path, curve: list[dict[str, Any]]) -> None:
        self.save(path)
        write_csv(path.with_suffix(".curve.csv"), curve)

    def _restore_checkpoint(self, path: Path) -> list[dict[str, Any]]:
        state = torch.load(path, map_location="cpu", weights_only=True)
        self._restore_state(state)
        curve_path = path.with_suffix(".curve.csv")
        return read_csv(curve_path) if curve_path.is_file() else []

    def _state(self) -> Any:
        return None

    def _restore(self, state: Any) -> None:
        return None


def _like(reference: Any, values: Any) -> Any:
    """``values`` as the same kind as ``reference``: a numpy array or a tensor on its device."""
    if isinstance(reference, np.ndarray):
        return np.asarray(values)
    return torch.as_tensor(values, device=reference.device)
