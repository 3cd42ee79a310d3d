"""Rewards and observations see what the score sees: the detector range upstream of a short approach, the backlog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import traffic_lam
from tests.helpers_networks import FEEDER, SHORT_APPROACH, short_approach_network
from traffic_lam.env.rewards import make_reward
from traffic_lam.errors import ConfigError

HOLD_CROSS = {"C": 0}
"""Signal C's green 0 serves the north approach: the west flow queues on the feeder, then cannot enter."""


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return short_approach_network(tmp_path_factory.mktemp("short-approach"))


def _west_lanes(sim) -> list[str]:
    """The lanes a 200 m detector at C's west stop line covers: the 1 m approach, the feeder and the joint between."""
    return [
        lane
        for lane in sim.lane.getIDList()
        if sim.lane.getEdgeID(lane) in (SHORT_APPROACH, FEEDER) or lane.startswith(":P_")
    ]


def test_queue_reward_and_observation_count_the_feeder_queue_and_the_backlog(network: Path) -> None:
    env = traffic_lam.make_env(network, end_time=400, reward="queue", observation="detector", max_green=1000)
    blind = make_reward({"name": "queue", "args": {"detection_range": None, "backlog": False}})
    try:
        env.reset(seed=0)
        sim, signal = env._engine._sim, env._engine.signals["C"]
        for _ in range(12):
            observations, rewards, *_ = env.step(HOLD_CROSS)
        west = sum(sim.lane.getLastStepHaltingNumber(lane) for lane in _west_lanes(sim))
        north = sim.lane.getLastStepHaltingNumber("north_0")
        pending = len(sim.simulation.getPendingVehicles())
        assert sim.lane.getLastStepHaltingNumber(f"{FEEDER}_0") > 0 and pending > 0
        assert rewards["C"] == -(west + north + pending)
        assert blind(signal) == -(north + sim.lane.getLastStepHaltingNumber(f"{SHORT_APPROACH}_0"))
        # observation: [green (2), min green (1), vehicles in range (2 lanes), halting in range, backlog]
        obs, short = observations["C"], signal.layout.in_lanes.index(f"{SHORT_APPROACH}_0")
        scale = 7.5 / 200.0
        assert obs[3 + 2 + short] == pytest.approx(min(1.0, west * scale))
        assert obs[-1] == pytest.approx(min(1.0, pending * scale))
        assert signal.lanes.backlog == pending
    finally:
        env.close()


def test_delay_reward_equals_the_time_loss_recomputed_from_sumo(network: Path) -> None:
    """Scripted episode: time loss accrued in range (SUMO's timeLoss) + the backlog's entry delay, per decision."""
    env = traffic_lam.make_env(network, end_time=400, reward="delay", max_green=1000)
    delta = env.config.timing.delta_time
    try:
        env.reset(seed=0)
        sim = env._engine._sim
        before = {v: sim.vehicle.getTimeLoss(v) for v in sim.vehicle.getIDList()}
        total, step = 0.0, 0
        while env.agents:
            _, rewards, *_ = env.step({"C": (step // 6) % 2})  # 30 s of each green
            step += 1
            now = {v: sim.vehicle.getTimeLoss(v) for v in sim.vehicle.getIDList()}
            in_range = [v for lane in [*_west_lanes(sim), "north_0"] for v in sim.lane.getLastStepVehicleIDs(lane)]
            accrued = sum(now[v] - before.get(v, 0.0) for v in in_range)
            accrued += sum(min(sim.vehicle.getDepartDelay(v), delta) for v in sim.simulation.getPendingVehicles())
            assert -rewards["C"] * delta == pytest.approx(accrued, abs=1e-6)
            total += accrued
            before = now
        assert total > 0
    finally:
        env.close()


def test_detector_rewards_refuse_bad_ranges() -> None:
    with pytest.raises(ConfigError, match="detection_range"):
        make_reward({"name": "queue", "args": {"detection_range": -5}})
    with pytest.raises(ConfigError, match="detection_range"):
        make_reward({"name": "delay", "args": {"detection_range": None}})
    with pytest.raises(ConfigError, match="backlog"):
        make_reward({"name": "pressure", "args": {"backlog": "yes"}})
    assert np.isfinite(make_reward("diff-waiting-time").detection_range)
