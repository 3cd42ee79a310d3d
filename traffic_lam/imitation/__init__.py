"""Imitation: learn signal control from an expert controller (demonstrations, behaviour cloning, DAgger).

* :func:`record_demos` records an expert (any controller, a signal program, a saved learner)
  on chosen seeds into a :class:`DemoDataset` (Parquet on disk, ``docs/demonstrations.md``);
* :func:`train_clone` fits a :class:`ClonePolicy` (masked MLP shared by every signal) to it;
* :func:`dagger` adds student rollouts labelled by the expert;
* the learners ``bc`` and ``dagger`` (:mod:`traffic_lam.imitation.learners`) wrap them as controllers;
* :class:`WarmStart` (:mod:`traffic_lam.imitation.warm_start`): the ``warm_start`` argument
  of dqn, ppo and batched-q, which fine-tune from an expert's demonstrations.

Importing this package imports torch (the policy).
"""

from traffic_lam.imitation.dagger import DaggerIteration, DaggerResult, dagger, student_of
from traffic_lam.imitation.dataset import (
    FORMAT,
    DemoDataset,
    DemoMetadata,
    describe_observation,
    network_fingerprint,
)
from traffic_lam.imitation.experts import Expert, make_expert
from traffic_lam.imitation.policy import ClonePolicy, CloneResult, accuracy, holdout_rows, policy_for, train_clone
from traffic_lam.imitation.rollout import Recorder, expert_env, record_demos, run_episode
from traffic_lam.imitation.warm_start import DemoSteps, WarmStart, warm_start_demos

__all__ = [
    "FORMAT",
    "ClonePolicy",
    "CloneResult",
    "DaggerIteration",
    "DaggerResult",
    "DemoDataset",
    "DemoMetadata",
    "DemoSteps",
    "Expert",
    "Recorder",
    "WarmStart",
    "accuracy",
    "dagger",
    "describe_observation",
    "expert_env",
    "holdout_rows",
    "make_expert",
    "network_fingerprint",
    "policy_for",
    "record_demos",
    "run_episode",
    "student_of",
    "train_clone",
    "warm_start_demos",
]
