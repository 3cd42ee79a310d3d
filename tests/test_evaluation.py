"""evaluate() and the classic controllers on real SUMO runs (small bundled networks)."""

import json
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import traffic_lam
from traffic_lam.controllers import CONTROLLERS, Controller, FixedTime, Greedy, MaxPressure, make_controller
from traffic_lam.errors import ConfigError, ControllerError, TrafficLamError
from traffic_lam.sim.network import resolve_network


class KeepFirst(Controller):
    """Always asks for green 0 (starves the other approaches when max green is off)."""

    name = "keep-first"

    def _act(self, observations, infos):
        return dict.fromkeys(observations, 0)


class FailsAtStep3(Controller):
    name = "fails"

    def _act(self, observations, infos):
        if self.steps >= 3:
            raise RuntimeError("controller crashed")
        return dict.fromkeys(observations, 0)


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


@pytest.fixture(autouse=True)
def _quiet_yellow_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def test_delay_recomputed_from_sumo_tripinfo_equals_the_record(tmp_path):
    """RESCO delay, recomputed independently from SUMO's tripinfo XML and the route file."""
    end = 600.0
    (record,) = traffic_lam.evaluate(
        "single-intersection", KeepFirst, seed=3, out_dir=tmp_path, end_time=end, max_green=100000
    )
    trips = [t.attrib for t in ET.parse(record.tripinfo_file).getroot().iter("tripinfo")]
    assert Path(record.tripinfo_file).parent == tmp_path
    # 1. straight from the file: mean of timeLoss + departDelay over every vehicle written
    delay = np.mean([float(t["timeLoss"]) + float(t["departDelay"]) for t in trips])
    assert record.avg_delay == pytest.approx(delay, rel=1e-12)
    # 2. RESCO's own way: departed vehicles from the tripinfo, never-inserted ones from the
    #    route file, counted end - scheduled depart
    spec = resolve_network("single-intersection")
    scheduled = {
        v.get("id"): float(v.get("depart"))
        for route_file in spec.route_files
        for v in ET.parse(route_file).getroot().iter("vehicle")
    }
    departed = [t for t in trips if float(t["depart"]) >= 0]
    never = [vid for vid, depart in scheduled.items() if depart < end and vid not in {t["id"] for t in departed}]
    total = sum(float(t["timeLoss"]) + float(t["departDelay"]) for t in departed)
    total += sum(end - scheduled[vid] for vid in never)
    assert record.avg_delay == pytest.approx(total / (len(departed) + len(never)), rel=1e-9)
    assert record.vehicles_not_inserted == len(never) > 50
    assert record.vehicles_inserted == len(departed)
    assert record.vehicles_arrived + record.vehicles_running == record.vehicles_inserted
    assert record.throughput_per_h == pytest.approx(record.vehicles_arrived * 3600 / end)
    travel = np.mean([float(t["duration"]) + float(t["departDelay"]) for t in trips])
    assert record.avg_travel_time == pytest.approx(travel)


def test_every_controller_runs_and_respects_the_mask(tmp_path):
    seen = set()
    for name, cls in CONTROLLERS.items():
        controller = make_controller(name)
        assert isinstance(controller, cls) and not controller.needs_training
        env = traffic_lam.make_env("grid2x2", end_time=300, **controller.env_options())
        try:
            controller.setup(env)
            obs, infos = env.reset(seed=1)
            controller.reset()
            while env.agents:
                actions = controller.act(obs, infos)
                if controller.control == "program":
                    assert actions == {}
                else:
                    assert set(actions) == set(env.agents)
                    assert all(infos[a]["action_mask"][actions[a]] for a in actions)
                    seen.update(actions.values())
                obs, _, _, _, infos = env.step(actions)
                assert not any(info["corrected"] for info in infos.values())
        finally:
            env.close()
    assert seen == {0, 1}  # the agent controllers really switch


@pytest.mark.parametrize("network", ["grid2x2", "grid4x4"])
def test_max_pressure_and_greedy_beat_fixed_time_on_the_bundled_grids(network):
    """Measured on SUMO 1.28 (seeds 0-3, 900 s): fixed ~51/58 s, max-pressure ~26/30 s, greedy ~25/28 s."""
    delays = {
        c: np.mean([r.avg_delay for r in traffic_lam.evaluate(network, c, episodes=2, seed=0, end_time=900)])
        for c in ("fixed-time", "max-pressure", "greedy")
    }
    assert delays["max-pressure"] < 0.8 * delays["fixed-time"]
    assert delays["greedy"] < 0.8 * delays["fixed-time"]


def _tls_log(tmp_path, sid):
    add = tmp_path / "tls.add.xml"
    out = tmp_path / "tls-states.xml"
    add.write_text(f'<additional><timedEvent type="SaveTLSStates" source="{sid}" dest="{out}"/></additional>')
    return add, out


def _changes(out):
    states = [(float(e.get("time")), e.get("state")) for e in ET.parse(out).getroot().iter("tlsState")]
    return [(t, s) for i, (t, s) in enumerate(states) if i == 0 or states[i - 1][1] != s]


def test_program_control_leaves_sumos_fixed_time_program_running(tmp_path):
    env = traffic_lam.make_env("single-intersection", end_time=200, control="program")
    sid = env.possible_agents[0]
    layout = env.layouts[sid]
    env.close()
    add, out = _tls_log(tmp_path, sid)
    env = traffic_lam.make_env(
        "single-intersection", end_time=200, control="program", sumo_options=["--additional-files", str(add)]
    )
    phases = []
    try:
        env.reset(seed=0)
        while env.agents:
            _, _, _, _, infos = env.step({sid: 1})  # ignored under program control
            phases.append((infos[sid]["system"]["time"], infos[sid]["phase"]))
    finally:
        env.close()
    changes = _changes(out)
    # exactly the program: its states in order, each for its own duration
    starts = np.cumsum((0.0, *layout.program_durations))
    expected = [(starts[i % 8] + (i // 8) * starts[-1], layout.program_states[i % 8]) for i in range(len(changes))]
    assert changes == expected
    # infos["phase"] reports the green the program shows (kept through its yellow)
    green_at = {}
    for t, state in changes:
        if state in layout.greens:
            green_at[t] = layout.greens.index(state)
    for t, phase in phases:
        last = max(s for s in green_at if s <= t - 1)  # state shown during the last step
        assert phase == green_at[last]


def test_actuated_runs_sumos_actuated_program_on_the_networks_own_phases(tmp_path):
    add, out = _tls_log(tmp_path, "A0")
    (record,) = traffic_lam.evaluate(
        "single-intersection",
        "actuated",
        out_dir=tmp_path / "run",
        end_time=600,
        sumo_options=["--additional-files", str(add)],  # merged with the actuated programs
    )
    program = (tmp_path / "run" / "actuated.add.xml").read_text()
    assert 'type="actuated"' in program and 'minDur="5" maxDur="50"' in program
    env = traffic_lam.make_env("single-intersection", end_time=600)
    layout = env.layouts["A0"]
    env.close()
    changes = _changes(out)
    assert {s for _, s in changes} <= set(layout.program_states)
    greens = [(changes[i + 1][0] - t) for i, (t, s) in enumerate(changes[:-1]) if s in layout.greens and "y" not in s]
    assert all(5 <= g <= 50 for g in greens)
    assert len(set(greens)) > 2  # green times adapt to traffic (the static program always shows 33 s / 6 s)
    assert record.control == "program" and record.vehicles_arrived > 0


def test_ssm_switch_counts_conflicts_near_the_controlled_junctions(tmp_path):
    (off,) = traffic_lam.evaluate("grid2x2", "greedy", out_dir=tmp_path, end_time=300)
    assert off.ssm_ttc is None and off.ssm_drac is None and off.ssm_pet is None
    (on,) = traffic_lam.evaluate("grid2x2", "greedy", out_dir=tmp_path, end_time=300, ssm=True)
    assert min(on.ssm_ttc, on.ssm_drac, on.ssm_pet) >= 0 and on.ssm_ttc + on.ssm_drac > 0
    edges = (tmp_path / "ssm-edges.txt").read_text().split()
    assert "edge::A0_0" in edges and "edge:A0A1" in edges
    assert not any(e.startswith("edge:top") and e.endswith("A0") is False for e in edges if "bottom" in e)
    assert (tmp_path / "greedy-grid2x2-seed0.ssm.xml").is_file()
    assert on.avg_delay == off.avg_delay  # the device only observes


def test_records_csv_and_files_in_the_run_folder(tmp_path):
    records = traffic_lam.evaluate("grid2x2", "max-pressure", episodes=2, seed=5, out_dir=tmp_path, end_time=120)
    assert [(r.seed, r.episode) for r in records] == [(5, 0), (6, 1)]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"max-pressure-grid2x2-seed5.tripinfo.xml", "max-pressure-grid2x2-seed6.statistics.xml"} <= names
    assert "max-pressure-grid2x2.csv" in names and not any(n.endswith(".part") for n in names)
    lines = (tmp_path / "max-pressure-grid2x2.csv").read_text().splitlines()
    assert lines[0].split(",")[:4] == ["controller", "network", "seed", "episode"] and len(lines) == 3
    assert records[0].sumo_version.startswith("1.")
    (temp,) = traffic_lam.evaluate("grid2x2", "max-pressure", end_time=60)
    assert temp.tripinfo_file is None


def test_controller_save_load_round_trip(tmp_path):
    greedy = Greedy(detection_range=50)
    path = greedy.save(tmp_path / "models" / "greedy.json")
    assert json.loads(path.read_text())["params"] == {"detection_range": 50}
    again = Greedy.load(path)
    assert again.params == greedy.params and again._observation.detection_range == 50
    with pytest.raises(ControllerError, match="holds controller 'greedy', not 'max-pressure'"):
        MaxPressure.load(path)
    assert FixedTime.load(FixedTime().save(tmp_path / "f.json")).params == {}


@pytest.mark.parametrize(
    "call, error, message",
    [
        (dict(controller="nope"), ControllerError, "unknown controller 'nope': expected one of fixed-time"),
        (dict(controller="greedy", seed="1"), ConfigError, "seed: expected an integer >= 0, got '1'"),
        (dict(controller="greedy", seed=1.5), ConfigError, "seed: expected an integer"),
        (dict(controller="greedy", episodes=0), ConfigError, "episodes: expected an integer >= 1"),
        (dict(controller="greedy", controller_options={"range": 3}), ControllerError, "bad options"),
        (dict(controller="greedy", observation="default"), ConfigError, "reads its own observation"),
        (dict(controller="fixed-time", control="agents"), ConfigError, "needs control='program'"),
        (dict(controller="greedy", sumo_options=["--tripinfo-output", "x.xml"]), ConfigError, "set by evaluate"),
    ],
)
def test_bad_input_is_one_clear_line_and_leaves_earlier_results_untouched(tmp_path, call, error, message):
    traffic_lam.evaluate("single-intersection", "greedy", out_dir=tmp_path, end_time=30)
    before = snapshot(tmp_path)
    controller = call.pop("controller")
    with pytest.raises(error, match=message) as info:
        traffic_lam.evaluate("single-intersection", controller, out_dir=tmp_path, end_time=30, **call)
    assert "\n" not in str(info.value)
    assert snapshot(tmp_path) == before


def test_fixed_time_refuses_lights_without_a_static_program(tmp_path):
    spec = resolve_network("single-intersection")
    net = tmp_path / "actuated.net.xml"
    net.write_text(spec.net_file.read_text().replace('type="static"', 'type="actuated"'))
    with pytest.raises(ControllerError, match=r"runs a 'actuated' program .* not a fixed-time one") as info:
        traffic_lam.evaluate(net, "fixed-time", route_file=spec.route_files, out_dir=tmp_path / "out")
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()
    assert traffic_lam.evaluate(net, "actuated", route_file=spec.route_files, end_time=60)[0].control == "program"
    bare = tmp_path / "bare.net.xml"
    text = spec.net_file.read_text()
    bare.write_text(text[: text.index("<tlLogic")] + text[text.index("</tlLogic>") + len("</tlLogic>") :])
    with pytest.raises(TrafficLamError, match=r"can be controlled \(e\.g\. traffic light 'A0': no signal program"):
        traffic_lam.evaluate(bare, "fixed-time", route_file=spec.route_files)


def test_unwritable_out_dir_and_failures_mid_run_leave_earlier_results_untouched(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"out_dir .*a-file/run: cannot write there") as info:
        traffic_lam.evaluate("single-intersection", "greedy", out_dir=blocker / "run", end_time=30)
    assert "\n" not in str(info.value)
    run = tmp_path / "run"
    traffic_lam.evaluate("single-intersection", KeepFirst, out_dir=run, end_time=60, label="same")
    before = snapshot(run)
    with pytest.raises(RuntimeError, match="controller crashed"):
        traffic_lam.evaluate("single-intersection", FailsAtStep3, out_dir=run, end_time=60, label="same")
    assert snapshot(run) == before  # no half-written tripinfo, no overwritten CSV, no .part left


def test_command_line_errors_are_one_line_with_exit_code_2(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "SUMO_HOME"}
    for args, message in [
        (["--controller", "nope"], "unknown controller 'nope'"),
        (["--seed", "x"], "seed: expected an integer, got 'x'"),
        (["--out", str(tmp_path / "f" / "x")], "cannot write there"),
    ]:
        if "--out" in args:
            (tmp_path / "f").write_text("")
        result = subprocess.run(
            [sys.executable, "-m", "traffic_lam.evaluation", "single-intersection", "--end", "30", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "traffic_lam.evaluation",
            "single-intersection",
            "--end",
            "60",
            "--controller",
            "greedy",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0 and ok.stdout.startswith("controller,network,seed")


def test_near_lane_counts_and_resco_protocol():
    env = traffic_lam.make_env("grid2x2", end_time=200, observation="wave")
    try:
        env.reset(seed=0)
        for _ in range(30):
            env.step({a: 0 for a in env.agents})
        signal = env._engine.signals["A0"]
        everything = signal.lanes.in_vehicles
        assert np.array_equal(signal.lanes.in_vehicles_near(10_000), everything)
        near = signal.lanes.in_vehicles_near(20)
        assert np.all(near <= everything) and near.sum() < everything.sum()
        assert np.all(signal.lanes.in_halting_near(20) <= near)
    finally:
        env.close()
    assert traffic_lam.resco_protocol("resco:grid4x4")["delta_time"] == 10
    assert traffic_lam.resco_protocol("resco:arterial4x4")[("yellow_time")] == 2


def test_detector_range_reaches_upstream_of_a_short_approach():
    """RESCO ingolstadt7: gneJ143's approach 10425609#1 is 0.9 m long; its queue stands upstream."""
    env = traffic_lam.make_env("resco:ingolstadt7", end_time=58200, observation="wave", max_green=100000)
    try:
        env.reset(seed=0)
        engine = env._engine
        signal = engine.signals["gneJ143"]
        k = engine._lanes.index("10425609#1_1")
        pieces = dict(engine.detectors.upstream_pieces(200.0)[k])
        assert {"10425609#0_1", ":1195228772_0_0"} <= set(pieces)
        assert pieces["10425609#0_1"] <= 0  # the whole 43.6 m feeder lane is within 200 m
        feeder = 0
        while env.agents and feeder == 0:
            env.step(dict.fromkeys(env.agents, 0))  # gneJ143 green 0 keeps 10425609#1 red
            feeder = engine._sim.lane.getLastStepVehicleNumber("10425609#0_1")
        position = signal.layout.in_lanes.index("10425609#1_1")
        assert feeder > 0
        assert signal.lanes.in_vehicles_near(200)[position] >= feeder > signal.lanes.in_vehicles[position]
    finally:
        env.close()


def test_best_allowed_respects_the_mask_and_rotates_positive_ties():
    from traffic_lam.controllers import best_allowed

    values = np.array([3.0, 5.0, 5.0])
    assert best_allowed(values, np.array([1, 0, 1]), current=0) == 2  # masked best skipped
    assert best_allowed(values, np.array([1, 0, 0]), current=0) == 0  # min green: only current
    assert best_allowed(np.zeros(3), np.ones(3), current=1) == 1  # nothing waiting: stay
    # two greens serving the same lanes always tie: the one shown least recently wins
    last = np.array([0.0, 50.0, 20.0])
    assert best_allowed(values, np.ones(3), current=1, last_shown=last) == 2
    assert best_allowed(values, np.ones(3), current=1) == 1  # without memory: keep current
