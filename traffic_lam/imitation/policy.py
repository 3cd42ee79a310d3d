"""Behaviour cloning: a masked MLP policy shared by every signal, fitted to an expert's actions.

:class:`ClonePolicy` reads ``[observation (padded, standardised), one-hot signal id]`` and
gives one logit per green (padded to the largest signal); invalid greens are masked out, so
acting is the argmax over the allowed ones. :func:`train_clone` fits it with cross-entropy
on a :class:`~traffic_lam.imitation.dataset.DemoDataset` and reports the action accuracy
on the training rows and on held-out episodes (:func:`holdout_rows`). A later learner can
start from the module (``policy.state_dict()``) or from the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from traffic_lam.controllers.threads import seeded_torch
from traffic_lam.errors import ConfigError
from traffic_lam.imitation.dataset import DemoDataset
from traffic_lam.validation import require_int

MASKED = -1e9
"""Logit of a green the mask forbids."""


class ClonePolicy(nn.Module):
    """A two-layer MLP over ``[standardised observation, one-hot signal id]``, masked logits out.

    Args:
        obs_dim: padded observation size.
        n_signals: number of signals (the one-hot id's size).
        n_actions: padded number of greens.
        hidden: width of the two hidden layers.
    """

    def __init__(self, obs_dim: int, n_signals: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.shape = {"obs_dim": obs_dim, "n_signals": n_signals, "n_actions": n_actions, "hidden": hidden}
        self.register_buffer("mean", torch.zeros(obs_dim))
        self.register_buffer("scale", torch.ones(obs_dim))
        self.net = nn.Sequential(
            nn.Linear(obs_dim + n_signals, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_actions),
        )

    def fit_scaling(self, obs: np.ndarray) -> None:
        """Standardise inputs by the mean and spread of ``obs`` (a constant feature keeps scale 1)."""
        values = torch.as_tensor(obs, dtype=torch.float32)
        std = values.std(dim=0, unbiased=False) if len(values) > 1 else torch.ones(values.shape[1])
        self.mean.copy_(values.mean(dim=0) if len(values) else torch.zeros(values.shape[1]))
        self.scale.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, obs: torch.Tensor, signal_index: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, n_actions]``; forbidden greens get :data:`MASKED`."""
        ids = nn.functional.one_hot(signal_index, self.shape["n_signals"]).to(obs.dtype)
        logits = self.net(torch.cat([(obs - self.mean) / self.scale, ids], dim=-1))
        return logits.masked_fill(~masks, MASKED)

    @torch.no_grad()
    def act(self, obs: np.ndarray, signal_index: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """The allowed green with the largest logit, per row."""
        device = self.mean.device
        logits = self(
            torch.as_tensor(obs, dtype=torch.float32, device=device),
            torch.as_tensor(signal_index, dtype=torch.int64, device=device),
            torch.as_tensor(masks, dtype=torch.bool, device=device),
        )
        return logits.argmax(dim=-1).cpu().numpy()


def policy_for(dataset: DemoDataset, hidden: int = 64) -> ClonePolicy:
    """A fresh policy sized for ``dataset``'s signals."""
    return ClonePolicy(dataset.obs.shape[1], len(dataset.signals), dataset.masks.shape[1], hidden)


def holdout_rows(dataset: DemoDataset, episodes: int = 1) -> np.ndarray:
    """Rows of the last ``episodes`` episodes (by number), held out of training; none when that would be all."""
    numbers = np.unique(dataset.episodes)
    if episodes <= 0 or len(numbers) <= episodes:
        return np.zeros(len(dataset), dtype=bool)
    return np.isin(dataset.episodes, numbers[-episodes:])


def accuracy(policy: ClonePolicy, dataset: DemoDataset, rows: np.ndarray | None = None) -> float | None:
    """Fraction of ``rows`` (all by default) where the policy chooses the expert's action (None: no rows)."""
    picked = np.arange(len(dataset)) if rows is None else np.flatnonzero(rows) if rows.dtype == bool else rows
    if len(picked) == 0:
        return None
    chosen = policy.act(dataset.obs[picked], dataset.signal_index[picked], dataset.masks[picked])
    return float(np.mean(chosen == dataset.actions[picked]))


@dataclass
class CloneResult:
    """A fitted policy and how well it imitates.

    Attributes:
        policy: the policy (in eval mode, on the device it was trained on).
        train_accuracy: action accuracy on the training rows.
        holdout_accuracy: on the held-out rows (None when nothing was held out).
        train_rows: rows trained on.
        holdout_rows: rows held out.
        history: per epoch ``{"epoch", "loss", "train_accuracy", "holdout_accuracy"}``.
    """

    policy: ClonePolicy
    train_accuracy: float | None
    holdout_accuracy: float | None
    train_rows: int
    holdout_rows: int
    history: list[dict[str, Any]] = field(default_factory=list)


def _check_fit_settings(*, hidden: Any, epochs: Any, batch_size: Any, lr: Any) -> None:
    """One-line errors for a fit setting out of range."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("hidden", hidden)):
        require_int(name, value, 1)
    if not lr > 0:
        raise ConfigError(f"lr: expected a positive learning rate, got {lr!r}")


def _fit_epoch(
    policy: ClonePolicy,
    optimizer: torch.optim.Optimizer,
    rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    order: torch.Tensor,
    batch_size: int,
) -> float:
    """One pass of cross-entropy steps over ``rows`` (observations, ids, masks, actions) in ``order``; its mean loss."""
    obs, ids, masks, actions = rows
    policy.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        loss = nn.functional.cross_entropy(policy(obs[batch], ids[batch], masks[batch]), actions[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    policy.eval()
    return total / len(order)


def train_clone(
    dataset: DemoDataset,
    *,
    hidden: int = 64,
    epochs: int = 200,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    holdout: np.ndarray | int = 1,
    policy: ClonePolicy | None = None,
    device: str = "cpu",
) -> CloneResult:
    """Fit a :class:`ClonePolicy` to the expert's actions with cross-entropy (Adam, shuffled mini-batches).

    The expert's own action always counts as allowed in the loss (a program's green may
    break the learner's timing rules); accuracy uses the recorded masks.

    Args:
        dataset: the demonstrations.
        hidden: hidden layer width (a new policy).
        epochs: passes over the training rows.
        lr: Adam's learning rate.
        batch_size: rows per gradient step.
        seed: seeds initialisation and shuffling.
        holdout: a bool mask of the rows to hold out, or a number of last episodes (:func:`holdout_rows`).
        policy: continue training this policy instead of a new one (its input scaling is kept).
        device: torch device.

    Raises:
        ConfigError: an empty dataset or a bad setting.
    """
    _check_fit_settings(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr)
    held = holdout_rows(dataset, holdout) if isinstance(holdout, int) else np.asarray(holdout, dtype=bool)
    train = np.flatnonzero(~held)
    if len(train) == 0:
        raise ConfigError(f"{dataset.name}: no rows to train on")
    generator = torch.Generator().manual_seed(seed)
    if policy is None:
        with seeded_torch(seed):
            policy = policy_for(dataset, hidden)
        policy.fit_scaling(dataset.obs[train])
    policy.to(device)
    obs = torch.as_tensor(dataset.obs[train], dtype=torch.float32, device=device)
    ids = torch.as_tensor(dataset.signal_index[train], dtype=torch.int64, device=device)
    actions = torch.as_tensor(dataset.actions[train], dtype=torch.int64, device=device)
    masks = torch.as_tensor(dataset.masks[train], dtype=torch.bool, device=device)
    masks = masks | nn.functional.one_hot(actions, masks.shape[1]).bool()  # the expert's choice is always allowed
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    history: list[dict[str, Any]] = []
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=generator).to(device)
        loss = _fit_epoch(policy, optimizer, (obs, ids, masks, actions), order, batch_size)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": loss,
                "train_accuracy": accuracy(policy, dataset, train),
                "holdout_accuracy": accuracy(policy, dataset, held),
            }
        )
    last = history[-1]
    return CloneResult(policy, last["train_accuracy"], last["holdout_accuracy"], len(train), int(held.sum()), history)
