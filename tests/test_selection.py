"""Model selection by the validation score during training, and the reward-hacking guard."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import traffic_lam
from traffic_lam.controllers import Controller, TrainingBudget, load, make_controller
from traffic_lam.controllers.selection import (
    RewardHackingWarning,
    Validation,
    Validator,
    reward_hacking,
    reward_hacking_in_training,
    selected_model,
    validation_file,
)
from traffic_lam.env.factory import EnvFactory
from traffic_lam.errors import ConfigError
from traffic_lam.experiments.store import read_rows
from traffic_lam.files import read_csv

OPTIONS = {"end_time": 200, "delta_time": 10, "yellow_time": 3, "all_red_time": 2}


def history(*points: tuple[float, float]) -> list[Validation]:
    """Validations every 10 episodes of (training return, validation delay)."""
    return [Validation(10 * (k + 1), delay, 1000.0, 0.0, ret) for k, (ret, delay) in enumerate(points)]


def test_the_guard_fires_when_the_return_rises_while_the_validation_delay_rises():
    line = reward_hacking(history((-840, 64.5), (-500, 120.0), (-258, 215.5)), "ppo")
    assert line == (
        "ppo: return rose from -840 to -258 while validation delay rose from 64.5 to 215.5 s over episodes 10-30: "
        "the reward may not measure what the score does"
    )
    blocked = [Validation(10 * k, 60.0, 1000.0, 40.0 * (k - 1), -800.0 + 250 * k) for k in (1, 2, 3)]
    line = reward_hacking(blocked, "dqn")
    noise = [Validation(10 * k, 29.0, 1000.0, 0.5 * (k - 1), -800.0 + 250 * k) for k in (1, 2, 3)]
    assert reward_hacking(noise, "ppo") is None  # one vehicle more never inserted: noise
    assert "vehicles never inserted in validation rose from 0 to 80 over episodes 10-30" in line


@pytest.mark.parametrize(
    "points",
    [
        [(-840, 215.5), (-500, 120.0), (-258, 64.5)],  # both improve
        [(-258, 64.5), (-500, 120.0), (-840, 215.5)],  # both worsen: the reward measures the score
        [(-840, 64.5), (-500, 80.0), (-258, 66.0)],  # the delay within 10 % at the end
        [(-840, 64.5), (-258, 215.5)],  # two validations: too few to judge
    ],
)
def test_the_guard_is_silent_unless_the_return_improves_while_the_score_worsens(points):
    assert reward_hacking(history(*points), "ppo") is None


def test_the_guard_compares_the_validations_after_a_warm_start():
    start = Validation(0, 30.0, 1000.0, 0.0, float("nan"))  # the warm start: no training return before it
    rising = history((-840, 64.5), (-500, 120.0), (-258, 215.5))
    assert reward_hacking([start, *rising], "ppo") == reward_hacking(rising, "ppo") is not None
    assert reward_hacking([start, *rising[:2]], "ppo") is None  # two validations with a return: too few


def curve(returns: list[float], delays: list[float]) -> list[dict[str, float]]:
    """Learning-curve rows with these returns and training-episode delays."""
    return [{"episode": k + 1, "return": r, "delay_s": d, "vehicles_not_inserted": 0.0}
            for k, (r, d) in enumerate(zip(returns, delays, strict=True))]  # fmt: skip


def test_the_guard_reads_the_training_episodes_when_the_hack_forms_before_the_first_validation():
    """As PPO on ingolstadt7 with a whole-lane queue: -840 -> -258 while its episodes' delay went 64.5 -> 215.5 s."""
    returns = list(linspace(-840, -258, 40))
    hacked = reward_hacking_in_training(curve(returns, list(linspace(64.5, 215.5, 40))), "ppo")
    assert hacked is not None and hacked.startswith("ppo: return rose from ")
    assert "the training episodes' delay rose from" in hacked
    assert reward_hacking_in_training(curve(returns, list(linspace(215.5, 64.5, 40))), "ppo") is None
    assert reward_hacking_in_training(curve(returns[:9], [60.0] * 9), "ppo") is None  # too few episodes


def linspace(start: float, stop: float, count: int) -> list[float]:
    return [start + (stop - start) * k / (count - 1) for k in range(count)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"validate_every": -1}, "validate_every: expected an integer >= 0, got -1"),
        ({"validation_seeds": [7, 7]}, "validation_seeds: expected a non-empty list of distinct integers >= 0"),
        ({"validation_seeds": []}, "validation_seeds: expected a non-empty list"),
        ({"validation_seeds": [10_003]}, "validation_seeds: 10003 is a training seed (10000..10010)"),
    ],
)
def test_bad_validation_settings_are_one_line(fields, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainingBudget(**fields)
    assert TrainingBudget(validate_every=0, validation_seeds=()).validation_seeds == ()


def tabular() -> tuple[Controller, EnvFactory]:
    learner = make_controller("batched-q", {"mode": "tabular", "bins": 4, "device": "cpu"})
    return learner, EnvFactory("single-intersection", {**OPTIONS, **learner.env_options()})


def test_training_keeps_the_policy_of_the_best_validation_and_a_resume_keeps_the_best_so_far(tmp_path):
    learner, factory = tabular()
    budget = TrainingBudget(episodes=4, checkpoint_every=2, validate_every=1, validation_seeds=(5000,),
                            checkpoint_dir=tmp_path / "model", curve_file=tmp_path / "curve.csv")  # fmt: skip
    learner.learn(factory, budget)
    selection = learner.selection
    delays = [v.delay_s for v in selection.validations]
    assert [v.episode for v in selection.validations] == [1, 2, 3, 4]
    assert selection.delay_s == min(delays) and selection.episode == 1 + delays.index(min(delays))

    validations = read_csv(validation_file(tmp_path / "curve.csv"))
    assert [r["selected"] for r in validations] == [r["episode"] == selection.episode for r in validations]
    curve = read_csv(tmp_path / "curve.csv")
    assert [r["validation_delay_s"] for r in curve] == delays
    assert [r["selected"] for r in curve] == [r["episode"] == selection.episode for r in curve]

    saved = load(selected_model(tmp_path / "model"))  # the unit on disk, verified; the same policy as in memory
    for policy in (saved, selection.controller):
        (record,) = traffic_lam.evaluate("single-intersection", policy, seed=5000, **OPTIONS)
        assert record.avg_delay == pytest.approx(selection.delay_s)

    learner, _ = tabular()  # more episodes into the same folder: resumes from the checkpoint at episode 4
    learner.learn(factory, TrainingBudget(**{**vars(budget), "episodes": 6}))
    resumed = learner.selection.validations
    assert resumed[:4] == selection.validations and [v.episode for v in resumed] == [1, 2, 3, 4, 5, 6]
    assert learner.selection.delay_s == min(v.delay_s for v in resumed)
    assert learner.selection.delay_s <= selection.delay_s


@pytest.mark.parametrize("name", ["dqn", "ppo"])
def test_sb3_learners_select_too(tmp_path, name):
    settings = {"dqn": {"learning_starts": 8, "batch_size": 16, "buffer_size": 1000}, "ppo": {"n_steps": 16}}[name]
    learner = make_controller(name, {**settings, "device": "cpu"})
    factory = EnvFactory("single-intersection", {**OPTIONS, **learner.env_options()})
    budget = TrainingBudget(episodes=2, validate_every=1, validation_seeds=(5000,), checkpoint_dir=tmp_path)
    learner.learn(factory, budget)
    selection = learner.selection
    assert [v.episode for v in selection.validations] == [1, 2]
    (record,) = traffic_lam.evaluate("single-intersection", load(selected_model(tmp_path)), seed=5000, **OPTIONS)
    assert record.avg_delay == pytest.approx(selection.delay_s)


def test_a_short_training_validates_once_at_the_end(tmp_path):
    learner, factory = tabular()
    learner.learn(factory, TrainingBudget(episodes=2, validation_seeds=(5000, 5001)))  # validate_every 10
    selection = learner.selection
    assert [v.episode for v in selection.validations] == [2] and selection.is_final
    records = traffic_lam.evaluate("single-intersection", selection.controller, episodes=2, seed=5000, **OPTIONS)
    assert selection.delay_s == pytest.approx(sum(r.avg_delay for r in records) / 2)


class Worsening(Controller):
    """A learner whose policy worsens while its return rises: it cycles the greens in episode 1, then holds the last."""

    name = "worsening"
    needs_training = True

    def __init__(self, **params):
        super().__init__(**params)
        self.holds = False
        self.selection = None

    def _learn(self, make_env, budget):
        curve = []
        validator = Validator(self, make_env, budget)
        for episode in range(1, budget.episodes + 1):
            self.holds = episode > 1
            curve.append({"episode": episode, "return": float(episode)})
            if validator.due(episode):
                validator.validate(curve)
        self.selection = validator.finish(curve)

    def _act(self, observations, infos):
        if self.holds:
            return {a: len(infos[a]["action_mask"]) - 1 for a in observations}
        return {a: self.steps % len(infos[a]["action_mask"]) for a in observations}

    def _state(self):
        return {"holds": self.holds}

    def _restore(self, state):
        self.holds = bool(state["holds"])


def test_validation_selects_an_earlier_policy_kept_in_memory_and_flags_the_reward():
    learner = Worsening()
    budget = TrainingBudget(3, validate_every=1, validation_seeds=(5000,))  # no folder: the selection in memory
    with pytest.warns(RewardHackingWarning, match="worsening: return rose from 1 to 3 while validation delay rose"):
        learner.learn(EnvFactory("single-intersection", OPTIONS), budget)
    selection = learner.selection
    assert [v.episode for v in selection.validations] == [1, 2, 3]
    assert selection.episode == 1 and not selection.is_final and selection.controller.holds is False
    assert selection.warning is not None and learner.holds is True


SCENARIO = """
name: selection
network: single-intersection
timing: {delta_time: 10, yellow_time: 3, all_red_time: 2, begin: 0, end: 200}
controllers:
  - fixed-time
  - name: learner
    type: tests.test_selection:Worsening
training: {episodes: 3, validate_every: 1, validation_seeds: [5000]}
evaluation: {seeds: [0], episodes: 1}
"""


def test_a_run_evaluates_the_selected_policy_and_the_final_one_labelled(tmp_path, capsys):
    from traffic_lam.cli import main

    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RewardHackingWarning)  # the run records it, it does not print it twice
        assert main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    run = tmp_path / "run"
    rows = {r["controller"]: r for r in read_rows(run / "results.csv")}
    assert {c: r["policy"] for c, r in rows.items()} == {
        "fixed-time": None, "learner": "selected", "learner.final": "final"
    }  # fmt: skip
    assert rows["learner"]["avg_delay"] < rows["learner.final"]["avg_delay"]  # cycling beats holding one green
    assert load(run / "models" / "learner" / "model.selected").holds is False
    assert load(run / "models" / "learner" / "model.final").holds is True
    assert json.loads((run / "models" / "learner" / "selection.json").read_text())["episode"] == 1

    out = capsys.readouterr().out
    assert "learner (selected)" in out and "learner (final)" in out
    assert out.count("warning: learner: return rose from 1 to 3 while validation delay rose") == 1
    report = (run / "report.html").read_text()
    assert "learner (final)" in report and "reward?" in report and "Reward hacking?" in report
    assert json.loads((run / "curves" / "learner.warnings.json").read_text())["controller"] == "learner"
    assert set(p.name for p in Path(run / "curves").glob("*.csv")) == {"learner.csv", "learner.validation.csv"}
