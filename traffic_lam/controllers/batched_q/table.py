"""The batched, hashed Q-table of the tabular learner: every signal of every simulation in one update.

Observations are discretised feature by feature (:class:`Discretiser`, ``bins`` per
feature over the observation space's bounds) and hashed into a preallocated table of
shape ``[tables * table_size, max_actions]``: one table per signal (independent) or one
for all (shared). A state is addressed by its *row*, the table's offset plus the hashed
bucket, so the Q-values of every signal of every simulation are one gather away and an
update of ``B`` transitions is a handful of tensor operations whatever ``B`` is: no
Python loop over signals or simulations.

On a CPU the same operations run as compiled loops instead (:mod:`.kernels`, numba):
for the small batches of a training step (16 signals x 8 simulations = 128 transitions)
a dozen torch calls cost more in dispatch than the work itself. Both paths give the same
results up to floating point.

Duplicate indices (the same row and action more than once in a batch: the same signal
in the same discretised state in two simulations, or several signals sharing a table)
are applied exactly as if the transitions were processed one after another in batch
order, with every target computed from the table before the batch: for a cell hit ``K``
times with targets ``y_0..y_{K-1}``, ``Q <- (1-a)^K Q + sum_k a (1-a)^(K-1-k) y_k``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from traffic_lam.controllers.batched_q.tabular import TabularConfig


def _symlog2(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * log2(1 + |x|)``: 0 -> 0, 1 -> 1, 3 -> 2, 7 -> 3, ...; odd, monotone."""
    return torch.sign(x) * torch.log2(1.0 + x.abs())


def _array(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    """The numpy view of a CPU tensor (an array passes through).

    The compiled path takes numpy arrays as they are and answers in kind (arrays for arrays,
    tensors for tensors): a CPU training loop that keeps its arrays in numpy saves a
    tensor-to-array conversion per argument per call.
    """
    return tensor if isinstance(tensor, np.ndarray) else tensor.numpy()


class Discretiser:
    """Maps observations ``[..., N, D]`` to bin indices in ``0..bins-1`` per feature.

    * A feature with finite bounds ``[low, high]`` is cut into ``bins`` equal bins
      (``[0, 1]`` with 10 bins: ``min(int(10 x), 9)``, sumo-rl's discretisation;
      ``[-1, 1]``: negative values keep their own bins).
    * An unbounded feature (vehicle counts, pressures) is binned on a log2 scale:
      ``floor(symlog2(x))``, i.e. 0, 1, 2-3, 4-7, 8-15 ... vehicles, starting at its
      finite lower bound, or centred on 0 when it has none (``bins // 2`` bins each side).

    Values outside the bounds fall into the first / last bin.

    Args:
        low: lower bounds ``[N, D]`` (may be ``-inf``).
        high: upper bounds ``[N, D]`` (may be ``inf``).
        bins: bins per feature.
        device: torch device.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, bins: int, device: torch.device) -> None:
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        bounded = np.isfinite(low) & np.isfinite(high) & (high > low)
        log_low = np.sign(low) * np.log2(1.0 + np.abs(np.where(np.isfinite(low), low, 0.0)))
        start = np.where(bounded, low, np.where(np.isfinite(low), log_low, -(bins // 2)))
        width = np.where(bounded, (high - low) / bins, 1.0)
        self.bins = bins
        self.log_scale = torch.as_tensor(~bounded, device=device)
        self.any_log = bool((~bounded).any())
        self.scale = torch.as_tensor(1.0 / width, dtype=torch.float32, device=device)
        self.shift = torch.as_tensor(-start / width, dtype=torch.float32, device=device)

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """Bin index (int64) of every feature of ``obs`` ``[..., N, D]``."""
        if self.any_log:
            obs = torch.where(self.log_scale, _symlog2(obs), obs)
        # clamp before the conversion (inf and huge values land in the last bin), then truncate
        # (= floor at >= 0); a separate multiply and add, not a fused one, rounds exactly as the
        # compiled CPU kernel does, so both paths put bin-edge values in the same bin
        return (obs * self.scale).add_(self.shift).clamp_(0, self.bins - 1).to(torch.int64)


class TabularQ:
    """A batched, hashed Q-table.

    Args:
        config: the tabular learner's hyperparameters (``bins``, ``table_size``, ``alpha``, ``shared``).
        low: per signal, the lower bounds of its (padded) observation, ``[N, D]``.
        high: per signal, the upper bounds, ``[N, D]``.
        num_actions: padded action count (invalid actions are masked).
        device: torch device.
        seed: seed of the hash coefficients.
        kernels: ``"numba"`` (compiled loops, CPU only), ``"torch"`` (tensor operations) or
            ``"auto"``: numba on a CPU, torch on a GPU.
    """

    def __init__(
        self,
        config: TabularConfig,
        low: np.ndarray,
        high: np.ndarray,
        num_actions: int,
        device: torch.device,
        seed: int = 0,
        kernels: str = "auto",
    ) -> None:
        self.config = config
        self.num_agents, obs_dim = np.shape(low)
        self.num_actions = num_actions
        self.device = device
        self.discretise = Discretiser(low, high, config.bins, device)
        tables = 1 if config.shared else self.num_agents
        self.q = torch.zeros(tables * config.table_size, num_actions, device=device)
        generator = torch.Generator().manual_seed(seed)
        # random odd 31-bit coefficients: bucket = sum(bin_i * c_i) mod table_size (universal-style hashing)
        coefficients = torch.randint(1, 2**31 - 1, (obs_dim,), generator=generator, dtype=torch.int64) | 1
        self.coefficients = coefficients.to(device)
        first_row = torch.arange(self.num_agents) * config.table_size
        self.first_row = (torch.zeros_like(first_row) if config.shared else first_row).to(device)
        if kernels not in ("auto", "numba", "torch"):
            raise ValueError(f"kernels: expected auto, numba or torch, got {kernels!r}")
        if kernels == "numba" and device.type != "cpu":
            raise ValueError(f"kernels: numba runs on the CPU, the table is on {device}")
        self._compiled = kernels == "numba" or (kernels == "auto" and device.type == "cpu")
        self._attach_kernels(self._compiled)

    def _attach_kernels(self, compiled: bool) -> None:
        """Import the compiled kernels and make the numpy views of the table they work on."""
        self._kernels = importlib.import_module("traffic_lam.controllers.batched_q.kernels") if compiled else None
        if compiled:  # numpy views of the same memory, made once: the kernels' per-call cost is microseconds
            d = self.discretise
            bins = (d.log_scale.numpy(), d.scale.numpy(), d.shift.numpy(), float(d.bins - 1))
            hashing = (self.coefficients.numpy(), self.config.table_size, self.first_row.numpy(), d.any_log)
            self._hashing = (*bins, *hashing)  # the kernels' ``hashing`` argument (see kernels._row)
            self._q = self.q.numpy()

    def rows(self, obs: torch.Tensor) -> torch.Tensor:
        """Table row of each signal's state: observations ``[..., N, D]`` -> ``[..., N]`` (int64)."""
        if self._kernels is not None:
            flat = _array(obs if obs.ndim == 3 else obs.reshape(-1, *obs.shape[-2:]))
            out = np.empty(flat.shape[:2], dtype=np.int64)
            self._kernels.rows(flat, self._hashing, out)
            out = out if obs.ndim == 3 else out.reshape(tuple(obs.shape[:-1]))
            return out if isinstance(obs, np.ndarray) else torch.from_numpy(out)
        bucket = (self.discretise(obs) @ self.coefficients).remainder_(self.config.table_size)
        return bucket.add_(self.first_row)

    def __getstate__(self) -> dict:
        """Pickle without the kernels module and the numpy views (rebuilt on unpickling)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_kernels", "_q", "_hashing")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._attach_kernels(state.get("_compiled", False))

    @property
    def compiled(self) -> bool:
        """Whether this table runs the compiled CPU kernels (else tensor operations)."""
        return self._kernels is not None

    def values(self, rows: torch.Tensor) -> torch.Tensor:
        """Q-values ``[..., num_actions]`` of the states in ``rows``."""
        return self.q[rows]

    def select(
        self,
        rows: torch.Tensor,
        masks: torch.Tensor,
        current: torch.Tensor,
        tie_order: torch.Tensor,
        epsilon: float,
        draws: torch.Tensor | None,
    ) -> torch.Tensor:
        """Epsilon-greedy actions ``[...]`` of the states in ``rows`` (compiled path; see :func:`.kernels.select`).

        Args:
            rows: ``[...]`` table rows.
            masks: ``[..., A]`` allowed actions.
            current: ``[...]`` green shown now.
            tie_order: ``[A, A]`` rank of each action among equal values, per current green.
            epsilon: exploration probability.
            draws: ``[..., A + 1]`` uniforms (None when ``epsilon`` is 0).
        """
        assert self._kernels is not None, "select() is the compiled path; the tensor path selects in the learner"
        count = int(np.prod(rows.shape))
        out = np.empty(count, dtype=np.int64)
        # no exploration: the draws are never read
        uniforms = np.zeros((count, self.num_actions + 1)) if draws is None else _array(draws).reshape(count, -1)
        self._kernels.select(
            self._q,
            _array(rows).reshape(-1),
            _array(masks).reshape(count, -1),
            _array(current).reshape(-1),
            _array(tie_order),
            epsilon,
            uniforms,
            out,
        )
        out = out.reshape(tuple(rows.shape))
        return out if isinstance(rows, np.ndarray) else torch.from_numpy(out)

    def prefer(self, rows: np.ndarray, actions: np.ndarray, returns: np.ndarray, margin: float) -> None:
        """Initialise the rows an expert visited: its action first by ``margin`` (a warm start).

        Per row, the action the expert chose most often there (ties: the lowest) gets the
        mean of the ``returns`` observed after choosing it, every other action that value
        minus ``margin``; other rows are left as they are.

        Args:
            rows: ``[K]`` table rows of the visited states (what :meth:`rows` gives).
            actions: ``[K]`` the expert's action at each.
            returns: ``[K]`` the discounted return that followed.
            margin: how far the expert's action leads the others.
        """
        unique, inverse = np.unique(rows, return_inverse=True)
        counts = np.zeros((len(unique), self.num_actions))
        sums = np.zeros((len(unique), self.num_actions))
        np.add.at(counts, (inverse, actions), 1.0)
        np.add.at(sums, (inverse, actions), returns)
        best = counts.argmax(axis=1)
        pick = np.arange(len(unique))
        value = sums[pick, best] / counts[pick, best]
        initial = np.repeat((value - margin)[:, None], self.num_actions, axis=1)
        initial[pick, best] = value
        index = torch.as_tensor(unique, dtype=torch.int64, device=self.device)
        self.q[index] = torch.as_tensor(initial, dtype=self.q.dtype, device=self.device)  # in place: the kernels' view

    def learn(
        self,
        rows: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        next_masks: torch.Tensor,
        discounts: torch.Tensor,
        distinct: bool = False,
    ) -> torch.Tensor:
        """A training step: the rows of ``next_obs`` and the update of its ``B x N`` transitions.

        Args:
            rows: ``[B, N]`` rows of the states the actions were taken in.
            actions: ``[B, N]`` actions taken.
            rewards: ``[B, N]`` rewards received.
            next_obs: ``[B, N, D]`` observations the transitions end in.
            next_masks: ``[B, N, A]`` valid actions there.
            discounts: ``[B, N]``, see :meth:`update`.
            distinct: see :meth:`update`.

        Returns:
            ``[B, N]`` the rows of ``next_obs`` (what :meth:`rows` gives).
        """
        if self._kernels is not None:  # one compiled call: hash, read the next values, update
            state_rows = _array(rows)
            next_rows = np.empty_like(state_rows)
            self._kernels.learn(
                self._q,
                state_rows,
                _array(actions),
                _array(rewards),
                _array(next_obs),
                self._hashing,
                _array(next_masks),
                _array(discounts),
                self.config.alpha,
                next_rows,
            )
            return next_rows if isinstance(rows, np.ndarray) else torch.from_numpy(next_rows)
        next_rows = self.rows(next_obs)
        flat_masks = next_masks.reshape(rows.numel(), -1)
        self.update(
            rows.reshape(-1),
            actions.reshape(-1),
            rewards.reshape(-1),
            next_rows.reshape(-1),
            flat_masks,
            discounts.reshape(-1),
            distinct,
        )
        return next_rows

    def update(
        self,
        rows: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_rows: torch.Tensor,
        next_masks: torch.Tensor,
        discounts: torch.Tensor,
        distinct: bool = False,
    ) -> None:
        """Apply a batch of ``B`` transitions (1-D tensors of length ``B`` unless said).

        Args:
            rows: state row (see :meth:`rows`).
            actions: action taken.
            rewards: reward received.
            next_rows: row of the next state.
            next_masks: ``[B, num_actions]`` bool, valid actions in the next state.
            discounts: ``gamma`` where the next state's value counts, 0 where the episode
                really ended. A time-limit truncation is *not* an end: bootstrap from the
                last observation (``gamma``).
            distinct: the caller knows that no (row, action) repeats (one table per signal
                and one simulation): skip the check for duplicates.
        """
        alpha = self.config.alpha
        if self._kernels is not None:  # in batch order: the sequential semantics directly
            self._kernels.update(
                self._q,
                _array(rows),
                _array(actions),
                _array(rewards),
                _array(next_rows),
                _array(next_masks),
                _array(discounts),
                alpha,
            )
            return
        next_q = self.q[next_rows].masked_fill_(~next_masks, float("-inf")).amax(-1)
        targets = torch.addcmul(rewards, discounts, next_q.nan_to_num_(neginf=0.0))  # no allowed action: 0
        keys = rows * self.num_actions + actions
        flat = self.q.view(-1)
        if distinct or not bool((keys.sort().values.diff() == 0).any()):  # no duplicates: one lerp
            flat.put_(keys, flat.take(keys).lerp_(targets, alpha))
            return
        # duplicates: the sequential result in closed form (stable sort keeps batch order within a key)
        sorted_keys, order = torch.sort(keys, stable=True)
        unique, inverse, counts = torch.unique_consecutive(sorted_keys, return_inverse=True, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(keys), device=keys.device) - starts[inverse]
        decay = 1.0 - alpha
        weights = alpha * decay ** (counts[inverse] - 1 - rank).to(targets.dtype)
        contribution = torch.zeros(len(unique), dtype=targets.dtype, device=targets.device)
        contribution.index_add_(0, inverse, weights * targets[order])
        flat.put_(unique, flat.take(unique) * decay ** counts.to(targets.dtype) + contribution)
