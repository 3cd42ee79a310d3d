"""The off-policy collection loop shared by the batched learners (and the imitation learners to come).

* :mod:`.loop`: :func:`train` (parallel simulations -> :class:`Transitions` of every signal
  of every simulation -> ``learner.update``), the :class:`OffPolicyLearner` interface it
  drives, :class:`LoopCallback`;
* :mod:`.stacking`: :class:`SignalStacker`, per-signal dicts <-> padded ``[B, N, ...]`` arrays;
* :mod:`.profiling`: :class:`Profiler`, where the loop's time goes (a callback);
* :mod:`.tensorboard_log`: :class:`TensorBoardLog`, the learning curve's scalars in TensorBoard (a callback).
"""

from traffic_lam.controllers.offpolicy.loop import (
    CHECKPOINT,
    CallbackList,
    LoopCallback,
    OffPolicyLearner,
    TrainingPlan,
    Transitions,
    train,
)
from traffic_lam.controllers.offpolicy.profiling import Profiler
from traffic_lam.controllers.offpolicy.stacking import SignalStacker
from traffic_lam.controllers.offpolicy.tensorboard_log import TensorBoardLog

__all__ = [
    "CHECKPOINT",
    "CallbackList",
    "LoopCallback",
    "OffPolicyLearner",
    "Profiler",
    "SignalStacker",
    "TensorBoardLog",
    "TrainingPlan",
    "Transitions",
    "train",
]
