"""An SB3 ``VecEnv`` over :class:`~traffic_lam.env.VectorSignalEnv`, one SB3 env per (simulation, signal).

Every signal of every simulation is a sample of one policy (parameter sharing).

Episodes end by time limit: SB3 sees ``done`` with ``TimeLimit.truncated`` and the
``terminal_observation``, so both DQN and PPO bootstrap through the cut. Action masks are
served to MaskablePPO through ``env_method("action_masks")`` and travel at the end of
every observation for the masked DQN.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from traffic_lam.controllers.sb3.features import Featurizer
from traffic_lam.env.vector import score_columns


class SignalVecEnv(VecEnv):
    """SB3 view of N simulations x M signals as N*M environments.

    Args:
        venv: the simulations (worker processes).
        featurizer: turns per-signal observations into policy inputs.
        neighbour_reward: weight of the neighbours' mean reward mixed into each reward.
        seed: SUMO seed of the first reset (simulation i gets seed + i).
    """

    def __init__(self, venv: Any, featurizer: Featurizer, neighbour_reward: float = 0.0, seed: int = 0) -> None:
        self.venv = venv
        self.featurizer = featurizer
        self.neighbour_reward = neighbour_reward
        self.n_sims, self.n_agents = venv.num_envs, len(featurizer.agents)
        from gymnasium import spaces

        super().__init__(self.n_sims * self.n_agents, featurizer.space(), spaces.Discrete(featurizer.num_actions))
        self._seed = seed
        self._obs = np.zeros((self.num_envs, featurizer.size), dtype=np.float32)
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=int)
        self._started = time.time()
        self._actions: np.ndarray | None = None
        self.finished_episodes: list[dict[str, Any]] = []

    def reset(self) -> np.ndarray:
        """Reset every simulation; return ``[num_envs, size]`` observations."""
        observations, infos = self.venv.reset(seed=self._seed)
        self._obs = np.concatenate([self.featurizer.vectors(o, i) for o, i in zip(observations, infos, strict=True)])
        self._returns[:] = 0
        self._lengths[:] = 0
        return self._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Send each simulation its signals' actions."""
        flat = np.asarray(actions).reshape(self.n_sims, self.n_agents)
        agents = self.featurizer.agents
        self.venv.step_async([dict(zip(agents, row.tolist(), strict=True)) for row in flat])

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Collect observations, rewards, dones and infos of every (simulation, signal)."""
        observations, rewards, dones, infos = self.venv.step_wait()
        f = self.featurizer
        obs = np.concatenate([f.vectors(o, i) for o, i in zip(observations, infos, strict=True)])
        reward = np.concatenate([f.neighbour_rewards(r, self.neighbour_reward) for r in rewards])
        done = np.repeat(np.asarray(dones, dtype=bool), self.n_agents)
        self._returns += reward
        self._lengths += 1
        out_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for s, finished in enumerate(dones):
            if not finished:
                continue
            first = infos[s][f.agents[0]]
            final_obs = {a: infos[s][a]["final_observation"] for a in f.agents}
            final_infos = {a: infos[s][a]["final_info"] for a in f.agents}
            terminal = f.vectors(final_obs, final_infos)
            block = slice(s * self.n_agents, (s + 1) * self.n_agents)
            summary = first.get("episode") or {}
            self.finished_episodes.append(
                {
                    "return": float(self._returns[block].mean()),
                    **score_columns(first.get("episode")),
                    "length": int(self._lengths[block][0]),
                    "avg_delay": summary.get("avg_delay"),
                    "arrived": summary.get("arrived"),
                    "avg_queue": float(np.mean([final_infos[a]["queue"] for a in f.agents])),
                }
            )
            for k, index in enumerate(range(block.start, block.stop)):
                out_infos[index] = {
                    "terminal_observation": terminal[k],
                    "TimeLimit.truncated": True,
                    "episode": {
                        "r": float(self._returns[index]),
                        "l": int(self._lengths[index]),
                        "t": round(time.time() - self._started, 6),
                    },
                }
            self._returns[block] = 0
            self._lengths[block] = 0
        self._obs = obs
        return obs.copy(), reward, done, out_infos

    def action_masks(self) -> np.ndarray:
        """Masks of the current observations (bool ``[num_envs, num_actions]``)."""
        return self.featurizer.masks(self._obs)

    def close(self) -> None:
        """Stop the simulations."""
        self.venv.close()

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        """Only ``action_masks`` is served (MaskablePPO asks for it)."""
        if method_name != "action_masks":
            raise AttributeError(f"SignalVecEnv has no per-environment method {method_name!r}")
        masks = self.action_masks()
        return [masks[i] for i in self._indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        """``action_masks`` is available (what MaskablePPO checks)."""
        return attr_name in ("action_masks", "render_mode")

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """Attributes are shared by every (simulation, signal) environment."""
        if attr_name == "render_mode":
            return [None for _ in self._indices(indices)]
        raise AttributeError(f"SignalVecEnv has no attribute {attr_name!r}")

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Not supported: the environments live in worker processes."""
        raise AttributeError(f"cannot set {attr_name!r} on SignalVecEnv")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """No gymnasium wrappers inside."""
        return [False for _ in self._indices(indices)]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Set the SUMO seed of the next reset."""
        if seed is not None:
            self._seed = int(seed)
        return [None] * self.num_envs

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
