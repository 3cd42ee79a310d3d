"""The scenario schema: bundled scenarios validate, bad values give one line, {name, args} specs, JSON export."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

import traffic_lam
from traffic_lam.controllers import Controller, controller_type
from traffic_lam.env.observations import make_observation
from traffic_lam.errors import ConfigError
from traffic_lam.experiments.scenario import ScenarioError, Training, load_scenario, parse_scenario
from traffic_lam.experiments.schema import args_model, json_schema

ROOT = Path(__file__).resolve().parents[1]
HEAD = "network: single-intersection\n"


def bad(tmp_path: Path, text: str) -> str:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message[len(str(path)) + 2 :]


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_every_bundled_scenario_validates(path):
    scenario = load_scenario(path)
    assert scenario.controllers and scenario.evaluation.seeds


@pytest.mark.parametrize(
    "section, expected",
    [
        (
            "timing: {delta_time: .inf}",
            "timing.delta_time: expected an integer >= 1 (a whole number of seconds), got inf",
        ),
        (
            "timing: {delta_time: .nan}",
            "timing.delta_time: expected an integer >= 1 (a whole number of seconds), got nan",
        ),
        (
            "timing: {yellow_time: -2}",
            "timing.yellow_time: expected an integer >= 0 (a whole number of seconds), got -2",
        ),
        ("timing: {end: .inf}", "timing.end: expected a finite number >= 0, got inf"),
        ("timing: {begin: -1}", "timing.begin: expected a finite number >= 0, got -1"),
        ("time_to_teleport: .nan", "time_to_teleport: expected a finite number, got nan"),
        ("training: {episodes: -3}", "training.episodes: expected an integer >= 1, got -3"),
        ("evaluation: {seeds: [-1]}", "evaluation.seeds: expected an integer >= 0, got -1"),
        ("evaluation: {ssm: 1}", "evaluation.ssm: expected true or false, got 1"),
        ("backend: tracy", "backend: expected one of 'libsumo' or 'traci', got 'tracy'"),
        (
            "timing: {delta: 5}",
            "unknown key 'timing.delta', expected one of all_red_time, begin, delta_time, end, "
            "max_green, min_green, yellow_time",
        ),
        (
            "warp: 9",
            "unknown key 'warp', expected one of backend, controllers, description, evaluation, name, network, "
            "observation, replay, reward, route_file, sumo_options, time_to_teleport, timing, training",
        ),
    ],
)
def test_bad_values_and_unknown_keys_give_one_line(tmp_path, section, expected):
    assert bad(tmp_path, f"{HEAD}controllers: [fixed-time]\n{section}\n") == expected


@pytest.mark.parametrize(
    "section, expected",
    [
        (
            "observation: warp",
            "observation: unknown observation 'warp': expected one of default, detector, pressure, "
            "queue-pressure, wave, wave-staleness or 'module:Class'",
        ),
        (
            "reward: warp",
            "reward: unknown reward 'warp': expected one of diff-waiting-time, queue, pressure, "
            "delay, average-speed or 'module:Class'",
        ),
        (
            "observation: {name: wave, args: {range: 3}}",
            "observation.args: observation 'wave': unknown argument 'range' (valid: detection_range)",
        ),
        (
            "observation: {name: wave, args: {detection_range: 0}}",
            "observation.args: detection_range: expected a positive number of metres, got 0",
        ),
        (
            "reward: {name: queue, args: {weight: 2}}",
            "reward.args: reward 'queue': unknown argument 'weight' (valid: detection_range, backlog)",
        ),
        ("observation: {name: wave, arg: {}}", "unknown key 'observation.arg', expected one of args, name"),
    ],
)
def test_observation_and_reward_names_and_args_are_checked_at_load_time(tmp_path, section, expected):
    assert bad(tmp_path, f"{HEAD}controllers: [fixed-time]\n{section}\n") == expected


def test_observation_and_reward_take_arguments(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        f"{HEAD}observation: {{name: wave, args: {{detection_range: 100}}}}\nreward: queue\ncontrollers: [fixed-time]\n"
    )
    scenario = load_scenario(path)
    wave = {"name": "wave", "args": {"detection_range": 100}}
    assert scenario.env_options == {"observation": wave, "reward": "queue"}
    assert make_observation(wave).detection_range == 100.0
    env = traffic_lam.make_env("single-intersection", end_time=60, **scenario.env_options)
    try:
        observations, _ = env.reset(seed=0)
        (agent,) = env.possible_agents
        assert env.observation_space(agent).contains(observations[agent])
        env.step({agent: 0})
    finally:
        env.close()


def test_make_env_takes_a_name_and_args_mapping():
    env = traffic_lam.make_env(
        "single-intersection",
        end_time=60,
        observation={"name": "queue-pressure", "args": {"detection_range": 50}},
        reward={"name": "average-speed"},
    )
    try:
        observations, _ = env.reset(seed=1)
        assert len(observations) == 1
    finally:
        env.close()
    with pytest.raises(ConfigError, match="unknown argument 'radius'"):
        traffic_lam.make_env("single-intersection", observation={"name": "wave", "args": {"radius": 5}})


@pytest.mark.parametrize(
    "entry, expected",
    [
        (
            "{name: mp, type: max-pressure, args: {foo: 1}}",
            "controllers[1] (label 'mp').args: unknown key 'foo' for max-pressure (valid: detection_range)",
        ),
        (
            "{name: mp, type: max-pressure, args: {detection_range: far}}",
            "controllers[1] (label 'mp').args.detection_range: expected a number, got 'far'",
        ),
        (
            "{name: act, type: actuated, args: {use_program_limits: maybe}}",
            "controllers[1] (label 'act').args.use_program_limits: expected true or false, got 'maybe'",
        ),
        (
            "{name: ft, type: fixed-time, args: {cycle: 60}}",
            "controllers[1] (label 'ft').args: unknown key 'cycle' for fixed-time (valid: none)",
        ),
        (
            "{name: q, type: batched-q, args: {bins: six}}",
            "controllers[1] (label 'q').args.bins: expected an integer, got 'six'",
        ),
        (
            "warp-drive",
            "controllers[1].type: unknown controller 'warp-drive': expected one of fixed-time, actuated, "
            "max-pressure, greedy, batched-q, bc, dagger, dqn, ppo or 'module:Class'",
        ),
        (
            "{name: dqn, type: dqn, args: {sharing: 3}}",
            "controllers[1] (label 'dqn').args.sharing: expected one of 'shared' or 'independent', got 3",
        ),
    ],
)
def test_controller_arguments_are_checked_against_the_controller(tmp_path, entry, expected):
    assert bad(tmp_path, f"{HEAD}controllers:\n  - fixed-time\n  - {entry}\n") == expected


@dataclass
class _Config:
    """Hyperparameters of :class:`_Configured`."""

    bins: int = 6
    """Bins per feature."""

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise ConfigError(f"bins: expected an integer >= 1, got {self.bins}")


class _Configured(Controller):
    """A controller whose arguments are its config dataclass's fields."""

    name: ClassVar[str] = "configured"
    config_class: ClassVar[type] = _Config

    def __init__(self, **params: object) -> None:
        super().__init__(**params)

    def _act(self, observations, infos):  # pragma: no cover - never run
        return {}


def test_a_config_class_defines_the_arguments(tmp_path):
    model, open_ended = args_model(_Configured)
    assert list(model.model_fields) == ["bins"] and not open_ended
    head = f"{HEAD}controllers:\n  - {{name: c, type: '{__name__}:_Configured', args: "
    assert (
        bad(tmp_path, head + "{bins: 0}}\n") == "controllers[0] (label 'c').args: bins: expected an integer >= 1, got 0"
    )
    assert (
        bad(tmp_path, head + "{bin: 2}}\n")
        == "controllers[0] (label 'c').args: unknown key 'bin' for configured (valid: bins)"
    )
    assert (
        bad(tmp_path, head + "{bins: many}}\n")
        == "controllers[0] (label 'c').args.bins: expected an integer, got 'many'"
    )


def test_arguments_come_from_init_chain_and_config_class():
    model, open_ended = args_model(controller_type("dqn"))  # SB3: its config dataclass, nothing else
    assert not open_ended and {"sharing", "hidden", "learning_rate", "sb3"} <= set(model.model_fields)
    scenario = parse_scenario({"network": "grid2x2", "controllers": [{"type": "dqn", "args": {"hidden": None}}]})
    assert scenario.controllers[0].args == {"hidden": None}  # None: the config field's default

    class Open(Controller):
        def __init__(self, width: int = 3, **params: object) -> None:
            super().__init__(width=width, **params)

        def _act(self, observations, infos):  # pragma: no cover - never run
            return {}

    model, open_ended = args_model(Open)
    assert open_ended and list(model.model_fields) == ["width"]


def test_training_takes_its_defaults_from_the_budget():
    from traffic_lam.controllers.budget import TrainingBudget

    budget = TrainingBudget()
    assert Training() == Training(budget.episodes, budget.seed, budget.num_envs, budget.checkpoint_every)
    assert Training(3).budget(checkpoint_dir="c").checkpoint_dir == Path("c")
    with pytest.raises(ConfigError, match="num_envs: expected an integer >= 1, got 0"):
        Training(num_envs=0)


def test_the_committed_json_schema_is_current():
    committed = json.loads((ROOT / "docs" / "scenario.schema.json").read_text())
    assert committed == json_schema(), "regenerate docs/scenario.schema.json (see traffic_lam.experiments.schema)"
    assert set(committed["properties"]) >= {"network", "timing", "controllers", "observation"}


def test_refused_sumo_flags_are_one_line_naming_the_file_before_anything_starts(tmp_path):
    path = tmp_path / "step.yaml"
    path.write_text('network: single-intersection\nsumo_options: ["--step-length", "0.5"]\ncontrollers: [fixed-time]\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: sumo_options: --step-length is refused: "), message
