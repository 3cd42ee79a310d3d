"""Stable-Baselines3 learners (DQN, PPO) with parameter sharing across signals and action masks."""

from traffic_lam.controllers.sb3.controller import DQNController, PPOController, SB3Controller

__all__ = ["DQNController", "PPOController", "SB3Controller"]
