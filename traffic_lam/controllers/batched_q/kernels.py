"""Compiled (numba) CPU kernels of the tabular learner: one call per decision step.

On a CPU a batch of 128 transitions (16 signals x 8 simulations) is too small for
tensor operations to pay off: every torch call costs microseconds of dispatch whatever
its size, and a tabular step needs a dozen of them. These kernels do the same work in
one compiled loop each, over numpy views of the same tensors (no copies):

* :func:`rows`: discretise and hash observations into table rows (the
  :class:`~traffic_lam.controllers.batched_q.tabular.Discretiser` rule);
* :func:`learn`: a training step's update fused with hashing its next observations;
* :func:`update`: the Q-learning update, targets from the table before the batch, then
  applied one transition after another in batch order, which *is* the sequential
  semantics the tensor path reproduces in closed form for duplicate indices;
* :func:`select`: epsilon-greedy among allowed actions with the learner's tie order.

They compile on first use (cached on disk by numba afterwards); this module is imported
only when a CPU tabular learner is built.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(inline="always")
def _row(obs: np.ndarray, b: int, n: int, hashing: tuple) -> int:
    """Row of signal ``n``'s observation ``obs[b, n]``: bin every feature, hash the bins.

    ``hashing`` is ``(log_scale, scale, shift, top, coefficients, size, first_row, any_log)``,
    the tuple :class:`~traffic_lam.controllers.batched_q.table.TabularQ` builds once. Bin ``=
    trunc(clamp(x * scale + shift, 0, top))`` where ``x`` is the feature, or ``sign(x) log2(1 +
    |x|)`` for features flagged in ``log_scale``; bucket ``= sum(bin * c) mod size``; row ``=
    first_row[n] + bucket``.
    """
    log_scale, scale, shift, top, coefficients, size, first_row, any_log = hashing
    upper = np.float32(top)
    zero = np.float32(0.0)
    bucket = 0
    if any_log:
        for d in range(obs.shape[2]):
            x = obs[b, n, d]
            if log_scale[n, d]:
                x = np.float32(np.sign(x) * np.log2(np.float32(1.0) + abs(x)))
            bucket += np.int64(min(max(x * scale[n, d] + shift[n, d], zero), upper)) * coefficients[d]
    else:
        for d in range(obs.shape[2]):
            value = obs[b, n, d] * scale[n, d] + shift[n, d]
            bucket += np.int64(min(max(value, zero), upper)) * coefficients[d]
    return bucket % size + first_row[n]


@njit(cache=True, nogil=True)
def rows(obs: np.ndarray, hashing: tuple, out: np.ndarray) -> None:
    """Rows ``out[B, N]`` of observations ``obs[B, N, D]`` (see :func:`_row`)."""
    for b in range(obs.shape[0]):
        for n in range(obs.shape[1]):
            out[b, n] = _row(obs, b, n, hashing)


@njit(cache=True, nogil=True)
def update(
    q: np.ndarray,
    rows: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_rows: np.ndarray,
    next_masks: np.ndarray,
    discounts: np.ndarray,
    alpha: float,
) -> None:
    """``Q(s,a) <- Q(s,a) + alpha (r + discount * max_{allowed a'} Q(s',a') - Q(s,a))`` for a batch, in order.

    Every target is computed before any cell changes (as the tensor path does); a next
    state without an allowed action is worth 0.
    """
    count, num_actions = next_masks.shape
    targets = np.empty(count, dtype=q.dtype)
    blocked = np.float32(-np.inf)
    for k in range(count):
        row = next_rows[k]
        best = blocked
        for a in range(num_actions):  # branch-free: values are random to the branch predictor
            best = max(best, q[row, a] if next_masks[k, a] else blocked)
        if best == blocked:
            best = np.float32(0.0)
        targets[k] = rewards[k] + discounts[k] * best
    step = np.float32(alpha)
    for k in range(count):
        row, action = rows[k], actions[k]
        q[row, action] += step * (targets[k] - q[row, action])


@njit(cache=True, nogil=True)
def select(
    values: np.ndarray,
    rows: np.ndarray,
    masks: np.ndarray,
    current: np.ndarray,
    tie_order: np.ndarray,
    epsilon: float,
    draws: np.ndarray,
    out: np.ndarray,
) -> None:
    """Epsilon-greedy action of each of ``K`` decisions among its allowed actions.

    Args:
        values: Q-values; decision ``k`` reads row ``rows[k]``.
        rows: ``[K]`` row of each decision.
        masks: ``[K, A]`` allowed actions.
        current: ``[K]`` green shown now (picks the row of ``tie_order``).
        tie_order: ``[A, A]`` rank of each action among equal values, per current green.
        epsilon: probability of exploring.
        draws: ``[K, A + 1]`` uniforms in [0, 1): the first ``A`` pick the random allowed
            action (the largest draw among allowed ones), the last decides to explore.
        out: ``[K]`` chosen actions (the current green where no action is allowed).
    """
    count, num_actions = masks.shape
    for k in range(count):
        if draws[k, num_actions] < epsilon:
            best, choice = -1.0, 0
            for a in range(num_actions):
                if masks[k, a] and draws[k, a] > best:
                    best, choice = draws[k, a], a
            out[k] = choice
            continue
        row, order = rows[k], tie_order[current[k]]
        best_value, best_rank, choice = -np.inf, num_actions, current[k]  # nothing allowed: keep the green
        for a in range(num_actions):
            if not masks[k, a]:
                continue
            value = values[row, a]
            if value > best_value or (value == best_value and order[a] < best_rank):
                best_value, best_rank, choice = value, order[a], a
        out[k] = choice


@njit(cache=True, nogil=True)
def learn(
    q: np.ndarray,
    state_rows: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_obs: np.ndarray,
    hashing: tuple,
    next_masks: np.ndarray,
    discounts: np.ndarray,
    alpha: float,
    next_rows: np.ndarray,
) -> None:
    """A training step in one call: :func:`rows` of ``next_obs``, then :func:`update`.

    Every per-transition argument is ``[B, N]`` (``next_masks`` ``[B, N, A]``, ``next_obs``
    ``[B, N, D]``); the ``B x N`` transitions are applied in ``b * N + n`` order. Separate
    tight loops (hash, read the next states' values, write) rather than one: a loop of table
    reads alone keeps many reads in flight.
    """
    rows(next_obs, hashing, next_rows)
    count = next_rows.size
    update(
        q,
        np.ascontiguousarray(state_rows).reshape(count),
        np.ascontiguousarray(actions).reshape(count),
        np.ascontiguousarray(rewards).reshape(count),
        np.ascontiguousarray(next_rows).reshape(count),
        np.ascontiguousarray(next_masks).reshape((count, next_masks.shape[2])),
        np.ascontiguousarray(discounts).reshape(count),
        alpha,
    )
