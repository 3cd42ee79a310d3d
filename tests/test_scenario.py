from pathlib import Path

import pytest

from traffic_lam.experiments.scenario import ScenarioError, load_scenario

GOOD = """
name: demo
network: single-intersection
timing: {delta_time: 10, yellow_time: 3, min_green: 5, max_green: 60, begin: 0, end: 600}
observation: pressure
reward: queue
controllers:
  - fixed-time
  - name: mp
    type: max-pressure
  - name: learner
    type: dqn
    args: {learning_rate: 0.001}
    training: {episodes: 3}
training: {episodes: 7, num_envs: 2}
evaluation: {seeds: [4, 5], episodes: 2}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_scenario_is_frozen_and_complete(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert s.name == "demo"
    assert s.env_options == {
        "delta_time": 10, "yellow_time": 3, "min_green": 5, "max_green": 60, "begin_time": 0.0, "end_time": 600.0,
        "observation": "pressure", "reward": "queue",
    }  # fmt: skip
    assert [c.name for c in s.controllers] == ["fixed-time", "mp", "learner"]
    assert s.controllers[1].type == "max-pressure"
    assert s.controllers[2].args == {"learning_rate": 0.001}
    assert s.controllers[2].training.episodes == 3 and s.controllers[2].training.num_envs == 2
    assert s.controllers[0].training.episodes == 7
    assert s.evaluation.seeds == (4, 5) and s.evaluation.episodes == 2
    with pytest.raises(AttributeError):
        s.name = "other"


def test_paths_resolve_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "x.rou.xml").write_text("<routes/>")
    sub = tmp_path / "scenarios"
    sub.mkdir()
    s = load_scenario(write(sub, "network: ../nets\nroute_file: ../nets/x.rou.xml\ncontrollers: [fixed-time]\n"))
    assert s.network == str((tmp_path / "nets").resolve())
    assert s.route_file == str((tmp_path / "nets" / "x.rou.xml").resolve())


@pytest.mark.parametrize(
    "text, message",
    [
        ("network: a\ncontrollers: [x]\nspeed: 3\n", r"unknown key 'speed'"),
        ("network: a\ncontrollers: [x]\ntiming: {yelow_time: 3}\n", r"unknown key 'timing.yelow_time'"),
        ("network: a\ncontrollers: [x]\ntiming: {delta_time: five}\n", r"timing.delta_time: expected an integer"),
        ("network: a\ncontrollers: [x]\ntiming: {delta_time: 5, yellow_time: 6}\n", r"must be shorter than delta"),
        ("network: a\ncontrollers: [x]\ntiming: {min_green: 60, max_green: 10}\n", r"timing.min_green: expected <="),
        ("network: a\ncontrollers: [x]\ntiming: {begin: 100, end: 50}\n", r"timing.end: expected after begin"),
        ("network: a\ncontrollers: []\n", r"controllers: expected a non-empty list"),
        ("network: a\ncontrollers: [x, x]\n", r"name 'x' used twice"),
        ("network: a\ncontrollers: [{type: x, argz: {}}]\n", r"unknown key 'controllers\[0\].argz'"),
        ("network: a\ncontrollers: [x]\nevaluation: {seeds: [1, a]}\n", r"evaluation.seeds: expected an integer"),
        ("network: a\ncontrollers: [x]\nevaluation: {seeds: [1, 1]}\n", r"seeds must be distinct"),
        ("network: a\ncontrollers: [x]\nroute_file: missing.rou.xml\n", r"route_file: file not found"),
        ("controllers: [x]\n", r"missing key 'network'"),
        ("network: a\ncontrollers: [x\n", r"not valid YAML \(line"),
        ("- just\n- a list\n", r"expected a mapping"),
    ],
)
def test_bad_scenarios_name_file_key_and_expectation(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_bundled_scenarios_are_valid():
    root = Path(__file__).resolve().parents[1] / "scenarios"
    files = sorted(root.glob("*.yaml"))
    assert files, "no scenarios bundled"
    for path in files:
        load_scenario(path)


@pytest.mark.parametrize("learner", ["dqn", "ppo", "batched-q"])
def test_training_scenarios_spell_out_the_learners_defaults(learner):
    """``scenarios/train-<learner>.yaml`` says it trains on the defaults: its observation is the learner's own."""
    from traffic_lam.controllers import make_controller
    from traffic_lam.env.observations import LEARNER_OBSERVATION

    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / f"train-{learner}.yaml")
    (entry,) = [c for c in scenario.controllers if c.type == learner]
    defaults = make_controller(learner, {"mode": "neural"} if learner == "batched-q" else {})
    assert entry.args["observation"] == defaults.observation_spec() == LEARNER_OBSERVATION == "wave-staleness"
