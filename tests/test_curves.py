"""Learning curves carry the score evaluation gives: delay, throughput and vehicles never inserted per episode."""

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import traffic_lam
from traffic_lam.controllers import Controller, TrainingBudget, make_controller
from traffic_lam.env.factory import EnvFactory
from traffic_lam.files import read_csv

OPTIONS = {"end_time": 100, "delta_time": 10, "yellow_time": 3, "all_red_time": 2}
LEARNERS = {
    "batched-q": {"mode": "tabular", "bins": 4, "device": "cpu"},
    "dqn": {"learning_starts": 8, "batch_size": 16, "buffer_size": 1000, "target_update_interval": 16, "device": "cpu"},
}
SCORE = ("delay_s", "throughput_per_h", "vehicles_not_inserted")


class HoldFirst(Controller):
    """Always the first green: the same actions in a vector env and in evaluate()."""

    name = "hold-first"

    def _act(self, observations, infos):
        return dict.fromkeys(observations, 0)


@pytest.fixture()
def kept_trips(tmp_path, monkeypatch):
    """Copy every tripinfo file the vector env reads (it deletes them) into a folder, by file name."""
    from traffic_lam.metrics import tripinfo

    folder = tmp_path / "kept"
    folder.mkdir()
    original = tripinfo.read_tripinfo

    def keep(path):
        shutil.copy(path, folder / Path(path).name)
        return original(path)

    monkeypatch.setattr(tripinfo, "read_tripinfo", keep)
    return folder


def recomputed(trip_file: Path) -> dict:
    """The RESCO delay and vehicle counts of a tripinfo file, parsed here (``docs/definitions.md``)."""
    trips = [e.attrib for e in ET.parse(trip_file).getroot().iter("tripinfo")]
    delay = sum(float(t["timeLoss"]) + float(t["departDelay"]) for t in trips) / len(trips)
    arrived = sum(1 for t in trips if float(t["depart"]) >= 0 and float(t["arrival"]) >= 0)
    return {"delay_s": delay, "arrived": arrived, "vehicles_not_inserted": sum(float(t["depart"]) < 0 for t in trips)}


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_curve_rows_hold_each_episodes_delay_as_its_tripinfo_gives_it(tmp_path, kept_trips, name):
    learner = make_controller(name, LEARNERS[name])
    budget = TrainingBudget(episodes=2, num_envs=1, seed=3, curve_file=tmp_path / "curve.csv")
    learner.learn(EnvFactory("single-intersection", {**OPTIONS, **learner.env_options()}), budget)
    rows = read_csv(tmp_path / "curve.csv")
    assert [r["episode"] for r in rows] == [1, 2]
    for row in rows:
        assert {"return", "avg_queue", *SCORE} <= set(row)
        expected = recomputed(kept_trips / f"env0-episode{row['episode']}.xml")
        assert row["delay_s"] == pytest.approx(expected["delay_s"], rel=1e-9)
        assert row["vehicles_not_inserted"] == expected["vehicles_not_inserted"]
        assert row["throughput_per_h"] == pytest.approx(expected["arrived"] * 3600 / OPTIONS["end_time"])
        assert row["delay_s"] > 0 and row["throughput_per_h"] > 0


def test_vector_env_scores_an_episode_as_evaluate_does(tmp_path):
    seed = 11
    with traffic_lam.make_vector_env("single-intersection", 1, trip_dir=tmp_path / "trips", **OPTIONS) as venv:
        agent = venv.possible_agents[0]
        venv.reset(seed=seed)
        done = [False]
        while not done[0]:
            _, _, done, infos = venv.step([{agent: 0}])
    from traffic_lam.env.vector import score_columns

    score = score_columns(infos[0][agent]["episode"])
    record = traffic_lam.evaluate("single-intersection", HoldFirst(), seed=seed, **OPTIONS)[0]
    assert score["delay_s"] == pytest.approx(record.avg_delay, rel=1e-12)
    assert score["throughput_per_h"] == pytest.approx(record.throughput_per_h, rel=1e-12)
    assert score["vehicles_not_inserted"] == record.vehicles_not_inserted


def test_batched_q_writes_tensorboard_scalars_into_its_checkpoint_folder(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    learner = make_controller("batched-q", LEARNERS["batched-q"])
    budget = TrainingBudget(episodes=2, num_envs=1, seed=3, checkpoint_dir=tmp_path / "model")
    learner.learn(EnvFactory("single-intersection", OPTIONS), budget)
    folder = tmp_path / "model" / "tensorboard" / "batched-q"
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder))
    events.Reload()
    for tag in ("episode/return", "episode/delay_s", "episode/avg_queue", "episode/epsilon"):
        assert [e.step for e in events.Scalars(tag)] == [1, 2], tag
    assert events.Scalars("episode/delay_s")[0].value > 0


def test_the_expert_a_learner_imitated_is_named_on_its_reference_line(tmp_path):
    from traffic_lam.report.outputs import warm_start_experts

    (tmp_path / "scenario.yaml").write_text(
        "controllers:\n  - actuated\n  - {name: ppo, type: ppo, args: {warm_start: {expert: actuated}}}\n"
        "  - {name: q, type: batched-q, args: {warm_start: {method: bc}}}\n"
        "  - {name: q2, type: batched-q, args: {warm_start: {expert: greedy}}}\n"
    )
    assert warm_start_experts(tmp_path) == {
        "actuated": "the expert ppo imitated",
        "greedy": "the expert 2 learners imitated",
    }
    assert warm_start_experts(tmp_path / "missing") == {}


def test_a_comparison_names_the_experts_of_the_folders_it_merges(tmp_path):
    from traffic_lam.report.outputs import comparison_experts

    for name, expert in (("a", "actuated"), ("b", "greedy")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "scenario.yaml").write_text(
            f"controllers:\n  - {{name: ppo, type: ppo, args: {{warm_start: {{expert: {expert}}}}}}}\n"
        )
    assert comparison_experts([tmp_path / "a"]) == {"actuated": "the expert ppo imitated"}
    assert comparison_experts([tmp_path / "a", tmp_path / "b"]) == {
        "a/actuated": "the expert ppo imitated",
        "b/greedy": "the expert ppo imitated",
    }


def test_folders_sharing_a_name_are_told_apart_by_the_shortest_end_of_their_paths(tmp_path):
    from traffic_lam.report.outputs import folder_names

    runs = [tmp_path / "a" / "quick", tmp_path / "b" / "quick", tmp_path / "c", tmp_path / "c"]
    assert folder_names(runs) == ["a/quick", "b/quick", "c", "c"]
    assert folder_names(runs[:1]) == [""]
