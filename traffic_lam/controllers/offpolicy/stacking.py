"""Per-signal dicts of parallel simulations <-> padded arrays ``[B, N, ...]``, without a loop over signals.

A vector environment answers with one dict per simulation (signal id -> value); a batched
learner wants one array per quantity. :class:`SignalStacker` builds them with one
``np.concatenate`` per quantity written into precomputed zero-padded positions, and turns
an action array back into the dicts the simulations take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


class SignalStacker:
    """Stacks observations, action masks, current greens and rewards of ``B`` simulations.

    Signals of different sizes are padded to the largest: padding features are 0,
    padding actions are never allowed. A signal missing from a dict gets zeros, a full
    mask and green 0.

    Args:
        agents: signal ids, in the order of the stacked arrays.
        obs_sizes: per signal, its observation size.
        action_sizes: per signal, its number of actions (greens).
        device: where the stacked arrays go: None for numpy arrays, else tensors on this
            torch device (rewards are always numpy: the loop's bookkeeping reads them).
    """

    def __init__(
        self, agents: Sequence[str], obs_sizes: Sequence[int], action_sizes: Sequence[int], device: torch.device | None
    ) -> None:
        self.agents = list(agents)
        self.obs_dim, self.num_actions = max(obs_sizes), max(action_sizes)
        self.device = device
        d, a = self.obs_dim, self.num_actions
        # where each signal's values go in the flattened padded [N * D] / [N * A] arrays
        self._obs_index = np.concatenate([i * d + np.arange(k) for i, k in enumerate(obs_sizes)])
        self._mask_index = np.concatenate([i * a + np.arange(k) for i, k in enumerate(action_sizes)])
        self._padded = len(set(obs_sizes)) > 1 or len(set(action_sizes)) > 1
        blank_obs = [np.zeros(k, dtype=np.float32) for k in obs_sizes]  # for a signal missing from a dict
        blank_mask = [np.ones(k, dtype=np.int8) for k in action_sizes]
        self._pairs = list(zip(self.agents, blank_obs, blank_mask, strict=True))

    def __call__(self, observations: Sequence[Mapping], infos: Sequence[Mapping]) -> tuple[Any, Any, Any]:
        """Observations ``[B, N, D]``, masks ``[B, N, A]`` (bool) and current greens ``[B, N]`` (int64)."""
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
        shaped = (obs.reshape(b, n, self.obs_dim), masks.reshape(b, n, self.num_actions), current.reshape(b, n))
        obs_out, masks_out, current_out = (self.convert(x) for x in shaped)
        return obs_out, masks_out, current_out

    def convert(self, array: np.ndarray) -> Any:
        """``array`` as this stacker's kind: itself (numpy), or a tensor on the device (no copy on a CPU)."""
        if self.device is None:
            return array
        tensor = torch.from_numpy(array)
        return tensor if self.device.type == "cpu" else tensor.to(self.device)

    def rewards(self, rewards: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Rewards ``[B, N]`` (float32 numpy) of ``B`` simulations' reward dicts."""
        count = len(rewards) * len(self.agents)
        return np.fromiter((r[a] for r in rewards for a in self.agents), np.float32, count).reshape(len(rewards), -1)

    def actions(self, actions: Any) -> list[dict[str, int]]:
        """Per simulation, the action dict of an action array ``[B, N]``."""
        return [dict(zip(self.agents, row, strict=True)) for row in actions.tolist()]

    def final(self, next_obs: Any, next_masks: Any, infos: Sequence[Mapping], dones: Sequence[bool]) -> tuple[Any, Any]:
        """Where the transitions end: ``next_obs`` / ``next_masks`` with finished simulations' final ones.

        A finished simulation has already reset: its ``next_obs`` starts the new episode,
        and its infos carry the last observation and infos of the finished one
        (``final_observation`` / ``final_info``). Returns the inputs themselves when
        nothing finished, copies otherwise.
        """
        if not any(dones):
            return next_obs, next_masks
        end_obs, end_masks = (x.copy() if isinstance(x, np.ndarray) else x.clone() for x in (next_obs, next_masks))
        for e in np.flatnonzero(dones):
            info = infos[e]
            final_obs = {a: info[a]["final_observation"] for a in info}
            final_info = {a: info[a]["final_info"] for a in info}
            obs, masks, _ = self([final_obs], [final_info])
            end_obs[e], end_masks[e] = _like(end_obs, obs[0]), _like(end_masks, masks[0])
        return end_obs, end_masks


def _like(reference: Any, values: Any) -> Any:
    """``values`` as the same kind as ``reference``: a numpy array or a tensor on its device."""
    if isinstance(reference, np.ndarray):
        return np.asarray(values)
    return torch.as_tensor(values, device=reference.device)
