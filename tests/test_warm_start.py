"""Warm start of dqn, ppo and batched-q from an expert: real SUMO on single-intersection, tiny budgets."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from traffic_lam.cli import main
from traffic_lam.controllers import TrainingBudget, load, make_controller
from traffic_lam.controllers.batched_q.table import TabularQ
from traffic_lam.controllers.batched_q.tabular import TabularConfig
from traffic_lam.controllers.sb3.demos import DemoDQN, FeaturizedDemos
from traffic_lam.controllers.sb3.features import Featurizer
from traffic_lam.controllers.selection import snapshot
from traffic_lam.env.factory import EnvFactory
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.evaluation import evaluate
from traffic_lam.imitation import DemoDataset, record_demos
from traffic_lam.imitation.warm_start import DemoSteps, WarmStart, large_margin_loss

NET = "single-intersection"
SHORT = {"end_time": 300}
SEEDS = [20000, 20001]
BUDGET = TrainingBudget(episodes=1, seed=10_000, num_envs=1, validate_every=0)

LEARNERS = {  # learner type, tiny RL settings, warm-start settings
    "dqn": ("dqn", {"learning_starts": 8, "batch_size": 16, "buffer_size": 1000, "target_update_interval": 16},
            {"pretrain_steps": 300}),
    "ppo": ("ppo", {"n_steps": 6, "batch_size": 24, "n_epochs": 1}, {"epochs": 200}),
    "neural": ("batched-q", {"mode": "neural", "learning_starts": 4, "batch_size": 8}, {"pretrain_steps": 300}),
    "tabular": ("batched-q", {"mode": "tabular"}, {}),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Small networks: a second intra-op thread only waits for cores the simulations keep busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def learner_of(family: str, **warm: object) -> object:
    kind, settings, warm_settings = LEARNERS[family]
    return make_controller(kind, {**settings, "device": "cpu", "warm_start": {**warm_settings, **warm}})


def factory_for(learner: object) -> EnvFactory:
    return EnvFactory(NET, {**SHORT, **learner.env_options()})


@pytest.fixture(scope="module")
def demos() -> dict[str, DemoDataset]:
    """The greedy expert's demonstrations, in the learners' two observations (tabular's, the others')."""
    return {obs: record_demos(NET, "greedy", seeds=SEEDS, observation=obs, env_options=SHORT)
            for obs in ("wave", "wave-staleness")}  # fmt: skip


def dataset_for(learner: object, demos: dict[str, DemoDataset]) -> DemoDataset:
    return demos[learner.observation_spec()]


def greedy_on(learner: object, dataset: DemoDataset) -> tuple[np.ndarray, np.ndarray]:
    """The learner's actions (through ``act``) at every recorded decision, and the expert's."""
    env = factory_for(learner)()  # no simulation starts: the spaces to set the learner up with
    learner.setup(env)
    env.close()
    steps = DemoSteps.of(dataset)
    chosen = np.zeros_like(steps.actions)
    for d in range(len(steps)):
        infos = {a: {**info, "phase": 0, "queue": 0.0} for a, info in steps.infos(d).items()}
        actions = learner.act(steps.observations(d), infos)
        chosen[d] = [actions[a] for a in steps.signals]
    return chosen, steps.actions


def agreement(learner: object, dataset: DemoDataset) -> float:
    chosen, expert = greedy_on(learner, dataset)
    return float(np.mean(chosen == expert))


# ---------------------------------------------------------------------- the warm-start phase alone
@pytest.mark.parametrize("family", list(LEARNERS))
def test_warm_start_alone_acts_as_the_expert_on_its_states(demos, family):
    learner = learner_of(family)
    dataset = dataset_for(learner, demos)
    model = learner.warm_start_from(dataset, factory_for(learner))
    assert model is not None
    assert agreement(learner, dataset) >= 0.9
    report = learner.warm_start_report
    assert report["agreement"] >= 0.9 and report["rows"] == len(dataset) and report["episodes"] == len(SEEDS)


# ---------------------------------------------------------------------- through learn, then save and load
@pytest.mark.parametrize("family", list(LEARNERS))
def test_fine_tuned_learner_trains_saves_and_loads_without_recording(demos, family, tmp_path, monkeypatch):
    learner = learner_of(family, episodes=2)
    learner.learn(factory_for(learner), BUDGET)
    assert learner.warm_start_report["agreement"] >= 0.9  # measured right after the warm start, before RL
    assert learner.warm_start_report["episodes"] == 2
    trained = learner.model.num_timesteps if family in ("dqn", "ppo") else learner.decision_steps
    assert trained > 0
    path = learner.save(tmp_path / "model")
    assert learner.params["warm_start"]["episodes"] == 2

    def no_recording(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading recorded demonstrations")

    monkeypatch.setattr("traffic_lam.imitation.rollout.record_demos", no_recording)
    monkeypatch.setattr(sys.modules["traffic_lam.imitation.dagger"], "dagger", no_recording)
    again = load(path)
    assert again.config.warm_start == learner.config.warm_start
    assert again.warm_start_report == learner.warm_start_report
    dataset = dataset_for(learner, demos)
    assert np.array_equal(greedy_on(again, dataset)[0], greedy_on(learner, dataset)[0])


@pytest.mark.parametrize("family", list(LEARNERS))
def test_the_warm_start_itself_is_validated_before_training_and_competes_in_the_selection(demos, family):
    learner = learner_of(family, episodes=2)
    budget = dataclasses.replace(BUDGET, validate_every=1, validation_seeds=(5000,))
    learner.learn(factory_for(learner), budget)
    start, *after = learner.selection.validations
    assert (start.episode, [v.episode for v in after]) == (0, [1])
    assert np.isnan(start.training_return) and not np.isnan(after[0].training_return)
    assert learner.selection.delay_s == min(start.delay_s, after[0].delay_s)
    twin = learner_of(family, episodes=2)  # the same warm start, alone: what episode 0 validated
    twin.warm_start_from(dataset_for(twin, demos), factory_for(twin))
    (record,) = evaluate(NET, snapshot(twin), seed=5000, **SHORT)  # saved and loaded, as validation does
    assert record.avg_delay == pytest.approx(start.delay_s)


def test_a_learner_from_scratch_is_not_validated_before_training():
    learner = make_controller("batched-q", {**LEARNERS["neural"][1], "device": "cpu"})
    learner.learn(factory_for(learner), dataclasses.replace(BUDGET, validate_every=1, validation_seeds=(5000,)))
    assert [v.episode for v in learner.selection.validations] == [1]


@pytest.mark.parametrize("family", ["dqn", "neural"])
def test_a_resumed_training_skips_the_warm_start_and_keeps_its_report(family, tmp_path, monkeypatch):
    budget = dataclasses.replace(BUDGET, checkpoint_dir=tmp_path / "work", checkpoint_every=1)
    first = learner_of(family, episodes=1, keep_demos=True)
    first.learn(factory_for(first), budget)
    monkeypatch.setattr(DemoDQN, "warm_start", lambda self: pytest.fail("warm-started again"))
    second = learner_of(family, episodes=1, pretrain_steps=5000, keep_demos=True)
    second.learn(factory_for(second), dataclasses.replace(budget, episodes=2))
    assert second.warm_start_report == first.warm_start_report
    if family == "neural":  # the demo loss kept in training; no pre-training steps again
        assert second.training_episodes == 2 and second.demo_buffer is not None
        assert second.gradient_updates - first.gradient_updates <= 60  # one per decision at most
    else:
        assert second.model.num_timesteps == 2 * first.model.num_timesteps and second.model.demos is not None


def test_dagger_warm_start_learns_from_the_aggregated_dataset():
    learner = learner_of("ppo", method="dagger", episodes=1, iterations=1)
    learner.learn(factory_for(learner), BUDGET)
    report = learner.warm_start_report
    assert report["episodes"] == 2 and report["agreement"] >= 0.9  # the expert's episode and the student's


def test_a_demonstrations_file_is_read_and_checked(demos, tmp_path, monkeypatch):
    path = demos["wave-staleness"].save(tmp_path / "demos.parquet")
    other = demos["wave"].save(tmp_path / "wave.parquet")
    monkeypatch.setattr("traffic_lam.imitation.rollout.record_demos", lambda *a, **k: pytest.fail("recorded"))
    learner = learner_of("neural", demos=str(path))
    learner.learn(factory_for(learner), BUDGET)
    assert learner.warm_start_report["rows"] == len(demos["wave-staleness"])
    wrong = learner_of("neural", demos=str(other))  # reads wave-staleness, the file holds wave
    with pytest.raises(ControllerError) as info:
        wrong.learn(factory_for(wrong), BUDGET)
    assert "\n" not in str(info.value) and "recorded with observation 'wave'" in str(info.value)


# ---------------------------------------------------------------------- the pieces
def test_demonstrations_are_featurized_as_the_learner_sees_its_signals():
    dataset = record_demos("grid2x2", "greedy", seeds=[20000], env_options={"end_time": 60})
    env = EnvFactory("grid2x2", {"end_time": 60})()
    featurizer = Featurizer.from_env(env.layouts, env.observation_spaces, use_neighbours=False, agent_ids=True)
    env.close()
    steps = DemoSteps.of(dataset)
    demos = FeaturizedDemos.build(steps, featurizer, neighbour_reward=0.0, gamma=0.9)
    n, k = len(featurizer.agents), len(dataset)
    assert len(demos) == k and n == 4
    for row in range(k):  # decision-major, the signals in the featurizer's order, as the vec env stacks them
        d, i = divmod(row, n)
        agent = featurizer.agents[i]
        of_signal = np.flatnonzero(dataset.signal_index == dataset.signals.index(agent))  # one episode: by time
        match = of_signal[np.argsort(dataset.times[of_signal], kind="stable")][d]
        size = dataset.metadata.obs_sizes[dataset.signals.index(agent)]
        vector = demos.obs[row]
        assert np.array_equal(vector[:size], dataset.obs[match, :size])
        ids = vector[featurizer.obs_dim : featurizer.obs_dim + n]
        assert np.array_equal(ids, np.eye(n)[i])
        assert np.array_equal(vector[-featurizer.num_actions :] > 0.5, dataset.masks[match])
        assert demos.actions[row] == dataset.actions[match]
    last = len(steps) - 1  # one-step TD everywhere but at the episode's end
    assert demos.td.sum() == (len(steps) - 1) * n and not demos.td[last * n :].any()
    assert np.allclose(demos.next_obs[: last * n], demos.obs[n:])
    assert np.allclose(demos.returns, steps.rewards.reshape(-1))


def test_large_margin_loss_by_hand():
    q = torch.tensor([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]])
    actions = torch.tensor([0, 0])
    masks = torch.tensor([[True, True, True], [True, False, True]])
    rows = torch.tensor([True, False])
    assert large_margin_loss(q, actions, masks, 0.8, rows).item() == pytest.approx(2.8 - 1.0)
    rows = torch.tensor([False, True])  # green 1 forbidden: max(1 + 0, 0 + 0.8) - 1
    assert large_margin_loss(q, actions, masks, 0.8, rows).item() == pytest.approx(0.0)


def test_tabular_preference_by_hand():
    table = TabularQ(TabularConfig(device="cpu"), np.zeros((1, 2)), np.ones((1, 2)), 3, torch.device("cpu"))
    rows = np.array([5, 5, 5, 7])
    table.prefer(rows, np.array([1, 1, 2, 0]), np.array([-2.0, -4.0, -10.0, -1.0]), margin=0.8)
    assert table.q[5].tolist() == pytest.approx([-3.8, -3.0, -3.8])
    assert table.q[7].tolist() == pytest.approx([-1.0, -1.8, -1.8])
    assert not table.q[6].any()


# ---------------------------------------------------------------------- bad settings: one line each
@pytest.mark.parametrize(
    "kind, args, expected",
    [
        ("ppo", {"warm_start": {"episods": 3}}, "ppo: warm_start: unknown key 'episods', expected one of expert,"),
        ("ppo", {"warm_start": {"episodes": 0}}, "ppo: warm_start.episodes: expected an integer >= 1, got 0"),
        ("dqn", {"warm_start": {"method": "rl"}}, "dqn: warm_start.method: expected one of bc, dagger, got 'rl'"),
        ("dqn", {"warm_start": 3}, "dqn: warm_start: expected a mapping of settings or null, got 3"),
        ("dqn", {"warm_start": {"bc_coef": 0.5}}, "dqn: warm_start.bc_coef: read only by ppo; dqn does not read it"),
        ("ppo", {"warm_start": {"iterations": 3}}, "ppo: warm_start.iterations: expected no value with method: bc"),
        ("ppo", {"warm_start": {"bc_decay": 0}}, "ppo: warm_start.bc_decay: expected a share of training in (0, 1]"),
        ("ppo", {"neighbours": True, "warm_start": {}}, "ppo: warm_start: not with neighbours: true"),
        (
            "batched-q",
            {"mode": "tabular", "warm_start": {"pretrain_steps": 5}},
            "batched-q: warm_start.pretrain_steps: read only by dqn and neural batched-q; "
            "tabular batched-q does not read it",
        ),
        ("batched-q", {"mode": "neural", "warm_start": {"margin": -1}}, "batched-q: warm_start.margin: expected a"),
    ],
)
def test_bad_warm_start_settings_are_one_line(kind, args, expected):
    with pytest.raises(ConfigError) as info:
        make_controller(kind, args)
    message = str(info.value)
    assert "\n" not in message and message.startswith(expected), message


def test_bad_warm_start_in_a_scenario_names_its_key(tmp_path):
    from traffic_lam.experiments.scenario import ScenarioError, load_scenario

    path = tmp_path / "x.yaml"
    path.write_text(f"network: {NET}\ncontrollers:\n  - {{type: ppo, args: {{warm_start: {{episodes: 0}}}}}}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: controllers[0] (label 'ppo').args.warm_start.episodes: expected an integer >= 1, got 0"
    )
    path.write_text(f"network: {NET}\ncontrollers:\n  - {{type: ppo, args: {{warm_start: {{method: dagger}}}}}}\n")
    assert load_scenario(path).controllers[0].args == {"warm_start": {"method": "dagger"}}


def test_demonstration_seeds_apart_from_training_seeds():
    learner = learner_of("tabular", seed=10_000)
    with pytest.raises(ConfigError, match=r"warm_start\.seed: demonstration seeds 10000\.\.10004 include 10000"):
        learner.learn(factory_for(learner), BUDGET)


def test_warm_start_from_needs_settings(demos):
    learner = make_controller("batched-q", {"mode": "neural", "device": "cpu"})
    with pytest.raises(ControllerError, match="warm_start_from needs warm_start settings"):
        learner.warm_start_from(demos["wave"], factory_for(learner))


def test_list_shows_the_warm_start(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "warm_start" in out and "bc | dagger" in out and "bc, dagger" in out


def test_settings_round_trip_through_params():
    warm = WarmStart.from_args({"expert": "max-pressure", "method": "dagger", "episodes": 3})
    assert WarmStart.from_args(warm.settings()) == warm
    assert list(warm.seeds()) == list(range(20_000, 20_009))  # 3 episodes x (1 + 2 iterations)
