"""Our torch batched Q-learner: every signal of every parallel simulation updated at once."""

from traffic_lam.controllers.batched_q.controller import BatchedQ

__all__ = ["BatchedQ"]
