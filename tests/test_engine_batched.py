"""What the engine computes for all signals at once equals the per-signal computation, on real runs."""

import numpy as np
import pytest

import traffic_lam
from traffic_lam.env.observations import DefaultObservation


@pytest.mark.parametrize("network", ["single-intersection", "grid2x2", "arterial4x4"])
def test_batched_default_observation_equals_per_signal(network):
    env = traffic_lam.make_env(network, end_time=300, backend="traci")
    per_signal = DefaultObservation()
    rng = np.random.default_rng(3)
    try:
        obs, infos = env.reset(seed=5)
        checked, traffic = 0, False
        while env.agents:
            signals = env._engine.signals
            for sid, signal in signals.items():
                expected = per_signal(signal)
                assert obs[sid].dtype == expected.dtype and obs[sid].shape == expected.shape
                assert np.array_equal(obs[sid], expected), (network, sid, signal.now)
                assert env.observation_space(sid).contains(obs[sid])
                traffic |= bool(obs[sid][signal.num_greens + 1 :].any())
            checked += 1
            actions = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
            obs, _, _, _, infos = env.step(actions)
        assert checked == 60
        assert traffic  # densities and queues were compared while vehicles were there
    finally:
        env.close()


def test_batched_observation_falls_back_for_signals_of_different_sources():
    env = traffic_lam.make_env("grid2x2", end_time=50)
    signals = {sid: traffic_lam.signals.TrafficSignal(layout, env.config.timing) for sid, layout in env.layouts.items()}
    observation = DefaultObservation()
    batched = observation.observe_all(signals)  # fresh signals: each has its own empty measurements
    assert set(batched) == set(signals)
    for sid, signal in signals.items():
        assert np.array_equal(batched[sid], observation(signal))
    env.close()


@pytest.mark.parametrize("network", ["single-intersection", "arterial4x4"])
def test_batched_info_totals_equal_per_signal(network):
    env = traffic_lam.make_env(network, end_time=300, backend="traci")
    rng = np.random.default_rng(4)
    try:
        _, infos = env.reset(seed=6)
        waited = False
        while env.agents:
            signals = env._engine.signals
            for sid, signal in signals.items():
                assert infos[sid]["queue"] == signal.queue()
                assert infos[sid]["waiting_time"] == signal.waiting_time()
                waited |= infos[sid]["waiting_time"] > 0
            system = next(iter(infos.values()))["system"]
            assert system["halting"] == float(sum(s.queue() for s in signals.values()))
            actions = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
            _, _, _, _, infos = env.step(actions)
        assert waited
    finally:
        env.close()


def test_subclass_overriding_call_is_observed_through_its_own_call():
    class Doubled(DefaultObservation):
        def __call__(self, signal):
            return super().__call__(signal) * 2

    env = traffic_lam.make_env("grid2x2", end_time=50, observation=Doubled, backend="traci")
    try:
        obs, _ = env.reset(seed=1)
        obs, *_ = env.step({a: 0 for a in env.agents})
        for sid, signal in env._engine.signals.items():
            assert np.array_equal(obs[sid], DefaultObservation()(signal) * 2)
    finally:
        env.close()
