"""The batched Q-learner as a controller: tabular (hashed) or neural (batched networks).

Training reads top to bottom in :meth:`BatchedQ._learn`: N simulations run in N worker
processes (:class:`~traffic_lam.env.VectorSignalEnv`); every decision step, all signals
of all simulations choose their actions in one tensor operation, the simulations are
sent their actions, and while they step the learner updates (gradient steps in neural
mode); then all transitions are applied in one batched update (tabular) or stored in
the device replay buffer (neural).
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from traffic_lam.controllers.base import Controller
from traffic_lam.controllers.batched_q.neural import BatchedMLP, NeuralConfig, NStepAccumulator, ReplayBuffer
from traffic_lam.controllers.batched_q.tabular import TabularConfig, TabularQ
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.files import atomic_open, atomic_write_text

MODES = ("tabular", "neural")


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when present, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class BatchedQ(Controller):
    """Q-learning for every signal of every parallel simulation at once.

    Args:
        mode: ``"tabular"`` (hashed Q-table) or ``"neural"`` (batched Q-networks).
        shared: one table / network for all signals (parameter sharing) instead of one each.
        bins: tabular: discretisation bins per observation feature.
        table_size: tabular: hashed state buckets per table.
        alpha: tabular: learning rate.
        gamma: discount factor.
        epsilon_start: exploration at the start of training.
        epsilon_end: exploration at the end of the decay.
        epsilon_fraction: fraction of the training decision steps over which epsilon decays.
        hidden: neural: hidden width.
        learning_rate: neural: Adam step size.
        buffer_size: neural: replay capacity (simulation steps).
        batch_size: neural: sampled simulation steps per gradient step.
        learning_starts: neural: steps collected before learning.
        gradient_steps: neural: gradient steps per decision step (done while the simulations step).
        target_update: neural: gradient steps between target-network copies.
        n_step: neural: n-step returns.
        double_q: neural: double Q-learning targets.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        seed: seeds exploration, hashing and network initialisation.
    """

    name: ClassVar[str] = "batched-q"
    observation: ClassVar[str | None] = "default"
    needs_training: ClassVar[bool] = True

    def __init__(
        self,
        mode: str = "tabular",
        shared: bool = False,
        bins: int = 10,
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
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        params = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__(**params)
        if mode not in MODES:
            raise ConfigError(f"batched-q: mode: expected one of {', '.join(MODES)}, got {mode!r}")
        if not 0.0 <= epsilon_end <= epsilon_start <= 1.0:
            raise ConfigError("batched-q: expected 0 <= epsilon_end <= epsilon_start <= 1")
        self.mode = mode
        self.device = resolve_device(device)
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
        )
        self.agents: list[str] = []
        self.obs_dim = 0
        self.num_actions = 0
        self.table: TabularQ | None = None
        self.online: BatchedMLP | None = None
        self.target: BatchedMLP | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.decision_steps = 0
        self.gradient_updates = 0
        self.training_episodes = 0
        self.timing = {"wall_s": 0.0, "learner_s": 0.0, "simulated_s": 0.0}

    # ------------------------------------------------------------------ shapes and models
    def build(self, agents: list[str], obs_sizes: list[int], action_sizes: list[int]) -> None:
        """Allocate the table or networks for these agents (padded to the largest spaces)."""
        self.agents = list(agents)
        self.obs_dim = max(obs_sizes)
        self.num_actions = max(action_sizes)
        n = len(self.agents)
        self.valid_actions = torch.zeros(n, self.num_actions, dtype=torch.bool, device=self.device)
        for i, size in enumerate(action_sizes):
            self.valid_actions[i, :size] = True
        if self.mode == "tabular":
            self.table = TabularQ(
                self.tabular_config, n, self.obs_dim, self.num_actions, self.device, seed=int(self.params["seed"])
            )
            return
        torch.manual_seed(int(self.params["seed"]))
        nets = 1 if self.neural_config.shared else n
        in_dim = self.obs_dim + (n if self.neural_config.shared else 0)
        self.online = BatchedMLP(nets, in_dim, self.neural_config.hidden, self.num_actions).to(self.device)
        self.target = BatchedMLP(nets, in_dim, self.neural_config.hidden, self.num_actions).to(self.device)
        self.target.load_state_dict(self.online.state_dict())
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=self.neural_config.learning_rate)
        self.agent_ids = torch.eye(n, device=self.device)

    def _setup(self, env: Any) -> None:
        agents = list(env.possible_agents)
        if self.agents and self.agents != agents:
            raise ControllerError(
                f"batched-q: trained on signals {self.agents[:3]}..., this network has {agents[:3]}..."
            )
        if not self.agents:
            self.build(
                agents,
                [env.observation_space(a).shape[0] for a in agents],
                [int(env.action_space(a).n) for a in agents],
            )

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values ``[B, N, A]`` for padded observations ``[B, N, D]`` of every agent."""
        if self.table is not None:
            agents = torch.arange(len(self.agents), device=self.device).expand(obs.shape[0], -1)
            return self.table.values(self.table.state_index(obs), agents)
        return self._forward(self.online, obs)

    def _forward(self, net: BatchedMLP | None, obs: torch.Tensor) -> torch.Tensor:
        assert net is not None
        b, n, _ = obs.shape
        if self.neural_config.shared:
            x = torch.cat([obs, self.agent_ids.expand(b, n, n)], dim=-1).reshape(1, b * n, -1)
            return net(x).reshape(b, n, -1)
        return net(obs.transpose(0, 1)).transpose(0, 1)

    def select(self, obs: torch.Tensor, masks: torch.Tensor, epsilon: float) -> torch.Tensor:
        """Epsilon-greedy actions ``[B, N]`` among the allowed ones (``masks`` ``[B, N, A]`` bool)."""
        with torch.no_grad():
            q = self.q_values(obs).masked_fill(~masks, float("-inf"))
        greedy = q.argmax(-1)
        if epsilon <= 0.0:
            return greedy
        noise = torch.rand(masks.shape, generator=self.generator, device=self.device).masked_fill(~masks, -1.0)
        random = noise.argmax(-1)  # uniform among allowed actions
        explore = torch.rand(greedy.shape, generator=self.generator, device=self.device) < epsilon
        return torch.where(explore, random, greedy)

    # ------------------------------------------------------------------ acting
    def _act(self, observations: Any, infos: Any) -> dict[str, int]:
        obs, masks = self._stack([observations], [infos])
        actions = self.select(obs, masks, epsilon=0.0)[0].tolist()
        return {agent: int(actions[i]) for i, agent in enumerate(self.agents) if agent in observations}

    def _stack(self, observations: list[dict], infos: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad per-agent observations and masks of several simulations into tensors."""
        b, n = len(observations), len(self.agents)
        obs = np.zeros((b, n, self.obs_dim), dtype=np.float32)
        masks = np.zeros((b, n, self.num_actions), dtype=bool)
        for e, (o, info) in enumerate(zip(observations, infos, strict=True)):
            for i, agent in enumerate(self.agents):
                if agent in o:
                    vector = o[agent]
                    obs[e, i, : len(vector)] = vector
                    mask = info[agent]["action_mask"]
                    masks[e, i, : len(mask)] = mask.astype(bool)
                else:
                    masks[e, i, 0] = True
        return torch.from_numpy(obs).to(self.device), torch.from_numpy(masks).to(self.device)

    # ------------------------------------------------------------------ learning
    def _learn(self, make_env: Any, budget: Any) -> None:
        episodes = int(getattr(budget, "episodes", budget))
        num_envs = int(getattr(budget, "num_envs", 1))
        seed = int(getattr(budget, "seed", 10_000))
        checkpoint_every = int(getattr(budget, "checkpoint_every", 0))
        checkpoint_dir = getattr(budget, "checkpoint_dir", None)
        curve_file = getattr(budget, "curve_file", None)
        checkpoint = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None

        venv = make_env.vector(num_envs)
        try:
            if not self.agents:
                self.build(
                    venv.possible_agents,
                    [venv.observation_spaces[a].shape[0] for a in venv.possible_agents],
                    [int(venv.action_spaces[a].n) for a in venv.possible_agents],
                )
            curve: list[dict[str, Any]] = []
            if checkpoint is not None and checkpoint.is_file():
                curve = self._restore_checkpoint(checkpoint)
            steps_per_episode = int((venv.config.end_time - venv.config.begin_time) // venv.config.timing.delta_time)
            total_steps = max(1, episodes * steps_per_episode // num_envs)
            decay_steps = max(1, int(self.params["epsilon_fraction"] * total_steps))
            accumulator = NStepAccumulator(self.neural_config.n_step, self.neural_config.gamma)
            buffer = (
                ReplayBuffer(
                    self.neural_config.buffer_size, len(self.agents), self.obs_dim, self.num_actions, self.device
                )
                if self.mode == "neural"
                else None
            )
            observations, infos = venv.reset(seed=seed + self.training_episodes)
            running = [{"return": 0.0, "queue": 0.0, "steps": 0} for _ in range(num_envs)]
            started = time.perf_counter()
            while self.training_episodes < episodes:
                learner_started = time.perf_counter()
                epsilon = self._epsilon(decay_steps)
                obs, masks = self._stack(observations, infos)
                actions = self.select(obs, masks, epsilon)
                action_list = actions.tolist()
                venv.step_async([{a: action_list[e][i] for i, a in enumerate(self.agents)} for e in range(num_envs)])
                if buffer is not None:  # learn while the simulations step
                    self._gradient_steps(buffer)
                learner_time = time.perf_counter() - learner_started
                next_observations, rewards, dones, next_infos = venv.step_wait()
                learner_started = time.perf_counter()
                final_obs = [
                    {a: i[a]["final_observation"] for a in i} if done else o
                    for o, i, done in zip(next_observations, next_infos, dones, strict=True)
                ]
                final_infos = [
                    {a: i[a]["final_info"] for a in i} if done else i for i, done in zip(next_infos, dones, strict=True)
                ]
                next_obs, next_masks = self._stack(final_obs, final_infos)
                reward = torch.tensor(
                    [[r.get(a, 0.0) for a in self.agents] for r in rewards], dtype=torch.float32, device=self.device
                )
                if self.table is not None:
                    self._tabular_update(obs, actions, reward, next_obs, next_masks)
                else:
                    assert buffer is not None
                    for transition in accumulator.push(
                        obs, actions, reward, next_obs, next_masks, dones, [False] * num_envs
                    ):
                        buffer.add(*(t.unsqueeze(0) for t in transition))
                self.decision_steps += 1
                self.timing["learner_s"] += learner_time + time.perf_counter() - learner_started
                self.timing["simulated_s"] += venv.config.timing.delta_time * num_envs
                for e in range(num_envs):
                    stats = running[e]
                    stats["return"] += float(reward[e].mean())
                    stats["queue"] += float(np.mean([final_infos[e][a]["queue"] for a in self.agents]))
                    stats["steps"] += 1
                    if dones[e]:
                        self.training_episodes += 1
                        system = final_infos[e][self.agents[0]]["system"]
                        curve.append(
                            {
                                "episode": self.training_episodes,
                                "return": stats["return"],
                                "avg_queue": stats["queue"] / max(1, stats["steps"]),
                                "arrived": system["arrived"],
                                "epsilon": epsilon,
                                "wall_s": time.perf_counter() - started,
                            }
                        )
                        running[e] = {"return": 0.0, "queue": 0.0, "steps": 0}
                        if (
                            checkpoint is not None
                            and checkpoint_every
                            and self.training_episodes % checkpoint_every == 0
                        ):
                            self._save_checkpoint(checkpoint, curve)
                        if curve_file is not None:
                            _write_curve(Path(curve_file), curve)
                observations, infos = next_observations, next_infos
            self.timing["wall_s"] += time.perf_counter() - started
        finally:
            venv.close()
        if checkpoint is not None:
            self._save_checkpoint(checkpoint, curve)

    def _epsilon(self, decay_steps: int) -> float:
        start, end = float(self.params["epsilon_start"]), float(self.params["epsilon_end"])
        return end + (start - end) * max(0.0, 1.0 - self.decision_steps / decay_steps)

    def _tabular_update(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        reward: torch.Tensor,
        next_obs: torch.Tensor,
        next_masks: torch.Tensor,
    ) -> None:
        assert self.table is not None
        b, n = actions.shape
        agents = torch.arange(n, device=self.device).repeat(b)
        terminated = torch.zeros(b * n, dtype=torch.bool, device=self.device)  # time limits only: bootstrap
        self.table.update(
            agents,
            self.table.state_index(obs).reshape(-1),
            actions.reshape(-1),
            reward.reshape(-1),
            self.table.state_index(next_obs).reshape(-1),
            next_masks.reshape(b * n, -1),
            terminated,
        )

    def _gradient_steps(self, buffer: ReplayBuffer) -> None:
        config = self.neural_config
        if buffer.size < config.learning_starts:
            return
        assert self.online is not None and self.target is not None and self.optimizer is not None
        for _ in range(config.gradient_steps):
            obs, actions, returns, next_obs, next_masks, discounts = buffer.sample(config.batch_size, self.generator)
            with torch.no_grad():
                target_q = self._forward(self.target, next_obs).masked_fill(~next_masks, float("-inf"))
                if config.double_q:
                    online_next = self._forward(self.online, next_obs).masked_fill(~next_masks, float("-inf"))
                    best = online_next.argmax(-1, keepdim=True)
                    next_value = target_q.gather(-1, best).squeeze(-1)
                else:
                    next_value = target_q.amax(-1)
                next_value = torch.nan_to_num(next_value, neginf=0.0)
                targets = returns + discounts.unsqueeze(-1) * next_value
            q = self._forward(self.online, obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
            loss = torch.nn.functional.smooth_l1_loss(q, targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.online.parameters(), self.neural_config.max_grad_norm)
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
            "valid_actions": self.valid_actions.cpu() if self.agents else None,
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
        learner = cls(**params)
        learner._restore_state(state)
        return learner

    def _restore_state(self, state: dict[str, Any]) -> None:
        if state["agents"]:
            sizes = state["valid_actions"].sum(-1).tolist()
            self.build(state["agents"], [state["obs_dim"]] * len(state["agents"]), [int(s) for s in sizes])
            self.num_actions = int(state["num_actions"])
        if "q_table" in state and self.table is not None:
            self.table.q.copy_(state["q_table"].to(self.device))
        if "online" in state and self.online is not None and self.target is not None:
            self.online.load_state_dict(state["online"])
            self.target.load_state_dict(state["target"])
        self.decision_steps = int(state["decision_steps"])
        self.gradient_updates = int(state["gradient_updates"])
        self.training_episodes = int(state["training_episodes"])
        self.timing = dict(state["timing"])

    def _save_checkpoint(self, path: Path, curve: list[dict[str, Any]]) -> None:
        self.save(path)
        atomic_write_text(path.with_suffix(".curve.csv"), _curve_csv(curve))

    def _restore_checkpoint(self, path: Path) -> list[dict[str, Any]]:
        state = torch.load(path, map_location="cpu", weights_only=True)
        self._restore_state(state)
        curve_path = path.with_suffix(".curve.csv")
        if not curve_path.is_file():
            return []
        with curve_path.open(newline="") as handle:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]

    def _state(self) -> Any:
        return None

    def _restore(self, state: Any) -> None:
        return None


def _curve_csv(curve: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if curve:
        writer = csv.DictWriter(buffer, fieldnames=list(curve[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(curve)
    return buffer.getvalue()


def _write_curve(path: Path, curve: list[dict[str, Any]]) -> None:
    atomic_write_text(path, _curve_csv(curve))
