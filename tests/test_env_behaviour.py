"""Real SUMO runs: seeding, signal transitions as SUMO saw them, counters, workers, backends."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import traffic_lam
from traffic_lam.errors import ConfigError


def run_episode(env, seed, policy_seed=0, steps=None):
    """Play a seeded random masked policy; return the list of (obs, rewards, infos) per step."""
    rng = np.random.default_rng(policy_seed)
    obs, infos = env.reset(seed=seed)
    trace = []
    n = 0
    while env.agents and (steps is None or n < steps):
        actions = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
        obs, rewards, _, _, infos = env.step(actions)
        trace.append((obs, rewards, infos))
        n += 1
    return trace


def same(trace_a, trace_b):
    for (oa, ra, ia), (ob, rb, ib) in zip(trace_a, trace_b, strict=True):
        if ra != rb or any(not np.array_equal(oa[k], ob[k]) for k in oa):
            return False
        if ia[next(iter(ia))]["system"] != ib[next(iter(ib))]["system"]:
            return False
    return True


def test_same_seed_same_trajectory_different_seed_differs():
    env = traffic_lam.make_env("grid2x2", end_time=400)
    try:
        a = run_episode(env, seed=7)
        b = run_episode(env, seed=7)
        c = run_episode(env, seed=8)
    finally:
        env.close()
    assert len(a) == 80
    assert same(a, b)
    assert not same(a, c)


def test_reset_without_seed_follows_the_last_seed():
    env = traffic_lam.make_env("single-intersection", end_time=60)
    try:

        def next_seeds():
            seeds = []
            for _ in range(2):
                env.reset()
                seeds.append(env.last_seed)
            return seeds

        env.reset(seed=5)
        first = next_seeds()
        env.reset(seed=5)
        second = next_seeds()
    finally:
        env.close()
    assert first == second and first[0] != first[1]


def test_second_env_in_one_process_runs_in_a_worker_and_does_not_corrupt_the_first():
    a = traffic_lam.make_env("grid2x2", end_time=300)
    b = traffic_lam.make_env("grid2x2", end_time=300)
    try:
        a.reset(seed=1)
        assert not a.runs_in_worker
        b.reset(seed=1)
        assert b.runs_in_worker
        # interleave both: identical seeds and actions give identical trajectories
        rng = np.random.default_rng(0)
        infos_a = infos_b = None
        for _ in range(40):
            actions = {agent: int(rng.integers(a.action_space(agent).n)) for agent in a.agents}
            oa, ra, *_, infos_a = a.step(actions)
            ob, rb, *_, infos_b = b.step(actions)
            assert ra == rb
            assert all(np.array_equal(oa[k], ob[k]) for k in oa)
        assert infos_a[a.possible_agents[0]]["system"] == infos_b[b.possible_agents[0]]["system"]
    finally:
        a.close()
        b.close()


def test_traci_backend_matches_libsumo():
    lib = traffic_lam.make_env("single-intersection", end_time=200)
    tra = traffic_lam.make_env("single-intersection", end_time=200, backend="traci")
    try:
        assert same(run_episode(lib, seed=3), run_episode(tra, seed=3))
    finally:
        lib.close()
        tra.close()


def test_vector_env_steps_several_simulations_and_autoresets():
    with traffic_lam.make_vector_env("single-intersection", num_envs=2, end_time=30) as venv:
        obs, infos = venv.reset(seed=10)
        assert len(obs) == 2
        agent = venv.possible_agents[0]
        dones = []
        for _ in range(6):
            obs, _rewards, done, infos = venv.step([{agent: 1}, {agent: 1}])
            dones.append(done)
        assert dones[5] == [True, True]  # 6 decisions of 5 s = 30 s
        assert "final_observation" in infos[0][agent]
        assert venv.observation_spaces[agent].contains(obs[0][agent])


def test_transitions_as_sumo_recorded_them(tmp_path):
    """SUMO's own TLS state output shows yellow for exactly yellow_time s, then the new green."""
    env = traffic_lam.make_env(
        "single-intersection", end_time=60, yellow_time=3, all_red_time=1, delta_time=10, min_green=5
    )
    sid = env.possible_agents[0]
    layout = env.layouts[sid]
    add = tmp_path / "tls.add.xml"
    out = tmp_path / "tls-states.xml"
    add.write_text(f'<additional><timedEvent type="SaveTLSStates" source="{sid}" dest="{out}"/></additional>')
    env.close()
    env = traffic_lam.make_env(
        "single-intersection",
        end_time=60,
        yellow_time=3,
        all_red_time=1,
        delta_time=10,
        min_green=5,
        sumo_options=["--additional-files", str(add)],
    )
    try:
        env.reset(seed=0)
        env.step({sid: 0})  # t=0..10 keep green 0
        env.step({sid: 1})  # t=10: yellow 10-13, all-red 13-14, green 1 from 14
    finally:
        env.close()
    states = [(float(e.get("time")), e.get("state")) for e in ET.parse(out).getroot().iter("tlsState")]
    changes = [(t, s) for i, (t, s) in enumerate(states) if i == 0 or states[i - 1][1] != s]
    green0, green1 = layout.greens[0], layout.greens[1]
    assert changes[0][1] == green0
    assert [t for t, _ in changes[1:4]] == [10.0, 13.0, 14.0]
    assert "y" in changes[1][1] and set(changes[2][1]) <= {"r", "G", "g", "O"} and changes[3][1] == green1


def test_counters_match_sumo_tripinfo(tmp_path):
    """Arrivals summed every SUMO step equal the trips SUMO itself wrote."""
    trips = tmp_path / "tripinfo.xml"
    env = traffic_lam.make_env("grid2x2", end_time=600, sumo_options=["--tripinfo-output", str(trips)])
    try:
        trace = run_episode(env, seed=2)
    finally:
        env.close()
    system = trace[-1][2][env.possible_agents[0]]["system"]
    arrived = len(list(ET.parse(trips).getroot().iter("tripinfo")))
    assert system["arrived"] == arrived > 0
    assert sum(t[2][env.possible_agents[0]]["system"]["step_arrived"] for t in trace) == arrived
    assert system["departed"] >= arrived
    assert system["time"] == 600


def test_rewards_and_observations_registry():
    for reward in ("diff-waiting-time", "queue", "pressure", "average-speed"):
        env = traffic_lam.make_env("single-intersection", end_time=60, reward=reward, observation="pressure")
        try:
            trace = run_episode(env, seed=1)
            sid = env.possible_agents[0]
            assert all(np.isfinite(t[1][sid]) for t in trace)
            assert env.observation_space(sid).contains(trace[-1][0][sid])
        finally:
            env.close()


def test_user_reward_function_and_observation_class():
    from gymnasium import spaces

    class QueueOnly:
        def space(self, signal):
            return spaces.Box(0, np.inf, shape=(1,), dtype=np.float32)

        def __call__(self, signal):
            return np.array([signal.queue()], dtype=np.float32)

    env = traffic_lam.make_env(
        "single-intersection", end_time=120, observation=QueueOnly, reward=lambda signal: -signal.queue()
    )
    try:
        trace = run_episode(env, seed=1)
        sid = env.possible_agents[0]
        assert trace[-1][1][sid] == -trace[-1][0][sid][0] == -trace[-1][2][sid]["queue"]
    finally:
        env.close()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"observation": "nope"}, "unknown observation 'nope'"),
        ({"reward": "nope"}, "unknown reward 'nope'"),
        ({"backend": "carla"}, "backend"),
        ({"yellow_time": 6}, "shorter than delta_time"),
        ({"begin_time": 100, "end_time": 50}, "end_time"),
        ({"signals": ["missing"]}, "no traffic light 'missing'"),
    ],
)
def test_bad_options_give_one_clear_error(options, message):
    with pytest.raises(traffic_lam.TrafficLamError, match=message):
        traffic_lam.make_env("single-intersection", **options)


def test_bad_seed_is_refused():
    env = traffic_lam.make_env("single-intersection", end_time=60)
    try:
        with pytest.raises(ConfigError, match="seed: expected an integer"):
            env.reset(seed="1")
        with pytest.raises(ConfigError, match="SUMO's range"):
            env.reset(seed=-1)
    finally:
        env.close()


def test_counter_ids_match_traci_constants():
    import traci.constants as tc

    from traffic_lam.env.engine import COUNTERS

    assert COUNTERS == {
        "departed": tc.VAR_DEPARTED_VEHICLES_NUMBER,
        "arrived": tc.VAR_ARRIVED_VEHICLES_NUMBER,
        "teleports": tc.VAR_TELEPORT_STARTING_VEHICLES_NUMBER,
        "colliding_vehicles": tc.VAR_COLLIDING_VEHICLES_NUMBER,
        "emergency_stops": tc.VAR_EMERGENCYSTOPPING_VEHICLES_NUMBER,
    }


def test_runs_without_sumo_home_and_import_has_no_side_effects():
    code = (
        "import sys, traffic_lam\n"
        "assert 'libsumo' not in sys.modules and 'sumolib' not in sys.modules and 'traci' not in sys.modules\n"
        "env = traffic_lam.make_env('single-intersection', end_time=30)\n"
        "obs, infos = env.reset(seed=0)\n"
        "while env.agents:\n"
        "    env.step({a: 0 for a in env.agents})\n"
        "env.close()\n"
        "print('ok')\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "SUMO_HOME"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_vector_env_reports_the_delay_of_each_finished_episode(tmp_path):
    options = {"end_time": 60, "yellow_time": 3, "all_red_time": 2, "delta_time": 10}
    with traffic_lam.make_vector_env("single-intersection", 2, trip_dir=tmp_path, **options) as venv:
        venv.reset(seed=1)
        agent = venv.possible_agents[0]
        summaries = []
        for _ in range(12):  # two episodes of 6 decisions in each simulation
            _, _, done, infos = venv.step([{agent: 0}, {agent: 1}])
            summaries += [infos[i][agent]["episode"] for i in range(2) if done[i]]
    assert len(summaries) == 4
    assert all(s["avg_delay"] >= 0 and s["vehicles"] > 0 for s in summaries)
    assert summaries[0] != summaries[1]  # different actions, different delays
    assert len(list(tmp_path.iterdir())) == 2  # finished episodes' files are read and removed


def test_diff_waiting_time_uses_accumulated_waiting_as_sumo_rl():
    env = traffic_lam.make_env("single-intersection", end_time=300, delta_time=10, yellow_time=3, all_red_time=2)
    try:
        env.reset(seed=4)
        engine = env._engine
        sid = env.possible_agents[0]
        signal, sim = engine.signals[sid], engine._sim
        previous = 0.0
        for _ in range(20):
            _, rewards, _, _, _ = env.step({sid: 0})  # hold one green: queues build on the others
            expected = sum(
                sim.vehicle.getAccumulatedWaitingTime(v)
                for lane in signal.layout.in_lanes
                for v in sim.lane.getLastStepVehicleIDs(lane)
            )
            assert signal.accumulated_waiting_time() == pytest.approx(expected)
            assert signal.accumulated_waiting_time() >= signal.waiting_time()
            assert rewards[sid] == pytest.approx((previous - expected) / 100.0)
            previous = expected
    finally:
        env.close()
