"""Imitation: demonstrations (Parquet), behaviour cloning and DAgger on real SUMO, tiny networks."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

import traffic_lam
from traffic_lam.cli import main
from traffic_lam.controllers import Controller, make_controller
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.greedy import choice_from_wave_staleness
from traffic_lam.env.factory import EnvFactory
from traffic_lam.errors import ControllerError
from traffic_lam.files import read_csv
from traffic_lam.imitation import DemoDataset, dagger, record_demos, train_clone
from traffic_lam.imitation.experts import make_expert
from traffic_lam.sim.network import bundled_networks

SHORT = {"end_time": 300}
NET = "single-intersection"
TRAIN = {"epochs": 150, "lr": 1e-2, "hidden": 32, "batch_size": 64}


class RotateExpert(Controller):
    """A deterministic toy expert: the next green (cyclically) whenever the mask allows it, else the current one."""

    name: ClassVar[str] = "rotate"
    observation: ClassVar[str | None] = "default"

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        actions = {}
        for agent, info in infos.items():
            mask, green = info["action_mask"], int(info["phase"])
            following = (green + 1) % len(mask)
            actions[agent] = following if mask[following] else green
        return actions


def most_waves(obs: np.ndarray, mask: np.ndarray) -> int:
    """The allowed green with the largest wave (ties: the lowest index)."""
    n = len(mask)
    values = np.where(np.asarray(mask, dtype=bool), obs[-n:], -np.inf)
    return int(np.argmax(values))


class MostWaves(Controller):
    """A stateless wave expert: reads the ``wave`` observation, picks :func:`most_waves`."""

    name: ClassVar[str] = "most-waves"
    observation: ClassVar[str | None] = "wave"

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        return {a: most_waves(np.asarray(obs)[: 2 * len(infos[a]["action_mask"]) + 1], infos[a]["action_mask"])
                for a, obs in observations.items()}  # fmt: skip


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


@pytest.fixture(scope="module")
def greedy_demos() -> DemoDataset:
    return record_demos(NET, "greedy", seeds=[0, 1], env_options=SHORT)


# ---------------------------------------------------------------------- the environment's expert observation
def test_expert_observation_in_infos_equals_that_of_an_env_reading_it():
    student = traffic_lam.make_env(NET, expert_observation="wave", **SHORT)
    reader = traffic_lam.make_env(NET, observation="wave", **SHORT)  # libsumo is busy: this one runs in a worker
    try:
        obs, infos = student.reset(seed=3)
        wave, _ = reader.reset(seed=3)
        assert reader.runs_in_worker
        assert student.expert_observation_spaces["A0"] == reader.observation_spaces["A0"]
        for step in range(20):
            assert np.array_equal(infos["A0"]["expert_observation"], wave["A0"])
            assert obs["A0"].shape == student.observation_spaces["A0"].shape
            actions = {"A0": (step // 3) % 4}
            obs, _, _, _, infos = student.step(actions)
            wave, _, _, _, _ = reader.step(actions)
    finally:
        student.close()
        reader.close()


def test_vector_env_infos_carry_the_expert_observation():
    with traffic_lam.make_vector_env(NET, 1, expert_observation="wave", **SHORT) as venv:
        _, infos = venv.reset(seed=3)
        _, _, _, infos = venv.step([{"A0": 1}])
        assert infos[0]["A0"]["expert_observation"].shape == (9,)


def test_greedy_is_a_function_of_the_wave_staleness_observation():
    """Greedy rotates tied greens by memory; ``wave-staleness`` shows that memory, so a clone can copy it."""
    env = traffic_lam.make_env(NET, observation="wave-staleness", expert_observation="wave", end_time=900)
    expert = make_expert("greedy")
    expert.setup(env)
    try:
        obs, infos = env.reset(seed=2)
        expert.controller.reset()
        ties = 0
        while env.agents:
            actions = expert.actions(obs, infos)
            mask, wave = infos["A0"]["action_mask"], obs["A0"][-4:]
            ties += wave[np.flatnonzero(mask)].max() > 0 and (wave == wave.max()).sum() > 1
            assert actions["A0"] == choice_from_wave_staleness(obs["A0"], mask), infos["A0"]["system"]["time"]
            obs, _, _, _, infos = env.step(actions)
        assert ties >= 10  # the rotation was needed, not just the largest wave
    finally:
        env.close()


# ---------------------------------------------------------------------- the dataset
def test_dataset_round_trip_keeps_rows_and_metadata(greedy_demos, tmp_path):
    path = greedy_demos.save(tmp_path / "demos.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["demos.parquet"]  # written under a temporary name, renamed
    loaded = DemoDataset.load(path)
    assert loaded.metadata == greedy_demos.metadata
    for column in ("obs", "masks", "actions", "rewards", "next_obs", "dones", "signal_index", "episodes", "seeds",
                   "times", "expert_obs"):  # fmt: skip
        assert np.array_equal(getattr(loaded, column), getattr(greedy_demos, column)), column
    meta = loaded.metadata
    assert meta.signals == ("A0",) and meta.action_sizes == (4,) and meta.obs_sizes == (21,)
    assert meta.expert == {"name": "greedy", "args": {"detection_range": 200.0}, "model": None}
    assert meta.observation == {"name": "default", "args": {}}
    assert meta.env_options["expert_observation"] == {"name": "wave", "args": {"detection_range": 200.0}}
    assert len(meta.network["fingerprint"]) == 64 and meta.env_options["timing"]["delta_time"] == 5
    assert [e["seed"] for e in meta.episodes] == [0, 1] and all(e["avg_delay"] > 0 for e in meta.episodes)
    assert len(loaded) == 2 * 60 and loaded.dones.sum() == 2


def test_every_mismatch_is_one_line(greedy_demos, tmp_path):
    other_observation = traffic_lam.make_env(NET, observation="wave", **SHORT)
    with pytest.raises(ControllerError) as info:
        greedy_demos.check_fits(other_observation, "wave", "bc")
    assert "recorded with observation 'default', this bc reads 'wave'" in one_line(info.value)

    grid = traffic_lam.make_env("grid2x2", **SHORT)
    with pytest.raises(ControllerError) as info:
        greedy_demos.check_fits(grid, "default", "bc")
    assert "recorded on signals A0, grid2x2 has" in one_line(info.value)

    folder = shutil.copytree(bundled_networks()[NET], tmp_path / "changed")
    net_file = folder / "single-intersection.net.xml"
    net_file.write_text(net_file.read_text() + "<!-- edited -->\n")
    edited = traffic_lam.make_env(str(folder), **SHORT)
    with pytest.raises(ControllerError) as info:
        greedy_demos.check_fits(edited, "default", "bc")
    assert "recorded on network 'single-intersection' (fingerprint" in one_line(info.value)

    path = greedy_demos.save(tmp_path / "demos.parquet")
    learner = make_controller("bc", {"demos": str(path), "observation": "wave"})
    with pytest.raises(ControllerError) as info:
        learner.learn(EnvFactory(NET, SHORT), 1)
    assert f"{path}: recorded with observation 'default', this bc reads 'wave'" == one_line(info.value)


# ---------------------------------------------------------------------- behaviour cloning
def test_the_clone_reproduces_a_deterministic_expert_exactly():
    demos = record_demos(NET, RotateExpert(), seeds=[0, 1], env_options=SHORT)
    assert len(set(demos.actions.tolist())) == 4  # the expert went round every green
    result = train_clone(demos, holdout=0, **TRAIN)
    assert result.train_accuracy == 1.0
    chosen = result.policy.act(demos.obs, demos.signal_index, demos.masks)
    assert np.array_equal(chosen, demos.actions)


def test_fitting_a_clone_leaves_torchs_global_generator_alone(greedy_demos):
    """A clone's seed seeds the clone only: a learner fitted after it (PPO's actor) keeps its own stream."""
    fitted = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        before = torch.random.get_rng_state()
        policy = train_clone(greedy_demos, seed=4, **{**TRAIN, "epochs": 3}).policy
        assert torch.equal(torch.random.get_rng_state(), before)
        fitted.append(policy.state_dict())
    assert all(torch.equal(fitted[0][key], fitted[1][key]) for key in fitted[0])


def test_program_experts_are_imitated_by_the_green_they_show_and_refused_by_dagger():
    demos = record_demos(NET, "fixed-time", seeds=[0], env_options=SHORT)
    assert demos.metadata.env_options["control"] == "program"
    assert demos.expert_obs is None and demos.masks.all()
    # the label at a decision is the green the program shows at the next one
    assert np.array_equal(demos.actions[:-1], np.argmax(demos.obs[1:, :4], axis=1))
    with pytest.raises(ControllerError) as info:
        dagger(NET, "fixed-time", env_options=SHORT)
    assert "expert 'fixed-time' is a signal program" in one_line(info.value)


@pytest.mark.filterwarnings("ignore:1 signal\\(s\\) with a short yellow")
def test_bc_learns_saves_loads_and_is_evaluated_like_any_controller(tmp_path):
    curve = tmp_path / "curves" / "bc.csv"
    learner = make_controller("bc", {"expert": "greedy", **TRAIN, "epochs": 20})
    learner.learn(EnvFactory(NET, SHORT), TrainingBudget(episodes=2, curve_file=curve, validate_every=0))
    assert 0.0 <= learner.holdout_accuracy <= 1.0 and learner.report["holdout_rows"] == 60
    assert curve.is_file() and (tmp_path / "curves" / "bc.bc.json").is_file()
    path = learner.save(tmp_path / "model")
    loaded = traffic_lam.load(path)
    assert loaded.name == "bc" and loaded.holdout_accuracy == learner.holdout_accuracy
    first = traffic_lam.evaluate(NET, learner, seed=7, **SHORT)[0]
    again = traffic_lam.evaluate(NET, loaded, seed=7, **SHORT)[0]
    assert first.avg_delay == again.avg_delay and first.throughput_per_h == again.throughput_per_h
    assert again.avg_delay > 0 and again.collisions >= 0


# ---------------------------------------------------------------------- DAgger
def test_dagger_labels_the_students_states_with_the_experts_actions():
    result = dagger(NET, MostWaves(), iterations=1, beta=0.0, env_options=SHORT, train={**TRAIN, "epochs": 10})
    data = result.dataset
    student_rows = data.episodes == 1
    assert [e["expert_share"] for e in data.metadata.episodes] == [1.0, 0.0]  # the student drove episode 1
    assert student_rows.sum() == 60 and len(result.iterations) == 2
    labels = [most_waves(data.expert_obs[i], data.masks[i]) for i in np.flatnonzero(student_rows)]
    assert np.array_equal(labels, data.actions[student_rows])
    assert result.iterations[1].delay_s > 0 and result.iterations[1].holdout_accuracy is not None


def test_dagger_learner_saves_and_loads(tmp_path):
    learner = make_controller("dagger", {"expert": "greedy", "iterations": 1, **TRAIN, "epochs": 10})
    curve = tmp_path / "dagger.csv"
    learner.learn(EnvFactory(NET, SHORT), TrainingBudget(episodes=1, curve_file=curve, validate_every=0))
    rows = read_csv(curve)
    assert [r["iteration"] for r in rows] == [0, 1] and all(r["delay_s"] > 0 for r in rows)
    loaded = traffic_lam.load(learner.save(tmp_path / "model"))
    env = traffic_lam.make_env(NET, **SHORT, **learner.env_options())
    try:
        obs, infos = env.reset(seed=2)
        learner.setup(env)
        loaded.setup(env)
        for _ in range(10):
            action = learner.act(obs, infos)
            assert loaded.act(obs, infos) == action
            obs, _, _, _, infos = env.step(action)
    finally:
        env.close()


# ---------------------------------------------------------------------- command line
def test_cli_records_and_shows(tmp_path, capsys):
    out = tmp_path / "demos.parquet"
    argv = ["demos", "record", NET, "--expert", "max-pressure", "--episodes", "2", "--seed", "4",
            "--observation", "wave", "--end", "120", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    loaded = DemoDataset.load(out)
    assert len(loaded) == 48 and loaded.metadata.expert["name"] == "max-pressure"
    assert loaded.metadata.observation["name"] == "wave" and sorted(set(loaded.seeds.tolist())) == [4, 5]
    capsys.readouterr()
    assert main(["demos", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "rows:         48" in shown and "max-pressure" in shown and "A0: 9, 4, 48" in shown


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--expert", "nope"], "expert 'nope': neither a controller"),
        (["--episodes", "0"], "--episodes: expected an integer >= 1"),
        (["--observation", "nope"], "unknown observation 'nope'"),
        (["--expert-args", "[1]"], "--expert-args: expected a JSON object"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(extra, message, tmp_path, capsys):
    out = tmp_path / "demos.parquet"
    assert main(["demos", "record", NET, "--end", "60", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not any(tmp_path.iterdir())
