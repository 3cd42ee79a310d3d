"""Our torch batched Q-learners: every signal of every parallel simulation updated at once.

``batched-q`` with ``mode: tabular`` (:class:`TabularBatchedQ`, a hashed Q-table) or
``mode: neural`` (:class:`NeuralBatchedQ`, batched Q-networks); ``BatchedQ(mode=...)``
builds either (see :mod:`.learner`).
"""

from traffic_lam.controllers.batched_q.learner import BatchedQ, BatchedQConfig
from traffic_lam.controllers.batched_q.neural import NeuralBatchedQ, NeuralConfig
from traffic_lam.controllers.batched_q.tabular import TabularBatchedQ, TabularConfig

__all__ = ["BatchedQ", "BatchedQConfig", "NeuralBatchedQ", "NeuralConfig", "TabularBatchedQ", "TabularConfig"]
