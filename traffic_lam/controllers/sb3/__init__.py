"""Stable-Baselines3 learners (DQN, PPO) with parameter sharing across signals and action masks."""

from traffic_lam.controllers.sb3.config import DQNConfig, PPOConfig, SB3Config
from traffic_lam.controllers.sb3.controller import DQNController, PPOController, SB3Controller

__all__ = ["DQNConfig", "DQNController", "PPOConfig", "PPOController", "SB3Config", "SB3Controller"]
