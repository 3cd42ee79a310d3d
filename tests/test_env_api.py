"""The PettingZoo / Gymnasium contract, checked with their own test functions."""

import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test, parallel_seed_test

import traffic_lam
from tests.conftest import SHORT
from traffic_lam.sim.network import RESCO_MAPS

BUNDLED = ["single-intersection", "grid2x2", "grid4x4", "arterial4x4"]
RESCO = [f"resco:{name}" for name in RESCO_MAPS]
# 300 simulated seconds per episode keep every map fast enough for CI (~10 s for all of them)


def _api(network: str) -> None:
    env = traffic_lam.make_env(network, **_short(network))
    try:
        parallel_api_test(env, num_cycles=200)
    finally:
        env.close()


def _short(network: str) -> dict:
    from traffic_lam.sim.network import resolve_network

    begin = resolve_network(network).begin or 0
    return {"begin_time": begin, "end_time": begin + SHORT["end_time"]}


@pytest.mark.parametrize("network", BUNDLED + RESCO)
def test_parallel_api(network):
    _api(network)


@pytest.mark.parametrize("network", BUNDLED + RESCO)
def test_parallel_seed(network):
    # two environments in one process: the second runs its libsumo simulation in a worker
    parallel_seed_test(lambda: traffic_lam.make_env(network, **_short(network)), num_cycles=100)


def test_single_agent_view_passes_check_env():
    env = traffic_lam.make_gym_env("single-intersection", end_time=120)
    try:
        check_env(env, skip_render_check=True)
        obs, info = env.reset(seed=3)
        assert env.observation_space.contains(obs)
        assert info["action_mask"].sum() >= 1
    finally:
        env.close()


def test_single_agent_view_needs_one_signal():
    from traffic_lam.errors import ConfigError

    with pytest.raises(ConfigError, match="has 4 controlled signals"):
        traffic_lam.make_gym_env("grid2x2")
    one = traffic_lam.make_env("grid2x2").possible_agents[0]
    env = traffic_lam.make_gym_env("grid2x2", signals=[one], end_time=60)
    try:
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
    finally:
        env.close()
