"""One save/load contract: every built-in controller comes back from ``traffic_lam.load(path)`` alone."""

import json

import pytest

import traffic_lam
from traffic_lam.controllers import Greedy, TrainingBudget, make_controller
from traffic_lam.env.factory import EnvFactory
from traffic_lam.errors import ControllerError

NETWORK, OPTIONS = "single-intersection", {"end_time": 100}

CLASSIC = {
    "fixed-time": {},
    "actuated": {"min_green": 6.0, "max_gap": 2.5},
    "max-pressure": {},
    "greedy": {"detection_range": 50},
}
LEARNERS = {  # tiny settings: a few seconds of training on one signal
    "dqn-shared": ("dqn", {"sharing": "shared", "learning_starts": 4, "batch_size": 8, "target_update_interval": 8}),
    "dqn-independent": ("dqn", {"sharing": "independent", "learning_starts": 4, "batch_size": 8}),
    "ppo": ("ppo", {"n_steps": 8, "batch_size": 8, "n_epochs": 1}),
    "batched-q-tabular": ("batched-q", {"mode": "tabular", "seed": 1}),
    "batched-q-neural": ("batched-q", {"mode": "neural", "learning_starts": 4, "batch_size": 8, "seed": 1}),
}


def factory_for(controller):
    return EnvFactory(NETWORK, {**OPTIONS, **controller.env_options()})


def play(controller, steps=8, seed=5):
    """The actions ``controller`` takes over the first ``steps`` decisions of one seeded episode."""
    env = factory_for(controller)()
    try:
        controller.setup(env)
        controller.reset()
        obs, infos = env.reset(seed=seed)
        actions = []
        for _ in range(steps):
            actions.append(controller.act(obs, infos))
            obs, _, _, _, infos = env.step(actions[-1])
        return actions
    finally:
        env.close()


def trained(case):
    kind, args = LEARNERS[case]
    learner = make_controller(kind, {**args, "device": "cpu"})
    learner.learn(factory_for(learner), TrainingBudget(episodes=1))
    return learner


@pytest.fixture(scope="module")
def saved_dqn(tmp_path_factory):
    return trained("dqn-shared").save(tmp_path_factory.mktemp("dqn") / "model.final")


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_classic_controller_round_trip_from_the_path_alone(tmp_path, name):
    controller = make_controller(name, CLASSIC[name])
    path = controller.save(tmp_path / "models" / f"{name}.json")
    again = traffic_lam.load(path)
    assert type(again) is type(controller) and again.name == name
    assert again.params == controller.params
    assert play(again) == play(controller)


@pytest.mark.parametrize("case", sorted(LEARNERS))
def test_learner_round_trip_acts_like_the_original(tmp_path, case):
    learner = trained(case)
    path = learner.save(tmp_path / "models" / "model.final")
    again = traffic_lam.load(path)
    assert type(again) is type(learner) and again.name == LEARNERS[case][0]
    assert again.params == learner.params
    assert play(again) == play(learner)


def test_loading_through_an_instance_raises(tmp_path):
    path = Greedy().save(tmp_path / "greedy.json")
    with pytest.raises(ControllerError, match=r"builds a new controller.*traffic_lam.controllers.load\(path\)"):
        Greedy().load(path)


def test_loading_another_controllers_file_names_both(saved_dqn):
    with pytest.raises(ControllerError, match="holds controller 'dqn', not 'greedy'"):
        Greedy.load(saved_dqn)
    assert traffic_lam.load(saved_dqn, device="cpu").name == "dqn"  # the module-level load takes any


@pytest.mark.parametrize("content", ["", "{}", '{"controller": "greedy"}', "[1, 2]", "not json", "\x00\x01"])
def test_a_file_that_is_no_saved_controller_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "file.json"
    path.write_text(content)
    with pytest.raises(ControllerError, match="not a saved controller") as caught:
        traffic_lam.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(ControllerError, match="not a saved controller") as caught:
        traffic_lam.load(tmp_path / "nothing.json")
    assert "\n" not in str(caught.value)


def test_a_document_naming_an_unknown_controller_is_a_one_line_error(tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"controller": "no-such", "params": {}}))
    with pytest.raises(ControllerError, match="unknown controller 'no-such'") as caught:
        traffic_lam.load(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["dqn", "ppo"])
def test_saving_an_untrained_learner_raises_and_writes_nothing(tmp_path, name):
    with pytest.raises(ControllerError, match=f"{name}: nothing to save, the learner is not trained"):
        make_controller(name).save(tmp_path / "models" / "model.final")
    assert not (tmp_path / "models").exists()
